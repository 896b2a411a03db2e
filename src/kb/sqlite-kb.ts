/**
 * The KnowledgeBase over a built index file. Opened read-only (cheap: nothing is loaded but the group list), after
 * rolling back a write that was interrupted (src/kb/kb-write.ts); only `putArtifact(s)` writes, through a
 * short-lived second connection, in one transaction.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import Database from "better-sqlite3";
import { SyncabelError } from "../errors.js";
import { artifactChecksum, checkCounts, checkSqliteHeader, contentMatches, fullIntegrityProblems, kbInvalid } from "./integrity.js";
import { deleteArtifactRows, putArtifactRow, recoverInterruptedWrite, withKbTransaction } from "./kb-write.js";
import { KB_FORMAT_TAG, KB_SCHEMA_VERSION } from "./schema.js";
import type { ConceptCard, KbEntry, KbStats, KnowledgeBase } from "./types.js";

const PAGE = 2000;

interface NameRow {
  grp: string;
  name: string;
  code: string;
  codes: string;
}

function toEntry(r: NameRow): KbEntry {
  return { name: r.name, group: r.grp, code: r.code, codes: JSON.parse(r.codes) as string[] };
}

const invalid = kbInvalid;

/** SQLite errors met while reading (a damaged page) become KB_INDEX_INVALID naming the file. */
function guarded<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof SyncabelError) throw e;
    throw invalid(path, `cannot read the KB index: ${(e as Error).message}`, e);
  }
}

export interface OpenKnowledgeBaseOptions {
  /** "full": also SQLite's quick_check, the content digest and every artifact checksum (slower: reads the file). */
  readonly verify?: "open" | "full";
}

export class SqliteKnowledgeBase implements KnowledgeBase {
  private readonly db: Database.Database;
  private readonly groupStats: ReadonlyMap<string, { names: number; concepts: number }>;
  private readonly groupList: readonly string[];
  private readonly meta: ReadonlyMap<string, string>;
  /** Set once the tables were checked against their build digest (before any artifact is derived from them). */
  private contentVerified = false;
  private readonly stmts: {
    lookup: Database.Statement;
    page: Database.Statement;
    firstPage: Database.Statement;
    namesOfCode: Database.Statement;
    concept: Database.Statement;
    codesFirst: Database.Statement;
    codesPage: Database.Statement;
    artifact: Database.Statement;
    conceptCount: Database.Statement;
    nameCount: Database.Statement;
  };

  constructor(readonly path: string, options: OpenKnowledgeBaseOptions = {}) {
    if (!existsSync(path)) throw invalid(path, "KB index file not found");
    if (!statSync(path).isFile()) throw invalid(path, "is a folder, not a KB index file: give the .sqlite file 'syncabel kb build' wrote");
    checkSqliteHeader(path);
    recoverInterruptedWrite(path);
    try {
      this.db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw invalid(path, `cannot open the KB index: ${(e as Error).message}`, e);
    }
    try {
      const meta = new Map((this.db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
      this.meta = meta;
      if (meta.get("format") !== KB_FORMAT_TAG) throw invalid(path, "not a syncabel KB index");
      const version = meta.get("schema_version");
      if (version !== String(KB_SCHEMA_VERSION)) {
        throw invalid(path, `KB index schema version ${version ?? "?"}, this syncabel reads version ${KB_SCHEMA_VERSION}`);
      }
      checkCounts(this.db, path, meta);
      if (options.verify === "full") {
        const problems = fullIntegrityProblems(this.db, meta);
        if (problems.length > 0) throw invalid(path, `the file is damaged: ${problems.slice(0, 5).join("; ")}`);
      }
      const groups = this.db.prepare("SELECT grp, names, concepts FROM groups ORDER BY grp").all() as { grp: string; names: number; concepts: number }[];
      this.groupStats = new Map(groups.map((g) => [g.grp, { names: g.names, concepts: g.concepts }]));
      this.groupList = groups.map((g) => g.grp);
      this.stmts = {
        lookup: this.db.prepare("SELECT grp, name, code, codes FROM names WHERE grp = ? AND name = ?"),
        firstPage: this.db.prepare(`SELECT grp, name, code, codes FROM names WHERE grp = ? ORDER BY name LIMIT ${PAGE}`),
        page: this.db.prepare(`SELECT grp, name, code, codes FROM names WHERE grp = ? AND name > ? ORDER BY name LIMIT ${PAGE}`),
        namesOfCode: this.db.prepare("SELECT grp, name FROM code_names WHERE code = ? ORDER BY ord"),
        concept: this.db.prepare("SELECT code, title, groups, semantic_types, definitions, names FROM concepts WHERE code = ?"),
        codesFirst: this.db.prepare(`SELECT code FROM concepts ORDER BY code LIMIT ${PAGE}`),
        codesPage: this.db.prepare(`SELECT code FROM concepts WHERE code > ? ORDER BY code LIMIT ${PAGE}`),
        artifact: this.db.prepare("SELECT bytes, sha256 FROM artifacts WHERE key = ?"),
        conceptCount: this.db.prepare("SELECT COUNT(*) AS n FROM concepts"),
        nameCount: this.db.prepare("SELECT COUNT(*) AS n FROM names"),
      };
    } catch (e) {
      this.db.close();
      if (e instanceof SyncabelError) throw e;
      throw invalid(path, `corrupt or not a KB index: ${(e as Error).message}`, e);
    }
  }

  groups(): readonly string[] {
    return this.groupList;
  }

  hasGroup(group: string): boolean {
    return this.groupStats.has(group);
  }

  /** Names of a group in SQLite BINARY order (UTF-8 bytes = code-point order), fetched page by page. */
  *entriesOfGroup(group: string): Iterable<KbEntry> {
    let rows = guarded(this.path, () => this.stmts.firstPage.all(group) as NameRow[]);
    while (rows.length > 0) {
      for (const r of rows) yield this.entry(r);
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1].name;
      rows = guarded(this.path, () => this.stmts.page.all(group, last) as NameRow[]);
    }
  }

  private entry(r: NameRow): KbEntry {
    return guarded(this.path, () => toEntry(r));
  }

  lookup(name: string, group: string): KbEntry | undefined {
    const r = guarded(this.path, () => this.stmts.lookup.get(group, name.trim()) as NameRow | undefined);
    return r === undefined ? undefined : this.entry(r);
  }

  namesOfCode(code: string): readonly { readonly name: string; readonly group: string }[] {
    return guarded(this.path, () => this.stmts.namesOfCode.all(code) as { grp: string; name: string }[]).map((r) => ({ name: r.name, group: r.grp }));
  }

  concept(code: string): ConceptCard | undefined {
    const r = guarded(this.path, () => this.stmts.concept.get(code)) as
      | { code: string; title: string; groups: string; semantic_types: string; definitions: string; names: string }
      | undefined;
    if (r === undefined) return undefined;
    return guarded(this.path, () => ({
      code: r.code,
      title: r.title,
      groups: JSON.parse(r.groups) as string[],
      semanticTypes: JSON.parse(r.semantic_types) as string[],
      definitions: JSON.parse(r.definitions) as string[],
      names: JSON.parse(r.names) as string[],
    }));
  }

  /** Codes in SQLite BINARY (byte) order. */
  *codes(): Iterable<string> {
    let rows = guarded(this.path, () => this.stmts.codesFirst.all() as { code: string }[]);
    while (rows.length > 0) {
      for (const r of rows) yield r.code;
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1].code;
      rows = guarded(this.path, () => this.stmts.codesPage.all(last) as { code: string }[]);
    }
  }

  stats(): KbStats {
    const groups: Record<string, { names: number; concepts: number }> = {};
    for (const [g, s] of this.groupStats) groups[g] = { ...s };
    return {
      concepts: guarded(this.path, () => (this.stmts.conceptCount.get() as { n: number }).n),
      names: guarded(this.path, () => (this.stmts.nameCount.get() as { n: number }).n),
      groups,
    };
  }

  getArtifact(key: string): Uint8Array | undefined {
    const r = guarded(this.path, () => this.stmts.artifact.get(key) as { bytes: Buffer; sha256: string } | undefined);
    // A missing or damaged artifact is rebuilt by the caller from the tables: check them first (once), so a
    // damaged table never silently becomes the source of answers.
    if (r === undefined || artifactChecksum(r.bytes) !== r.sha256) {
      this.verifyNames();
      return undefined;
    }
    return new Uint8Array(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  }

  /** Check the names table against its build digest (once per open): derived data must not come from a damaged table. */
  verifyNames(): void {
    if (this.contentVerified) return;
    // Derived data (tries, lexical indexes) comes from the names table.
    if (!guarded(this.path, () => contentMatches(this.db, this.meta, ["names"]))) {
      throw invalid(this.path, "the names table does not match the digest recorded at build: the file is damaged");
    }
    this.contentVerified = true;
  }

  /** Store a derived blob (replacing any under the key). Throws IO_ERROR when the file is not writable. */
  putArtifact(key: string, bytes: Uint8Array): void {
    this.putArtifacts([{ key, bytes }]);
  }

  /**
   * Store several blobs in one transaction (all or none), after removing `replacing` and its parts when given.
   * Throws IO_ERROR when the file is not writable.
   */
  putArtifacts(entries: readonly { readonly key: string; readonly bytes: Uint8Array }[], options: { readonly replacing?: string } = {}): void {
    // An artifact is derived from the tables: check them first, so a damaged table never becomes a trusted cache.
    this.verifyNames();
    const what = `artifact ${entries.map((e) => JSON.stringify(e.key)).join(", ")}`;
    withKbTransaction(this.path, what, (db) => {
      if (options.replacing !== undefined) deleteArtifactRows(db, options.replacing);
      for (const e of entries) putArtifactRow(db, e.key, e.bytes);
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Open a built KB index read-only. Missing, corrupt or other-version files throw KB_INDEX_INVALID. */
export function openKnowledgeBase(path: string, options: OpenKnowledgeBaseOptions = {}): SqliteKnowledgeBase {
  return new SqliteKnowledgeBase(resolve(path), options);
}
