import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The CLI entry used by child-process tests (runs the TypeScript sources through tsx). */
export const CLI_CHILD = fileURLToPath(new URL("../cli/fixtures/cli-child.ts", import.meta.url));

/** Run the CLI in a child process to completion. */
export function runCliChild(args: readonly string[], options: { input?: string; cwd?: string; timeoutMs?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI_CHILD, ...args], {
    input: options.input ?? "",
    cwd: options.cwd,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start the CLI in a child process (for signals). */
export function spawnCliChild(args: readonly string[]) {
  return spawn(process.execPath, ["--import", "tsx", CLI_CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}
