/**
 * Build the KB index (one SQLite file) from terminology sources. Every reader (src/kb/sources) streams rows; the
 * rows are staged in a scratch SQLite file so millions of names never have to fit in JS memory; the index is
 * written to a temp file and renamed at the end.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { SyncabelError } from "../errors.js";
import { isSameFile, removeStaleTemps, tempPathFor } from "../io/atomic-write.js";
import { chooseReportedCode, sortCodes } from "./disambiguate.js";
import { guessFormat, type GazetteerFormat } from "./gazetteer.js";
import { KB_FORMAT_TAG, KB_SCHEMA_SQL, KB_SCHEMA_VERSION } from "./schema.js";
import { contentDigest } from "./integrity.js";
import { checkSomethingToStore, planTraining, storeTrainingPlan, type MentionsReport, type TrainingRead } from "./mentions.js";
import { nfc, termRowProblem } from "./row-checks.js";
import { gazetteerSource } from "./sources/gazetteer-source.js";
import { relationStager, writeRelations, type RelationStager, type RelationsReport } from "./relations-build.js";
import type { ProgressSink, SourceItem, SourceRow, TermSource } from "./sources/types.js";

export interface SkippedRow {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
}

/** Skipped rows of one reason: how many, and the first few (file:line). */
export interface SkipReason {
  readonly count: number;
  readonly examples: readonly SkippedRow[];
}

export interface BuildReport {
  /** The input files, comma-separated (one file for a gazetteer). */
  readonly input: string;
  readonly output: string;
  /** Format of the first source (`tsv`, `jsonl`, `rf2`, `umls`, `obo`, `obograph`, `translations`). */
  readonly format: string;
  readonly sources: readonly { readonly format: string; readonly files: readonly string[] }[];
  /** Source rows read (blank lines and headers excluded). */
  readonly rowsRead: number;
  /** Rows that gave a name (`rowsRead = rowsKept + rowsSkipped`). */
  readonly rowsKept: number;
  readonly rowsSkipped: number;
  /** Skipped rows by reason, with the first `EXAMPLES_PER_REASON` of each. */
  readonly skippedByReason: Readonly<Record<string, SkipReason>>;
  /** Kept rows that repeated a (code, name, group) already seen; their extra fields were merged. */
  readonly duplicatesMerged: number;
  readonly concepts: number;
  /** Distinct (name, group) entries. */
  readonly names: number;
  /** Entries with more than one code (disambiguated, every code kept). */
  readonly ambiguousNames: number;
  /** Distinct (code, vocabulary, id) cross-references kept. */
  readonly xrefs: number;
  /** Hierarchy edges (is_a, part_of) the readers gave and the index stores. */
  readonly relations: RelationsReport;
  readonly groups: Readonly<Record<string, { readonly names: number; readonly concepts: number }>>;
  /** The first `MAX_SKIPPED_REPORTED` skipped rows with their reason. */
  readonly skipped: readonly SkippedRow[];
  /** Training files stored with the build (`BuildOptions.training`): one report each. */
  readonly training?: readonly MentionsReport[];
  readonly seconds: number;
}

export interface BuildOptions {
  /** Gazetteer format when the input is a path. Default: from the extension (.jsonl/.ndjson/.json -> jsonl, else tsv). */
  readonly format?: GazetteerFormat;
  /** Progress of the readers (bytes per file) and of the build phases. */
  readonly progress?: ProgressSink;
  /** Called at the start of each build phase after reading (long on large releases). */
  readonly onPhase?: (phase: string) => void;
  /**
   * Training files (read and checked, src/kb/mentions.ts) stored in the new index before it replaces OUT: the
   * index appears with its training memory, or not at all.
   */
  readonly training?: readonly TrainingRead[];
}

export const MAX_SKIPPED_REPORTED = 1000;
export const EXAMPLES_PER_REASON = 5;
const BATCH = 5000;

interface StagedRow {
  seq: number;
  line: number;
  code: string;
  name: string;
  grp: string | null;
  preferred: string | null;
  sty: string;
  def: string;
}

/** `preferred` flag/text as stored in the staging table: null (absent/false), "" (this row), or a name. */
function stagePreferred(p: SourceRow["preferred"]): string | null {
  if (p === true) return "";
  if (typeof p === "string" && p !== "") return p;
  return null;
}

function pushDistinct(list: string[], values: readonly string[]): void {
  for (const v of values) if (!list.includes(v)) list.push(v);
}

const EMPTY_JSON = "[]";
function jsonList(values: readonly string[] | undefined): string {
  return values === undefined || values.length === 0 ? EMPTY_JSON : JSON.stringify(values);
}

/** Counts skipped rows by reason and keeps the first examples. */
class SkipLog {
  readonly byReason: Record<string, { count: number; examples: SkippedRow[] }> = {};
  readonly first: SkippedRow[] = [];
  count = 0;

  add(file: string, line: number, reason: string, detail?: string): void {
    this.count++;
    const full = detail ? `${reason}: ${detail}` : reason;
    const entry = (this.byReason[reason] ??= { count: 0, examples: [] });
    entry.count++;
    const row = { file, line, reason: full };
    if (entry.examples.length < EXAMPLES_PER_REASON) entry.examples.push(row);
    if (this.first.length < MAX_SKIPPED_REPORTED) this.first.push(row);
  }
}

/** Open the scratch database and its insert statements. */
function openStaging(path: string) {
  const db = new Database(path);
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -262144");
  db.pragma("temp_store = FILE");
  db.exec(`CREATE TABLE raw (seq INTEGER NOT NULL, line INTEGER NOT NULL, file INTEGER NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL,
      grp TEXT, preferred TEXT, sty TEXT NOT NULL, def TEXT NOT NULL);
    CREATE TABLE xref (code TEXT NOT NULL, vocab TEXT NOT NULL, id TEXT NOT NULL);
    CREATE TABLE files (file INTEGER PRIMARY KEY, path TEXT NOT NULL);`);
  const insertRaw = db.prepare("INSERT INTO raw VALUES (@seq, @line, @file, @code, @name, @grp, @preferred, @sty, @def)");
  const insertXref = db.prepare("INSERT INTO xref VALUES (?, ?, ?)");
  const insertBatch = db.transaction((rows: readonly (StagedRow & { file: number })[], xrefs: readonly [string, string, string][]) => {
    for (const r of rows) insertRaw.run(r);
    for (const x of xrefs) insertXref.run(x[0], x[1], x[2]);
  });
  return { db, insertBatch, insertFile: db.prepare("INSERT INTO files VALUES (?, ?)") };
}

type Staging = ReturnType<typeof openStaging>;

/** 1. Stream every source into the staging tables. Returns the number of items read. */
async function stageSources(sources: readonly TermSource[], staging: Staging, skips: SkipLog, relations: RelationStager, progress?: ProgressSink): Promise<number> {
  let read = 0;
  let seq = 0;
  const fileIds = new Map<string, number>();
  const fileId = (path: string): number => {
    let id = fileIds.get(path);
    if (id === undefined) {
      id = fileIds.size;
      fileIds.set(path, id);
      staging.insertFile.run(id, path);
    }
    return id;
  };
  let rows: (StagedRow & { file: number })[] = [];
  let xrefs: [string, string, string][] = [];
  const flush = (): void => {
    staging.insertBatch(rows, xrefs);
    rows = [];
    xrefs = [];
  };
  for (const source of sources) {
    for await (const item of source.items(progress) as AsyncIterable<SourceItem>) {
      if (item.kind === "relation") {
        relations.add(item.relation, source.format);
        continue;
      }
      read++;
      if (item.kind === "skip") {
        skips.add(item.file, item.line, item.reason, item.detail);
        continue;
      }
      const r = item.row;
      const problem = termRowProblem(r.name, r.group);
      if (problem !== undefined) {
        skips.add(item.file, item.line, problem.reason, problem.detail);
        continue;
      }
      rows.push({
        seq: seq++,
        line: item.line,
        file: fileId(item.file),
        code: nfc(r.code),
        name: nfc(r.name),
        grp: r.group === null ? null : nfc(r.group),
        preferred: stagePreferred(r.preferred),
        sty: jsonList(r.semanticTypes),
        def: jsonList(r.definitions),
      });
      for (const x of r.xrefs ?? []) xrefs.push([r.code, x.vocab, x.id]);
      if (rows.length >= BATCH) flush();
    }
  }
  flush();
  return read;
}

/**
 * 2. Names without a group of their own (translations) take every group of their concept; those of a concept no
 * other source has are skipped.
 */
function resolveInheritedGroups(db: Database.Database, skips: SkipLog): void {
  db.exec("CREATE INDEX raw_code ON raw (code, seq)");
  const pending = (db.prepare("SELECT COUNT(*) AS n FROM raw WHERE grp IS NULL").get() as { n: number }).n;
  if (pending === 0) return;
  db.exec(`CREATE TEMP TABLE code_groups AS SELECT DISTINCT code, grp FROM raw WHERE grp IS NOT NULL;
    CREATE INDEX temp.code_groups_code ON code_groups (code);`);
  const orphans = db.prepare(
    "SELECT f.path AS path, r.line AS line, r.code AS code FROM raw r JOIN files f ON f.file = r.file WHERE r.grp IS NULL AND NOT EXISTS (SELECT 1 FROM code_groups g WHERE g.code = r.code) ORDER BY r.seq",
  );
  for (const o of orphans.iterate() as Iterable<{ path: string; line: number; code: string }>) {
    skips.add(o.path, o.line, "concept not in the other sources", o.code);
  }
  db.exec(`INSERT INTO raw SELECT r.seq, r.line, r.file, r.code, r.name, g.grp, r.preferred, r.sty, r.def
      FROM raw r JOIN code_groups g ON g.code = r.code WHERE r.grp IS NULL;
    DELETE FROM raw WHERE grp IS NULL;`);
}

/** 3. Names with disambiguation: one row per (group, name), every code, the reported code. */
function writeNames(staging: Database.Database, out: Database.Database): { names: number; ambiguousNames: number } {
  // Codes owning an unambiguous name, per group.
  const ownsUnambiguous = new Set<string>();
  for (const r of staging.prepare("SELECT grp, MIN(code) AS code FROM raw GROUP BY grp, name HAVING COUNT(DISTINCT code) = 1").iterate() as Iterable<{ grp: string; code: string }>) {
    ownsUnambiguous.add(`${r.grp}\u0000${r.code}`);
  }
  const insertName = out.prepare("INSERT INTO names VALUES (?, ?, ?, ?)");
  let names = 0;
  let ambiguousNames = 0;
  let current: { grp: string; name: string; codes: string[] } | undefined;
  const flushName = (): void => {
    if (current === undefined) return;
    const { grp, name } = current;
    const codes = sortCodes(current.codes);
    const code = chooseReportedCode(codes, (c) => ownsUnambiguous.has(`${grp}\u0000${c}`));
    insertName.run(grp, name, code, JSON.stringify(codes));
    names++;
    if (codes.length > 1) ambiguousNames++;
  };
  for (const r of staging.prepare("SELECT grp, name, code FROM raw GROUP BY grp, name, code ORDER BY grp, name, code").iterate() as Iterable<{ grp: string; name: string; code: string }>) {
    if (current === undefined || current.grp !== r.grp || current.name !== r.name) {
      flushName();
      current = { grp: r.grp, name: r.name, codes: [] };
    }
    current.codes.push(r.code);
  }
  flushName();
  return { names, ambiguousNames };
}

/** 4. Concept cards and the code -> names table, in source order within a code. */
function writeConcepts(staging: Database.Database, out: Database.Database): number {
  const insertConcept = out.prepare("INSERT INTO concepts VALUES (?, ?, ?, ?, ?, ?)");
  const insertCodeName = out.prepare("INSERT INTO code_names VALUES (?, ?, ?, ?)");
  let concepts = 0;
  let card: { code: string; title: string | undefined; groups: Set<string>; sty: string[]; defs: string[]; names: string[]; pairs: Set<string> } | undefined;
  const flushConcept = (): void => {
    if (card === undefined) return;
    const title = card.title ?? card.names[0];
    insertConcept.run(card.code, title, JSON.stringify([...card.groups].sort()), JSON.stringify(card.sty), JSON.stringify(card.defs), JSON.stringify(card.names));
    concepts++;
  };
  for (const r of staging.prepare("SELECT code, name, grp, preferred, sty, def FROM raw ORDER BY code, seq").iterate() as Iterable<StagedRow & { grp: string }>) {
    if (card === undefined || card.code !== r.code) {
      flushConcept();
      card = { code: r.code, title: undefined, groups: new Set(), sty: [], defs: [], names: [], pairs: new Set() };
    }
    if (card.title === undefined && r.preferred !== null) card.title = r.preferred === "" ? r.name : r.preferred;
    card.groups.add(r.grp);
    if (r.sty !== EMPTY_JSON) pushDistinct(card.sty, JSON.parse(r.sty) as string[]);
    if (r.def !== EMPTY_JSON) pushDistinct(card.defs, JSON.parse(r.def) as string[]);
    if (!card.names.includes(r.name)) card.names.push(r.name);
    const pair = `${r.grp}\u0000${r.name}`;
    if (!card.pairs.has(pair)) {
      insertCodeName.run(r.code, card.pairs.size, r.grp, r.name);
      card.pairs.add(pair);
    }
  }
  flushConcept();
  return concepts;
}

/** 5. Cross-references of the concepts kept (one row per (code, vocabulary, id): one-to-many is explicit). */
function writeXrefs(staging: Database.Database, out: Database.Database): number {
  const insert = out.prepare("INSERT OR IGNORE INTO xrefs VALUES (?, ?, ?)");
  let n = 0;
  const rows = staging.prepare("SELECT DISTINCT x.code AS code, x.vocab AS vocab, x.id AS id FROM xref x WHERE EXISTS (SELECT 1 FROM raw r WHERE r.code = x.code) ORDER BY 1, 2, 3");
  for (const r of rows.iterate() as Iterable<{ code: string; vocab: string; id: string }>) n += insert.run(r.code, r.vocab, r.id).changes;
  return n;
}

function writeGroups(staging: Database.Database, out: Database.Database): Record<string, { names: number; concepts: number }> {
  const groups: Record<string, { names: number; concepts: number }> = {};
  const insertGroup = out.prepare("INSERT INTO groups VALUES (?, ?, ?)");
  for (const g of staging.prepare("SELECT grp, COUNT(DISTINCT name) AS names, COUNT(DISTINCT code) AS concepts FROM raw GROUP BY grp ORDER BY grp").all() as { grp: string; names: number; concepts: number }[]) {
    groups[g.grp] = { names: g.names, concepts: g.concepts };
    insertGroup.run(g.grp, g.names, g.concepts);
  }
  return groups;
}

function fsyncFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function toSources(input: string | TermSource | readonly TermSource[], options: BuildOptions): readonly TermSource[] {
  if (typeof input === "string") return [gazetteerSource(input, options.format ?? guessFormat(input))];
  return Array.isArray(input) ? (input as readonly TermSource[]) : [input as TermSource];
}

/**
 * Build a KB index from a gazetteer file path (TSV/JSONL) or from any terminology sources (merged: several
 * editions, a translation table...).
 */
export async function buildKnowledgeBase(input: string | TermSource | readonly TermSource[], outPath: string, options: BuildOptions = {}): Promise<BuildReport> {
  const started = performance.now();
  const sources = toSources(input, options);
  const inputLabel = sources.flatMap((s) => s.files).join(",");
  const output = resolve(outPath);
  if (!existsSync(dirname(output))) {
    throw new SyncabelError("IO_ERROR", `cannot write the KB index ${output}: folder ${dirname(output)} does not exist`, { path: output });
  }
  if (existsSync(output) && statSync(output).isDirectory()) {
    throw new SyncabelError("IO_ERROR", `cannot write the KB index ${output}: it is a folder; give a file path such as ${join(output, "kb.sqlite")}`, { path: output });
  }
  const overwritten = sources.flatMap((s) => s.files).find((f) => isSameFile(f, output));
  if (overwritten !== undefined) {
    throw new SyncabelError("IO_ERROR", `the KB index ${output} would replace its own input ${overwritten}: choose another output path`, { path: output });
  }
  // Builds killed before their cleanup (kill -9) leave temp files of this output: remove them.
  removeStaleTemps(output);
  const tmp = tempPathFor(output);
  const stagingPath = `${tmp}.staging`;
  let staging: Staging | undefined;
  let out: Database.Database | undefined;
  try {
    staging = openStaging(stagingPath);
    const skips = new SkipLog();
    const relationRows = relationStager(staging.db);
    const rowsRead = await stageSources(sources, staging, skips, relationRows, options.progress);
    const db = staging.db;
    options.onPhase?.("resolving translations");
    resolveInheritedGroups(db, skips);
    const rowsKept = rowsRead - skips.count;
    if (rowsKept === 0) {
      const first = skips.first[0];
      throw new SyncabelError(
        "KB_EMPTY",
        `${inputLabel}: no usable terminology row (${rowsRead} read, ${skips.count} skipped${first ? `; ${first.file}:${first.line}: ${first.reason}` : ""})`,
        { path: inputLabel, rowsRead, rowsSkipped: skips.count },
      );
    }
    options.onPhase?.("indexing staged rows");
    db.exec("CREATE INDEX raw_name ON raw (grp, name, code);");
    const distinctTriples = (db.prepare("SELECT COUNT(*) AS n FROM (SELECT DISTINCT code, name, grp FROM raw)").get() as { n: number }).n;

    out = new Database(tmp);
    out.pragma("journal_mode = OFF");
    out.pragma("synchronous = OFF");
    out.exec(KB_SCHEMA_SQL);
    out.exec("BEGIN");
    options.onPhase?.("writing names");
    const { names, ambiguousNames } = writeNames(db, out);
    options.onPhase?.("writing concepts");
    const concepts = writeConcepts(db, out);
    options.onPhase?.("writing cross-references");
    const xrefs = writeXrefs(db, out);
    const groups = writeGroups(db, out);
    options.onPhase?.("writing relations");
    const relations = writeRelations(db, out, relationRows);
    let training: MentionsReport[] | undefined;
    if (options.training !== undefined && options.training.length > 0) {
      options.onPhase?.("storing training mentions");
      const plan = planTraining(Object.keys(groups), options.training);
      checkSomethingToStore(plan.reports);
      training = storeTrainingPlan(out, plan);
    }
    const insertMeta = out.prepare("INSERT INTO meta VALUES (?, ?)");
    insertMeta.run("format", KB_FORMAT_TAG);
    insertMeta.run("schema_version", String(KB_SCHEMA_VERSION));
    insertMeta.run("source", sources.flatMap((s) => s.files.map((f) => resolve(f))).join("\n"));
    insertMeta.run("source_formats", sources.map((s) => s.format).join(","));
    insertMeta.run("built_at", new Date().toISOString());
    insertMeta.run("concepts", String(concepts));
    insertMeta.run("names", String(names));
    insertMeta.run("content_sha256", contentDigest(out));
    out.exec("COMMIT");
    out.pragma("journal_mode = DELETE");
    out.close();
    out = undefined;
    staging.db.close();
    staging = undefined;
    fsyncFile(tmp); // written without journal or sync: on disk before it replaces OUT
    renameSync(tmp, output);
    return {
      input: inputLabel,
      output,
      format: sources[0]?.format ?? "tsv",
      sources: sources.map((s) => ({ format: s.format, files: s.files })),
      rowsRead,
      rowsKept,
      rowsSkipped: skips.count,
      skippedByReason: skips.byReason,
      duplicatesMerged: rowsKept - distinctTriples,
      concepts,
      names,
      ambiguousNames,
      xrefs,
      relations,
      groups,
      skipped: skips.first,
      ...(training === undefined ? {} : { training }),
      seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    out?.close();
    if (e instanceof SyncabelError) throw e;
    throw new SyncabelError("IO_ERROR", `building the KB index ${output} from ${inputLabel} failed: ${(e as Error).message}`, { path: output }, { cause: e });
  } finally {
    staging?.db.close();
    rmSync(stagingPath, { force: true });
    if (existsSync(tmp)) rmSync(tmp, { force: true });
  }
}
