import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { SyncabelError } from "../errors.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * `<out>.lock` holding the writer's pid: two live runs appending to one output would duplicate
 * concepts. A lock left by a killed run (its pid is gone) is taken over.
 */
export function acquireRunLock(outPath: string, what = "synth run"): () => void {
  const lockPath = `${outPath}.lock`;
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new SyncabelError("IO_ERROR", `cannot create ${lockPath}: ${(e as Error).message}`, { file: lockPath }, { cause: e });
      }
      let owner = NaN;
      try {
        owner = Number(readFileSync(lockPath, "utf8").trim());
      } catch {
        // vanished meanwhile: try again
      }
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new SyncabelError("IO_ERROR", `another ${what} (pid ${owner}) is writing ${outPath} (lock ${lockPath})`, { file: outPath, pid: owner });
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new SyncabelError("IO_ERROR", `cannot take the lock ${lockPath}`, { file: lockPath });
}
