/**
 * Integrity of a KB index file. A damaged copy (disk error, truncated copy, a byte flipped) must fail with
 * KB_INDEX_INVALID naming the file, never answer with wrong codes. Checked on every open (cheap): the SQLite
 * header, the format tag, the schema version, and the row counts recorded at build against the tables (counting
 * walks every page of each table, so structural damage surfaces here). Stored artifacts carry a SHA-256 checked
 * when read. The full check (`kb info`) adds SQLite's quick_check and a digest of the tables' content.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import { SyncabelError } from "../errors.js";

const SQLITE_MAGIC = "SQLite format 3\u0000";

export function kbInvalid(path: string, problem: string, cause?: unknown): SyncabelError {
  return new SyncabelError("KB_INDEX_INVALID", `${path}: ${problem} (rebuild it with 'syncabel kb build')`, { path }, { cause });
}

/** The first 16 bytes of every SQLite 3 database; anything else is not a KB index at all. */
export function checkSqliteHeader(path: string): void {
  const fd = openSync(path, "r");
  const head = Buffer.alloc(16);
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString("latin1") !== SQLITE_MAGIC) throw kbInvalid(path, "not a SQLite database (bad file header): not a KB index, or a damaged one");
}

/** Hex SHA-256 of an artifact's bytes. */
export function artifactChecksum(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function count(db: Database.Database, table: string): number {
  return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** Counts recorded at build (meta `concepts`, `names`) against the tables; every table walked once. */
export function checkCounts(db: Database.Database, path: string, meta: ReadonlyMap<string, string>): void {
  const names = count(db, "names");
  const concepts = count(db, "concepts");
  count(db, "code_names");
  const expect = (key: string, actual: number): void => {
    const recorded = Number(meta.get(key));
    if (!Number.isSafeInteger(recorded) || recorded !== actual) {
      throw kbInvalid(path, `the index records ${meta.get(key) ?? "no"} ${key} but holds ${actual}: the file is damaged`);
    }
  };
  expect("names", names);
  expect("concepts", concepts);
  const perGroup = db.prepare("SELECT COALESCE(SUM(names), 0) AS n FROM groups").get() as { n: number };
  if (perGroup.n !== names) throw kbInvalid(path, `the group table counts ${perGroup.n} names but the index holds ${names}: the file is damaged`);
}

/** The tables the linkers read, each in primary-key order. */
const DIGEST_SQL: Readonly<Record<string, string>> = {
  names: "SELECT grp, name, code, codes FROM names ORDER BY grp, name",
  concepts: "SELECT code, title, groups, semantic_types, definitions, names FROM concepts ORDER BY code",
  code_names: "SELECT code, ord, grp, name FROM code_names ORDER BY code, ord",
  groups: "SELECT grp, names, concepts FROM groups ORDER BY grp",
};

function tableDigest(db: Database.Database, table: string): string {
  const hash = createHash("sha256");
  for (const row of db.prepare(DIGEST_SQL[table] as string).raw().iterate() as Iterable<unknown[]>) hash.update(`${row.join("\u0001")}\n`);
  return hash.digest("hex");
}

/** Per-table SHA-256 of the tables' content (meta `content_sha256`, a JSON object, written at build). */
export function contentDigest(db: Database.Database): string {
  return JSON.stringify(Object.fromEntries(Object.keys(DIGEST_SQL).map((t) => [t, tableDigest(db, t)])));
}

/** Whether the given tables (default all) still match the digests recorded at build (a full read of them). */
export function contentMatches(db: Database.Database, meta: ReadonlyMap<string, string>, tables: readonly string[] = Object.keys(DIGEST_SQL)): boolean {
  let recorded: Record<string, unknown>;
  try {
    recorded = JSON.parse(meta.get("content_sha256") ?? "null") as Record<string, unknown>;
  } catch {
    return false;
  }
  if (recorded === null || typeof recorded !== "object") return false;
  return tables.every((t) => recorded[t] === tableDigest(db, t));
}

/**
 * The full check: SQLite's quick_check, the content digest and every artifact's checksum. Returns the problems
 * found (empty: the file is sound).
 */
export function fullIntegrityProblems(db: Database.Database, meta: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const quick = (db.prepare("PRAGMA quick_check(20)").all() as { quick_check: string }[]).map((r) => r.quick_check).filter((r) => r !== "ok");
  problems.push(...quick.map((q) => `SQLite quick_check: ${q}`));
  if (meta.get("content_sha256") === undefined) problems.push("no content digest recorded");
  else if (!contentMatches(db, meta)) problems.push("the names/concepts tables do not match the digest recorded at build");
  for (const r of db.prepare("SELECT key, bytes, sha256 FROM artifacts").iterate() as Iterable<{ key: string; bytes: Buffer; sha256: string }>) {
    if (artifactChecksum(r.bytes) !== r.sha256) problems.push(`artifact ${JSON.stringify(r.key)} does not match its checksum (it will be rebuilt when needed)`);
  }
  return problems;
}
