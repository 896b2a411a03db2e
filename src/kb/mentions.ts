/**
 * The training memory of a KB index: annotated mentions of training files (any dataset reader) stored in the
 * `mentions` table with their group, normalised text, gold code (composite `a+b`) and provenance. The hybrid
 * linker turns them into extra names of their concepts and into code counts (src/linker/hybrid-index.ts).
 * Each row also keeps its query as `documentQueries` builds it at link time (src/data/mention-queries.ts): the
 * marked sentence, the long form of a short form and the document's mention texts, so that training from the
 * stored memory reads every mention exactly as linking will.
 *
 * Adding files is read -> plan -> store: every file is read and checked first (nothing is written for a file
 * that cannot be read), then one transaction replaces each file's earlier rows by its new ones
 * (src/kb/kb-write.ts), so a killed command leaves the memory as it was before or after, never in between.
 */
import { resolve } from "node:path";
import Database from "better-sqlite3";
import { describeProblem } from "../data/problems.js";
import { documentMentionTexts, documentQueries } from "../data/mention-queries.js";
import { readDataset } from "../data/read-dataset.js";
import type { Dataset, DatasetFormat, ReadProblem } from "../data/types.js";
import { SyncabelError } from "../errors.js";
import { foldText } from "../lexical/normalize.js";
import { SegmentationCache } from "../markup/sentence-builder.js";
import { cleanText } from "../markup/clean.js";
import { compareCodePoints } from "../util/code-point-order.js";
import { kbInvalid } from "./integrity.js";
import { recoverInterruptedWrite, withKbTransaction } from "./kb-write.js";
import { MENTIONS_MIGRATIONS, MENTIONS_TABLE_SQL } from "./schema.js";
import { openKnowledgeBase } from "./sqlite-kb.js";

/** One gold training mention. */
export interface TrainingMention {
  /** The dataset file it came from (resolved path). */
  readonly source: string;
  readonly document: string;
  readonly group: string;
  readonly start: number;
  readonly end: number;
  /** Cleaned mention text. */
  readonly text: string;
  /** Gold code; composite mentions join their sorted codes with `+`. */
  readonly code: string;
  /** The marked sentence of the mention (conventions, section 1), as `documentQueries` builds it; "" when it could not be built. */
  readonly sentence: string;
  /** The long form `documentQueries` gives the mention (a short form its document defines); absent: none. */
  readonly expansion?: string;
  /**
   * Its document's `documentMentions` as `documentQueries` gives them (every mention's text, with or without a
   * code; one array shared by the document's rows). Absent for rows stored before the memory kept it.
   */
  readonly documentMentions?: readonly string[];
  /** "file:line" of the annotation. */
  readonly origin: string;
}

/** A training file and how to read it. */
export interface TrainingFile {
  readonly path: string;
  readonly format: DatasetFormat;
  /** SPACCC: folder of the texts (default texts/ beside the TSV). */
  readonly textsDir?: string;
}

/** Skipped rows reported per file (the rest are counted). */
export const SKIPPED_EXAMPLES = 20;

export interface MentionsReport {
  readonly source: string;
  readonly documents: number;
  /** Mentions the reader gave (rows it rejected are counted in `rejected`). */
  readonly read: number;
  /** Distinct mentions stored: the file's earlier rows are replaced by these. */
  readonly stored: number;
  /** Mentions repeating an earlier one of the file (same document, group and offsets): stored once, the last kept. */
  readonly duplicates: number;
  /** Mentions without a gold code (NO_CODE, -1): nothing to learn, not stored. */
  readonly withoutCode: number;
  /** Mentions whose group is not a KB group: skipped. */
  readonly unknownGroup: number;
  /** Rows the reader rejected (malformed row, offsets that do not match the text, missing text file...): skipped. */
  readonly rejected: number;
  /** `rejected + unknownGroup`: rows with a gold code that were not stored. */
  readonly skipped: number;
  /** The first skipped rows, `file:line: reason`. */
  readonly skippedRows: readonly string[];
  /** Rows of an earlier add of the same file that this one replaced. */
  readonly replaced: number;
}

/** A training file read and checked, not stored yet. */
export interface TrainingRead {
  /** Resolved path: the memory's `source` of its rows. */
  readonly source: string;
  readonly dataset: Dataset;
  /** Storable mentions (with a gold code), one per (document, group, offsets), in file order. */
  readonly mentions: readonly TrainingMention[];
  readonly duplicates: number;
  readonly withoutCode: number;
  /** Error-severity problems of the reader: the rows it rejected. */
  readonly rejected: readonly ReadProblem[];
}

/**
 * Mentions of a dataset with a gold code, as memory rows (duplicates kept; see `trainingReadOf`). Sentence,
 * expansion and document mentions are those of `documentQueries`, the link-time reading of the document.
 */
export function trainingMentionsOf(dataset: Dataset, source: string): { mentions: TrainingMention[]; withoutCode: number } {
  const cache = new SegmentationCache();
  const mentions: TrainingMention[] = [];
  let withoutCode = 0;
  const file = resolve(source);
  for (const doc of dataset.documents) {
    const queries = documentQueries(doc, { cache });
    // Every query of a document shares one array; a document whose every query failed still has its texts.
    const documentMentions = queries.find((q) => q.query !== undefined)?.query?.documentMentions ?? documentMentionTexts(doc);
    for (const { mention: m, query, sentence } of queries) {
      if (m.codes.length === 0 || m.fragments.length === 0) {
        withoutCode++;
        continue;
      }
      const expansion = query?.expansion;
      mentions.push({
        source: file,
        document: doc.id,
        group: m.label,
        start: m.fragments[0].start,
        end: m.fragments[m.fragments.length - 1].end,
        text: cleanText(m.text).trim(),
        code: [...new Set(m.codes)].sort().join("+"),
        sentence: sentence ?? "", // offsets that do not fit: the mention is still a name; only its context is lost
        ...(expansion === undefined ? {} : { expansion }),
        documentMentions,
        origin: m.source ?? `${file}:${doc.id}`,
      });
    }
  }
  return { mentions, withoutCode };
}

/** Key of a document of the memory: its source file and id. */
const documentKey = (source: string, document: string): string => `${source}\u0000${document}`;

const keyOf = (m: TrainingMention): string => `${m.document}\u0000${m.group}\u0000${m.start}\u0000${m.end}`;

/** A dataset as a checked training file: mentions with a code, duplicates folded (the last row wins). */
export function trainingReadOf(dataset: Dataset, source: string): TrainingRead {
  const { mentions, withoutCode } = trainingMentionsOf(dataset, source);
  const byKey = new Map<string, TrainingMention>();
  for (const m of mentions) {
    byKey.delete(keyOf(m)); // re-inserted: the last row's place in file order
    byKey.set(keyOf(m), m);
  }
  const rejected = dataset.problems.filter((p) => p.severity === "error");
  return { source: resolve(source), dataset, mentions: [...byKey.values()], duplicates: mentions.length - byKey.size, withoutCode, rejected };
}

/** Read and check one training file (whole-file problems, such as a missing file, throw). */
export async function readTrainingFile(file: TrainingFile, options: { readonly strict?: boolean } = {}): Promise<TrainingRead> {
  const dataset = await readDataset(file.path, { format: file.format, ...(file.textsDir === undefined ? {} : { textsDir: file.textsDir }), ...(options.strict ? { strict: true } : {}) });
  const read = trainingReadOf(dataset, file.path);
  if (dataset.documents.every((d) => d.mentions.length === 0) && read.rejected.length === 0) {
    // Nothing read and nothing rejected: most often the wrong --format for the file.
    const nothing: ReadProblem = { severity: "error", code: "DATA_BAD_ROW", file: file.path, message: `no mention read with --format ${file.format}: is the format right?` };
    return { ...read, rejected: [nothing] };
  }
  return read;
}

/** What one command stores: every file's rows, replacing each file's earlier ones. */
export interface TrainingPlan {
  /** Sources whose earlier rows are removed first. */
  readonly sources: readonly string[];
  /** Rows to store (KB groups only). */
  readonly rows: readonly TrainingMention[];
  /** Per file, `replaced` still 0 (known once stored). */
  readonly reports: readonly MentionsReport[];
}

/** The rows of `reads` that a KB with `groups` stores, and what each file reports. A file given twice: the last counts. */
export function planTraining(groups: Iterable<string>, reads: readonly TrainingRead[]): TrainingPlan {
  const known = new Set(groups);
  const last = new Map<string, TrainingRead>();
  for (const r of reads) {
    last.delete(r.source);
    last.set(r.source, r);
  }
  const rows: TrainingMention[] = [];
  const reports: MentionsReport[] = [];
  for (const r of last.values()) {
    const kept = r.mentions.filter((m) => known.has(m.group));
    rows.push(...kept);
    const skippedRows = r.rejected.map(describeProblem);
    for (const m of r.mentions) {
      if (skippedRows.length >= SKIPPED_EXAMPLES) break;
      if (!known.has(m.group)) skippedRows.push(`${m.origin}: the group ${JSON.stringify(m.group)} is not a group of the KB`);
    }
    const unknownGroup = r.mentions.length - kept.length;
    reports.push({
      source: r.source,
      documents: r.dataset.documents.length,
      read: r.dataset.documents.reduce((n, d) => n + d.mentions.length, 0),
      stored: kept.length,
      duplicates: r.duplicates,
      withoutCode: r.withoutCode,
      unknownGroup,
      rejected: r.rejected.length,
      skipped: r.rejected.length + unknownGroup,
      skippedRows: skippedRows.slice(0, SKIPPED_EXAMPLES),
      replaced: 0,
    });
  }
  return { sources: [...last.keys()], rows, reports };
}

/** Column names of a table. */
function columnsOf(db: Database.Database, table: string): Set<string> {
  return new Set((db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
}

/** Create the memory's tables, or bring an older memory's up to date (inside the caller's transaction). */
function ensureMemoryTables(db: Database.Database): void {
  db.exec(MENTIONS_TABLE_SQL);
  const have = columnsOf(db, "mentions");
  for (const [name, clause] of Object.entries(MENTIONS_MIGRATIONS)) if (!have.has(name)) db.exec(`ALTER TABLE mentions ADD COLUMN ${clause}`);
}

/** Store a plan inside the caller's transaction; returns the reports with the rows each file replaced. */
export function storeTrainingPlan(db: Database.Database, plan: TrainingPlan): MentionsReport[] {
  ensureMemoryTables(db);
  const remove = db.prepare("DELETE FROM mentions WHERE source = ?");
  const removeDocuments = db.prepare("DELETE FROM training_documents WHERE source = ?");
  const replaced = new Map(plan.sources.map((s) => [s, remove.run(s).changes]));
  for (const s of plan.sources) removeDocuments.run(s);
  const insert = db.prepare(
    "INSERT INTO mentions (source, document, grp, start, end, text, norm, code, sentence, origin, expansion) VALUES (@source, @document, @group, @start, @end, @text, @norm, @code, @sentence, @origin, @expansion)",
  );
  const insertDocument = db.prepare("INSERT OR REPLACE INTO training_documents (source, document, mentions) VALUES (?, ?, ?)");
  const documents = new Set<string>();
  for (const m of plan.rows) {
    insert.run({ source: m.source, document: m.document, group: m.group, start: m.start, end: m.end, text: m.text, norm: foldText(m.text), code: m.code, sentence: m.sentence, origin: m.origin, expansion: m.expansion ?? null });
    const key = documentKey(m.source, m.document);
    if (m.documentMentions === undefined || documents.has(key)) continue;
    documents.add(key);
    insertDocument.run(m.source, m.document, JSON.stringify(m.documentMentions));
  }
  return plan.reports.map((r) => ({ ...r, replaced: replaced.get(r.source) ?? 0 }));
}

function kbGroups(kbPath: string): readonly string[] {
  const kb = openKnowledgeBase(kbPath); // validates the file first
  try {
    return kb.groups();
  } finally {
    kb.close();
  }
}

/** Store checked training files in a KB index file: one transaction for all of them. */
export function storeTrainingReads(kbPath: string, reads: readonly TrainingRead[]): MentionsReport[] {
  const plan = planTraining(kbGroups(kbPath), reads);
  checkSomethingToStore(plan.reports);
  return withKbTransaction(resolve(kbPath), "training mentions", (db) => storeTrainingPlan(db, plan));
}

/** Store the training mentions of a dataset in a KB index file (groups must be KB groups). */
export function addTrainingMentions(kbPath: string, dataset: Dataset, source: string): MentionsReport {
  return storeTrainingReads(kbPath, [trainingReadOf(dataset, source)])[0] as MentionsReport;
}

/** Read and store training files in a KB index file (one transaction; nothing is stored when a file cannot be read). */
export async function addTrainingFiles(kbPath: string, files: readonly TrainingFile[], options: { readonly strict?: boolean } = {}): Promise<{ reports: MentionsReport[]; reads: TrainingRead[] }> {
  const reads: TrainingRead[] = [];
  for (const f of files) reads.push(await readTrainingFile(f, options));
  return { reports: storeTrainingReads(kbPath, reads), reads };
}

/** The memory's order: what `ORDER BY source, document, start, end, grp` gives (code point order of text). */
export function compareTrainingMentions(a: TrainingMention, b: TrainingMention): number {
  return compareCodePoints(a.source, b.source) || compareCodePoints(a.document, b.document) || a.start - b.start || a.end - b.end || compareCodePoints(a.group, b.group);
}

/** The memory as it will be once `plan` is stored (the stored rows of other files, plus the plan's), in memory order. */
export function trainingMemoryAfter(kbPath: string, plan: TrainingPlan): TrainingMention[] {
  const replaced = new Set(plan.sources);
  return [...readTrainingMentions(kbPath).filter((m) => !replaced.has(m.source)), ...plan.rows].sort(compareTrainingMentions);
}

/** Read the training memory (`none` without a mentions table); SQLite failures (a damaged file) are KB_INDEX_INVALID. */
function openMemory<T>(kbPath: string, read: (db: Database.Database) => T, none: T): T {
  const path = resolve(kbPath);
  recoverInterruptedWrite(path);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mentions'").get();
    return has === undefined ? none : read(db);
  } catch (e) {
    if (e instanceof SyncabelError) throw e;
    throw kbInvalid(path, `cannot read the training memory: ${(e as Error).message}`, e);
  } finally {
    db?.close();
  }
}

/** The stored document mention texts, one shared array per (source, document); none in an older memory. */
function storedDocumentMentions(db: Database.Database, path: string): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'training_documents'").get();
  if (has === undefined) return out;
  for (const r of db.prepare("SELECT source, document, mentions FROM training_documents").iterate() as Iterable<{ source: string; document: string; mentions: string }>) {
    let texts: unknown;
    try {
      texts = JSON.parse(r.mentions);
    } catch {
      texts = undefined;
    }
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string")) {
      throw kbInvalid(path, `the training memory's mention texts of document ${JSON.stringify(r.document)} are not a JSON array of strings: the file is damaged`);
    }
    out.set(documentKey(r.source, r.document), texts as string[]);
  }
  return out;
}

/** Every stored training mention (none when the KB has no training memory), in a stable order. */
export function readTrainingMentions(kbPath: string): TrainingMention[] {
  return openMemory(kbPath, (db) => {
    const expansion = columnsOf(db, "mentions").has("expansion") ? "expansion" : "NULL AS expansion"; // an older memory has none
    const rows = db.prepare(`SELECT source, document, grp, start, end, text, code, sentence, origin, ${expansion} FROM mentions ORDER BY source, document, start, end, grp`).all() as {
      source: string; document: string; grp: string; start: number; end: number; text: string; code: string; sentence: string; origin: string; expansion: string | null;
    }[];
    const documents = storedDocumentMentions(db, resolve(kbPath));
    return rows.map((r): TrainingMention => {
      const documentMentions = documents.get(documentKey(r.source, r.document));
      return {
        source: r.source, document: r.document, group: r.grp, start: r.start, end: r.end, text: r.text, code: r.code, sentence: r.sentence, origin: r.origin,
        ...(r.expansion === null ? {} : { expansion: r.expansion }),
        ...(documentMentions === undefined ? {} : { documentMentions }),
      };
    });
  }, []);
}

/** Size of the training memory: mentions, documents, and mentions per source file. */
export interface TrainingMemoryStats {
  readonly mentions: number;
  readonly documents: number;
  readonly sources: readonly { readonly source: string; readonly mentions: number }[];
}

export function trainingMemoryStats(kbPath: string): TrainingMemoryStats {
  return openMemory(kbPath, (db) => {
    const sources = db.prepare("SELECT source, COUNT(*) AS mentions FROM mentions GROUP BY source ORDER BY source").all() as { source: string; mentions: number }[];
    const documents = (db.prepare("SELECT COUNT(*) AS n FROM (SELECT DISTINCT source, document FROM mentions)").get() as { n: number }).n;
    return { mentions: sources.reduce((n, s) => n + s.mentions, 0), documents, sources };
  }, { mentions: 0, documents: 0, sources: [] });
}

/** The error when no file gave a single mention to store (nothing is written then). */
export function checkSomethingToStore(reports: readonly MentionsReport[]): void {
  if (reports.length > 0 && reports.every((r) => r.stored === 0)) {
    const first = reports[0] as MentionsReport;
    throw new SyncabelError("DATA_BAD_ROW", `no training mention to store from ${reports.map((r) => r.source).join(", ")}${first.skippedRows[0] ? ` (${first.skippedRows[0]})` : ""}`, { file: first.source });
  }
}
