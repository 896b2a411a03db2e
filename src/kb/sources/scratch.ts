/** Scratch SQLite databases of the release readers (joins and "latest version" selection out of JS memory). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

export interface Scratch {
  readonly db: Database.Database;
  dispose(): void;
}

/** A scratch database in a fresh temp folder (or `dir`), removed by `dispose()`. */
export function openScratch(prefix: string, dir?: string): Scratch {
  const folder = mkdtempSync(join(dir ?? tmpdir(), `syncabel-${prefix}-`));
  const db = new Database(join(folder, "scratch.sqlite"));
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -262144");
  return {
    db,
    dispose() {
      if (db.open) db.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** Run `insert` over items in transactions of `size` rows. */
export function batcher<T>(db: Database.Database, insert: (item: T) => void, size = 20000): { add(item: T): void; flush(): void } {
  let pending: T[] = [];
  const run = db.transaction((items: readonly T[]) => {
    for (const it of items) insert(it);
  });
  return {
    add(item: T) {
      pending.push(item);
      if (pending.length >= size) {
        run(pending);
        pending = [];
      }
    },
    flush() {
      if (pending.length > 0) run(pending);
      pending = [];
    },
  };
}
