/**
 * Worker threads from the TypeScript sources: WorkerPoolLinker starts its compiled entry (`linker-worker.js`);
 * here each worker registers tsx first, which then loads `linker-worker.ts` for it (Node 20 does not pass the
 * parent's `--import tsx` on to workers). Imported by the vitest setup, the CLI child fixture and the benches.
 */
import { setWorkerBootstrap } from "../../src/linker/worker-pool-linker.js";

const tsx = import.meta.resolve("tsx/esm/api");
setWorkerBootstrap((entry) => ({
  script: `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry.href)}); });`,
  eval: true,
}));
