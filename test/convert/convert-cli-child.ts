/** Child process for test/convert/convert-interrupt.test.ts: runs the CLI with the process's own signals and env. */
import { main } from "../../src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
