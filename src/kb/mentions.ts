/**
 * The training memory of a KB index: annotated mentions of training files (any dataset reader) stored in the
 * `mentions` table with their group, normalised text, gold code (composite `a+b`) and provenance. The hybrid
 * linker turns them into extra names of their concepts and into code counts (src/linker/hybrid-index.ts).
 */
import { resolve } from "node:path";
import Database from "better-sqlite3";
import type { Dataset } from "../data/types.js";
import { SyncabelError } from "../errors.js";
import { foldText } from "../lexical/normalize.js";
import { buildMarkedSentence, SegmentationCache } from "../markup/sentence-builder.js";
import { cleanText } from "../markup/clean.js";
import { MENTIONS_TABLE_SQL } from "./schema.js";
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
  /** The marked sentence of the mention (conventions, section 1); "" when it could not be built. */
  readonly sentence: string;
  /** "file:line" of the annotation. */
  readonly origin: string;
}

export interface MentionsReport {
  readonly source: string;
  readonly documents: number;
  /** Mentions stored (replacing any earlier row of the same source, document, group and offsets). */
  readonly stored: number;
  /** Mentions without a gold code (NO_CODE, -1): not stored. */
  readonly withoutCode: number;
  /** Mentions whose group is not a KB group: not stored. */
  readonly unknownGroup: number;
}

/** The storable training mentions of a dataset (mentions with a gold code). */
export function trainingMentionsOf(dataset: Dataset, source: string): { mentions: TrainingMention[]; withoutCode: number } {
  const cache = new SegmentationCache();
  const mentions: TrainingMention[] = [];
  let withoutCode = 0;
  const file = resolve(source);
  for (const doc of dataset.documents) {
    for (const m of doc.mentions) {
      if (m.codes.length === 0 || m.fragments.length === 0) {
        withoutCode++;
        continue;
      }
      let sentence = "";
      try {
        sentence = buildMarkedSentence(doc, m, { cache }).sentence;
      } catch {
        // Offsets that do not fit: the mention is still a name; only its context is lost.
      }
      mentions.push({
        source: file,
        document: doc.id,
        group: m.label,
        start: m.fragments[0].start,
        end: m.fragments[m.fragments.length - 1].end,
        text: cleanText(m.text).trim(),
        code: [...new Set(m.codes)].sort().join("+"),
        sentence,
        origin: m.source ?? `${file}:${doc.id}`,
      });
    }
  }
  return { mentions, withoutCode };
}

/** Store the training mentions of a dataset in a KB index file (groups must be KB groups). */
export function addTrainingMentions(kbPath: string, dataset: Dataset, source: string): MentionsReport {
  const kb = openKnowledgeBase(kbPath); // validates the file first
  const groups = new Set(kb.groups());
  kb.close();
  const { mentions, withoutCode } = trainingMentionsOf(dataset, source);
  const known = mentions.filter((m) => groups.has(m.group));
  let db: Database.Database | undefined;
  try {
    db = new Database(resolve(kbPath), { fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    db.exec(MENTIONS_TABLE_SQL);
    const insert = db.prepare("INSERT OR REPLACE INTO mentions VALUES (@source, @document, @group, @start, @end, @text, @norm, @code, @sentence, @origin)");
    db.transaction(() => {
      for (const m of known) insert.run({ ...m, norm: foldText(m.text) });
    })();
  } catch (e) {
    throw new SyncabelError("IO_ERROR", `${kbPath}: cannot store training mentions: ${(e as Error).message}`, { path: kbPath }, { cause: e });
  } finally {
    db?.close();
  }
  return { source: resolve(source), documents: dataset.documents.length, stored: known.length, withoutCode, unknownGroup: mentions.length - known.length };
}

/** Every stored training mention (none when the KB has no training memory), in a stable order. */
export function readTrainingMentions(kbPath: string): TrainingMention[] {
  const db = new Database(resolve(kbPath), { readonly: true, fileMustExist: true });
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mentions'").get();
    if (has === undefined) return [];
    const rows = db.prepare("SELECT source, document, grp, start, end, text, code, sentence, origin FROM mentions ORDER BY source, document, start, end, grp").all() as {
      source: string; document: string; grp: string; start: number; end: number; text: string; code: string; sentence: string; origin: string;
    }[];
    return rows.map((r) => ({ source: r.source, document: r.document, group: r.grp, start: r.start, end: r.end, text: r.text, code: r.code, sentence: r.sentence, origin: r.origin }));
  } finally {
    db.close();
  }
}
