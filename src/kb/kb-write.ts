/**
 * Writes to a built KB index, atomic and recoverable. Every command that changes a KB (training mentions, the
 * trained linker, cached artifacts) makes its whole change in ONE SQLite transaction, in rollback-journal mode:
 * a writer killed mid-transaction (kill -9, power loss) leaves `KB-journal` beside the file, a "hot" journal
 * holding the pages as they were before. SQLite rolls such a journal back on the next access, but only through
 * a connection that may write; a read-only open fails instead. `recoverInterruptedWrite` runs before every open,
 * so the KB is back to its state before the interrupted command (never a mix of before and after).
 */
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { SyncabelError } from "../errors.js";
import { artifactChecksum } from "./integrity.js";

/** How long a writer waits for another process's write lock (they are short: one transaction per command). */
const BUSY_MS = 10_000;

/** The journal SQLite writes beside a database during a write transaction. */
export function journalPathOf(path: string): string {
  return `${path}-journal`;
}

/**
 * When a journal lies beside the KB, let SQLite decide whether it is hot (its writer died) and roll it back: a
 * read through a read-write connection does both. A journal of a live writer is not hot: then this only waits for
 * its lock. A KB that cannot be opened for writing here (read-only file or folder) fails with what to do.
 */
export function recoverInterruptedWrite(path: string): void {
  const journal = journalPathOf(path);
  if (!existsSync(journal)) return;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true, timeout: BUSY_MS });
    db.prepare("SELECT COUNT(*) AS n FROM sqlite_master").get();
  } catch (e) {
    throw new SyncabelError(
      "KB_INDEX_INVALID",
      `${path}: a write to this KB index was interrupted (its journal ${journal} is beside it) and it cannot be rolled back here: ` +
        `${(e as Error).message}. Run any syncabel command on it once with write access to the file and its folder: ` +
        "that restores the state before the interrupted write",
      { path },
      { cause: e },
    );
  } finally {
    db?.close();
  }
}

/**
 * Run `write` in one IMMEDIATE transaction on a read-write connection to the KB at `path`: everything it does is
 * committed together, or (an error, a kill) not at all. Failures become IO_ERROR naming the file and `what`.
 */
export function withKbTransaction<T>(path: string, what: string, write: (db: Database.Database) => T): T {
  let db: Database.Database | undefined;
  try {
    recoverInterruptedWrite(path);
    db = new Database(path, { fileMustExist: true, timeout: BUSY_MS });
    db.pragma("journal_mode = DELETE");
    db.pragma("synchronous = FULL");
    const run = db.transaction(() => write(db as Database.Database));
    return run.immediate();
  } catch (e) {
    if (e instanceof SyncabelError) throw e;
    throw new SyncabelError("IO_ERROR", `${path}: cannot store ${what}: ${(e as Error).message}`, { path }, { cause: e });
  } finally {
    db?.close();
  }
}

/** Store one artifact row (replacing any under the key) with its checksum, inside the caller's transaction. */
export function putArtifactRow(db: Database.Database, key: string, bytes: Uint8Array): void {
  db.prepare("INSERT OR REPLACE INTO artifacts (key, bytes, sha256) VALUES (?, ?, ?)").run(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), artifactChecksum(bytes));
}

/** Remove `key` and its parts (`key#...`, src/kb/artifact-chunks.ts), inside the caller's transaction. */
export function deleteArtifactRows(db: Database.Database, key: string): void {
  db.prepare("DELETE FROM artifacts WHERE key = ? OR (key >= ? AND key < ?)").run(key, `${key}#`, `${key}$`);
}
