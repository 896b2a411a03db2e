/**
 * SNOMED CT RF2 releases (Snapshot or Full; several editions merged, e.g. International + Spanish):
 * `sct2_Concept_*`, `sct2_Description_*` (any language) and `der2_cRefset_Language*` files, recognised by their
 * header. For every component id only the row with the latest effectiveTime counts; inactive rows are dropped.
 * A concept's group comes from the semantic tag of its fully specified name through a tag -> group map.
 * `sct2_Relationship_*` (inferred relationships) gives the hierarchy: active |Is a| (116680003) rows between active
 * concepts, whatever their group (ancestors outside the KB's groups still connect its concepts).
 */
import { readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { SyncabelError } from "../../errors.js";
import { cleanText } from "../../markup/clean.js";
import { trimTerm } from "../row-checks.js";
import { groupMapFrom, type GroupMap } from "./group-map.js";
import { readLines } from "./lines.js";
import { batcher, openScratch } from "./scratch.js";
import type { ProgressSink, SourceItem, TermSource } from "./types.js";

/** RF2 metadata concept ids. */
export const RF2 = {
  FSN: "900000000000003001",
  SYNONYM: "900000000000013009",
  DEFINITION: "900000000000550004",
  PREFERRED: "900000000000548007",
  ACCEPTABLE: "900000000000549004",
  IS_A: "116680003",
} as const;

const HEADERS = {
  concept: "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId",
  description: "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId",
  language: "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\tacceptabilityId",
  relationship: "id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId\tcharacteristicTypeId\tmodifierId",
} as const;
type Rf2Kind = keyof typeof HEADERS;

/** The SPACCC groups by semantic tag (English and Spanish-edition tags). */
export const DEFAULT_SEMANTIC_TAG_GROUPS: GroupMap = groupMapFrom([
  ["disorder", "ENFERMEDAD"],
  ["trastorno", "ENFERMEDAD"],
  ["procedure", "PROCEDIMIENTO"],
  ["procedimiento", "PROCEDIMIENTO"],
  ["finding", "SINTOMA"],
  ["hallazgo", "SINTOMA"],
]);

export interface Rf2Options {
  /** Semantic tag (lower-case) -> group; concepts with another tag are skipped. Default `DEFAULT_SEMANTIC_TAG_GROUPS`. */
  readonly tagGroups?: GroupMap;
  /** Keep descriptions of these languageCodes only (default: every language). */
  readonly languages?: readonly string[];
  /** Language refsets whose acceptability counts (default: every refset read). */
  readonly languageRefsets?: readonly string[];
  /** `preferred`: only preferred terms; `acceptable` (default): preferred and acceptable ones. */
  readonly acceptability?: "preferred" | "acceptable";
  /** Also keep fully specified names (without their semantic tag) as names. Default false. */
  readonly includeFsn?: boolean;
  /** Folder for the scratch database (default: the OS temp folder). */
  readonly scratchDir?: string;
}

const SEMANTIC_TAG = /\s*\(([^()]+)\)\s*$/;

/** The semantic tag of a fully specified name (`Asthma (disorder)` -> `disorder`). */
export function semanticTag(fsn: string): string | undefined {
  return SEMANTIC_TAG.exec(fsn)?.[1].trim();
}

// Relationships: the inferred file; its concrete-values sibling (another layout) and the stated file are not read.
const RF2_NAME = /^(sct2_Concept|sct2_Description|sct2_TextDefinition|der2_cRefset_Language|sct2_Relationship(?!Concrete))\w*Snapshot/i;

/** The RF2 files of the paths: files as given, folders searched (recursively) for Snapshot files. */
export function findRf2Files(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (RF2_NAME.test(entry.name) && entry.name.endsWith(".txt")) out.push(p);
    }
  };
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new SyncabelError("KB_FILE_INVALID", `RF2 path not found: ${p}`, { path: p });
    }
    if (isDir) walk(p);
    else out.push(p);
  }
  return out;
}

function kindOf(header: string, path: string): Rf2Kind {
  for (const [kind, h] of Object.entries(HEADERS) as [Rf2Kind, string][]) if (header === h) return kind;
  throw new SyncabelError(
    "KB_FILE_INVALID",
    `${path}: not an RF2 concept, description, relationship or language refset file (header ${JSON.stringify(header.slice(0, 120))}); expected e.g. sct2_Concept_Snapshot_*.txt, sct2_Description_Snapshot-*.txt, der2_cRefset_LanguageSnapshot-*.txt`,
    { path },
  );
}

const SCHEMA = `
CREATE TABLE files (file INTEGER PRIMARY KEY, path TEXT NOT NULL);
CREATE TABLE concept (id TEXT PRIMARY KEY, et TEXT NOT NULL, active INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE descr (id TEXT NOT NULL, et TEXT NOT NULL, active INTEGER NOT NULL, concept TEXT NOT NULL, lang TEXT NOT NULL,
  type TEXT NOT NULL, term TEXT NOT NULL, file INTEGER NOT NULL, line INTEGER NOT NULL);
CREATE TABLE lang (descr TEXT NOT NULL, refset TEXT NOT NULL, et TEXT NOT NULL, active INTEGER NOT NULL, accept TEXT NOT NULL,
  PRIMARY KEY (descr, refset)) WITHOUT ROWID;
CREATE TABLE cgroup (concept TEXT PRIMARY KEY, tag TEXT NOT NULL, grp TEXT) WITHOUT ROWID;
CREATE TABLE rel (id TEXT PRIMARY KEY, et TEXT NOT NULL, active INTEGER NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL,
  type TEXT NOT NULL, file INTEGER NOT NULL, line INTEGER NOT NULL) WITHOUT ROWID;
`;

/** A SNOMED CT RF2 release (files and/or release folders) as a row source. */
export function rf2Source(paths: readonly string[], options: Rf2Options = {}): TermSource {
  const files = findRf2Files(paths);
  if (files.length === 0) throw new SyncabelError("KB_FILE_INVALID", `no RF2 Snapshot file under ${paths.join(", ")}`, { path: paths.join(",") });
  return { format: "rf2", files, items: (progress) => rf2Items(files, options, progress) };
}

async function* rf2Items(files: readonly string[], options: Rf2Options, progress?: ProgressSink): AsyncGenerator<SourceItem> {
  const scratch = openScratch("rf2", options.scratchDir);
  try {
    const db = scratch.db;
    db.exec(SCHEMA);
    const kinds = new Set<Rf2Kind>();
    const malformed: SourceItem[] = [];
    for (const [fileId, path] of files.entries()) {
      db.prepare("INSERT INTO files VALUES (?, ?)").run(fileId, path);
      const kind = await loadFile(db, path, fileId, progress, malformed);
      kinds.add(kind);
    }
    if (!kinds.has("description")) throw new SyncabelError("KB_FILE_INVALID", `no RF2 description file among ${files.join(", ")}`, { path: files.join(",") });
    yield* malformed;
    db.exec("CREATE INDEX descr_id ON descr (id, et)");
    assignGroups(db, options.tagGroups ?? DEFAULT_SEMANTIC_TAG_GROUPS);
    yield* descriptionItems(db, options, kinds.has("language"));
    yield* relationItems(db);
  } finally {
    scratch.dispose();
  }
}

/** Stage one RF2 file; rows with the wrong number of columns become skip items. */
async function loadFile(db: import("better-sqlite3").Database, path: string, fileId: number, progress: ProgressSink | undefined, malformed: SourceItem[]): Promise<Rf2Kind> {
  let kind: Rf2Kind | undefined;
  const concept = batcher<string[]>(db, ((s) => (c: string[]) => s.run(c[0], c[1], c[2] === "1" ? 1 : 0))(
    db.prepare("INSERT INTO concept VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET et = excluded.et, active = excluded.active WHERE excluded.et > concept.et"),
  ));
  const insertDescr = db.prepare("INSERT INTO descr VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const descr = batcher<[string[], number]>(db, ([c, line]) => insertDescr.run(c[0], c[1], c[2] === "1" ? 1 : 0, c[4], c[5], c[6], c[7], fileId, line));
  const insertLang = db.prepare(
    "INSERT INTO lang VALUES (?, ?, ?, ?, ?) ON CONFLICT (descr, refset) DO UPDATE SET et = excluded.et, active = excluded.active, accept = excluded.accept WHERE excluded.et > lang.et",
  );
  const lang = batcher<string[]>(db, (c) => insertLang.run(c[5], c[4], c[1], c[2] === "1" ? 1 : 0, c[6]));
  const insertRel = db.prepare(
    "INSERT INTO rel VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET et = excluded.et, active = excluded.active, source = excluded.source, dest = excluded.dest, type = excluded.type, file = excluded.file, line = excluded.line WHERE excluded.et > rel.et",
  );
  const rel = batcher<[string[], number]>(db, ([c, line]) => insertRel.run(c[0], c[1], c[2] === "1" ? 1 : 0, c[4], c[5], c[7], fileId, line));
  const widths: Record<Rf2Kind, number> = { concept: 5, description: 9, language: 7, relationship: 10 };
  for await (const { text, line } of readLines(path, progress, basename(path))) {
    if (kind === undefined) {
      kind = kindOf(text, path);
      continue;
    }
    if (text === "") continue;
    const cells = text.split("\t");
    if (cells.length !== widths[kind] || !/^\d{8}$/.test(cells[1])) {
      if (kind === "description" || kind === "relationship") {
        malformed.push({ kind: "skip", file: path, line, reason: kind === "description" ? "malformed RF2 row" : "malformed RF2 relationship row", detail: `${cells.length} columns, ${widths[kind]} expected` });
      }
      continue;
    }
    if (kind === "concept") concept.add(cells);
    else if (kind === "description") descr.add([cells, line]);
    else if (kind === "relationship") rel.add([cells, line]);
    else lang.add(cells);
  }
  concept.flush();
  descr.flush();
  lang.flush();
  rel.flush();
  if (kind === undefined) throw new SyncabelError("KB_FILE_INVALID", `${path}: empty file (no RF2 header)`, { path });
  return kind;
}

/** The semantic tag and group of every concept, from its current active FSN (an English one first). */
function assignGroups(db: import("better-sqlite3").Database, tagGroups: GroupMap): void {
  // Materialised first: better-sqlite3 cannot write on a connection while a statement iterates on it.
  db.prepare(`CREATE TABLE fsn AS SELECT concept, term FROM (
      SELECT concept, term, lang, active, ROW_NUMBER() OVER (PARTITION BY id ORDER BY et DESC) AS rn FROM descr WHERE type = ?)
    WHERE rn = 1 AND active = 1 ORDER BY concept, lang <> 'en', lang`).run(RF2.FSN);
  const insert = db.prepare("INSERT OR IGNORE INTO cgroup VALUES (?, ?, ?)");
  const update = db.prepare("UPDATE cgroup SET tag = ?, grp = ? WHERE concept = ? AND grp IS NULL");
  const page = db.prepare("SELECT rowid AS r, concept, term FROM fsn WHERE rowid > ? ORDER BY rowid LIMIT 20000");
  const write = db.transaction((rows: readonly { concept: string; term: string }[]) => {
    for (const r of rows) {
      const tag = semanticTag(r.term);
      if (tag === undefined) continue;
      const grp = tagGroups.get(tag.toLowerCase()) ?? null;
      if (insert.run(r.concept, tag, grp).changes === 0 && grp !== null) update.run(tag, grp, r.concept);
    }
  });
  for (let last = 0; ; ) {
    const rows = page.all(last) as { r: number; concept: string; term: string }[];
    if (rows.length === 0) break;
    write(rows);
    last = rows[rows.length - 1].r;
  }
}

interface DescrRow {
  id: string;
  concept: string;
  lang: string;
  type: string;
  term: string;
  active: number;
  rn: number;
  path: string;
  line: number;
  cactive: number | null;
  tag: string | null;
  grp: string | null;
  accept: string | null;
}

/** One item per description row read, in file order: a name, or why it is not one. */
function* descriptionItems(db: import("better-sqlite3").Database, options: Rf2Options, haveLanguageRefsets: boolean): Generator<SourceItem> {
  const refsets = options.languageRefsets ?? [];
  const refsetFilter = refsets.length > 0 ? `AND l.refset IN (${refsets.map(() => "?").join(", ")})` : "";
  const sql = `SELECT d.id, d.concept, d.lang, d.type, d.term, d.active, d.rn, f.path, d.line, c.active AS cactive, g.tag, g.grp,
      (SELECT MIN(l.accept) FROM lang l WHERE l.descr = d.id AND l.active = 1 ${refsetFilter}) AS accept
    FROM (SELECT rowid AS r, *, 1 + EXISTS (SELECT 1 FROM descr n WHERE n.id = descr.id AND n.et > descr.et) AS rn FROM descr) d
    JOIN files f ON f.file = d.file
    LEFT JOIN concept c ON c.id = d.concept
    LEFT JOIN cgroup g ON g.concept = d.concept
    ORDER BY d.r`;
  const languages = options.languages && options.languages.length > 0 ? new Set(options.languages) : undefined;
  const preferredOnly = options.acceptability === "preferred";
  for (const r of db.prepare(sql).iterate(...refsets) as Iterable<DescrRow>) {
    const skip = (reason: string, detail?: string): SourceItem => ({ kind: "skip", file: r.path, line: r.line, reason, detail });
    if (r.rn !== 1) yield skip("superseded by a later effectiveTime", r.id);
    else if (r.active !== 1) yield skip("inactive description", r.id);
    else if (r.cactive === null) yield skip("concept not in any sct2_Concept file", r.concept);
    else if (r.cactive !== 1) yield skip("inactive concept", r.concept);
    else if (r.type === RF2.DEFINITION) yield skip("text definition (not a name)", r.id);
    else if (languages && !languages.has(r.lang)) yield skip("language not selected", r.lang);
    else if (r.type === RF2.FSN && !options.includeFsn) yield skip("fully specified name (use the FSN option to keep)", r.id);
    else if (haveLanguageRefsets && r.accept === null) yield skip("not in a selected language refset", r.id);
    else if (preferredOnly && r.accept !== RF2.PREFERRED) yield skip("acceptable, not preferred", r.id);
    else if (r.grp === null || r.tag === null) yield skip("semantic tag not mapped to a group", r.tag ?? `no active FSN for ${r.concept}`);
    else {
      const term = r.type === RF2.FSN ? r.term.replace(SEMANTIC_TAG, "") : r.term;
      const name = trimTerm(cleanText(term));
      if (name === "") {
        yield skip("empty term", r.id);
        continue;
      }
      yield {
        kind: "row",
        file: r.path,
        line: r.line,
        row: { code: r.concept, name, group: r.grp, preferred: r.type !== RF2.FSN && r.accept === RF2.PREFERRED, semanticTypes: [r.tag] },
      };
    }
  }
}

/** Is-a edges: the current version of each relationship row, active, typeId |Is a|, between active concepts. */
function* relationItems(db: import("better-sqlite3").Database): Generator<SourceItem> {
  const sql = `SELECT r.source, r.dest, f.path, r.line FROM rel r JOIN files f ON f.file = r.file
    JOIN concept a ON a.id = r.source AND a.active = 1 JOIN concept b ON b.id = r.dest AND b.active = 1
    WHERE r.active = 1 AND r.type = ? ORDER BY r.file, r.line`;
  for (const r of db.prepare(sql).iterate(RF2.IS_A) as Iterable<{ source: string; dest: string; path: string; line: number }>) {
    yield { kind: "relation", file: r.path, line: r.line, relation: { child: r.source, parent: r.dest, kind: "is_a" } };
  }
}
