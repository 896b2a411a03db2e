import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { SyncabelError } from "../errors.js";

/** A temp file next to `path` (same filesystem, so the final rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

/**
 * Write a file so that readers see either the old file or the complete new one, never half of it: `write`
 * fills a temp file beside it (through its descriptor), then fsync and rename over. On error the temp file is
 * removed and `path` is untouched.
 */
export function writeFileAtomicWith(path: string, write: (fd: number) => void): void {
  removeStaleTemps(path); // left by a writer killed mid-write (kill -9): nobody else would ever remove them
  const tmp = tempPathFor(path);
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (e) {
    // Name the file the caller asked for, not our temp file.
    const why = (e as { code?: string }).code === "ENOENT" ? `the folder ${dirname(resolve(path))} does not exist` : (e as Error).message;
    throw new SyncabelError("IO_ERROR", `cannot write ${path}: ${why}`, { path }, { cause: e });
  }
  try {
    write(fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Write all of `bytes` (writeSync may write less than asked; large buffers go in 256 MB pieces). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 28));
}

/** Whole-file atomic write of a string or bytes. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  writeFileAtomicWith(path, (fd) => writeAll(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data));
}

/** Same path, or the same file reached through another path (a link). */
export function isSameFile(a: string, b: string): boolean {
  const x = resolve(a);
  const y = resolve(b);
  if (x === y) return true;
  try {
    const sa = statSync(x);
    const sb = statSync(y);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** Whether a process with this id exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/**
 * Remove temp files of `path` (tempPathFor's names, and files derived from them) left by processes that died
 * (kill -9, power loss) before they could clean up. Returns the bytes freed.
 */
export function removeStaleTemps(path: string): number {
  const dir = dirname(resolve(path));
  const prefix = `.${basename(path)}.`;
  let freed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-z]+\.tmp(?:[.-].*)?$/.exec(name.slice(prefix.length));
    if (m === null || processAlive(Number(m[1]))) continue;
    const file = join(dir, name);
    try {
      freed += statSync(file).size;
      rmSync(file, { force: true });
    } catch {
      // vanished meanwhile, or not ours to remove
    }
  }
  return freed;
}
