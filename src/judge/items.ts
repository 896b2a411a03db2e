/**
 * What `syncabel judge` labels: one item per predicted mention (its top code), in the predictions file's order,
 * matched to the gold dataset on (document, label, start, end). The sentence is the predictions file's own marked
 * sentence when it has one (the authors' files do), else built from the gold document (conventions, section 1).
 */
import { NO_CODE } from "../constants.js";
import type { PredictionRow } from "../data/predictions-tsv.js";
import type { Dataset, Document, Mention } from "../data/types.js";
import { predictionsFromRows } from "../eval/adapters.js";
import { COMPOSITE_SEPARATOR, hasNoCode } from "../eval/codes.js";
import { mentionKey } from "../eval/evaluate.js";
import { buildMarkedSentence, SegmentationCache } from "../markup/sentence-builder.js";
import type { JudgeItem } from "./types.js";

/** Where gold codes come from: the gold dataset, or the predictions file's own `code` column where it has one. */
export type GoldCodeSource = "gold" | "predictions";

export interface JudgeItems {
  readonly items: JudgeItem[];
  /** Predicted mentions that are not gold mentions (not judged). */
  readonly withoutGold: number;
  /** Predicted mentions whose gold code is NO_CODE (not judged). */
  readonly goldNoCode: number;
  /** Items whose marked sentence could not be built (judged with an empty sentence). */
  readonly withoutSentence: number;
}

export function judgeItems(dataset: Dataset, rows: readonly PredictionRow[], goldCodes: GoldCodeSource = "predictions"): JudgeItems {
  const goldByKey = new Map<string, { doc: Document; mention: Mention }>();
  for (const doc of dataset.documents) {
    for (const m of doc.mentions) {
      if (m.fragments.length === 0) continue;
      const key = mentionKey({ doc: doc.id, label: m.label, start: m.fragments[0].start, end: m.fragments[m.fragments.length - 1].end });
      if (!goldByKey.has(key)) goldByKey.set(key, { doc, mention: m });
    }
  }
  const firstRow = new Map<string, PredictionRow>();
  for (const r of rows) {
    const key = mentionKey({ doc: r.filename, label: r.label, start: r.start, end: r.end });
    if (!firstRow.has(key)) firstRow.set(key, r);
  }
  const cache = new SegmentationCache();
  const items: JudgeItem[] = [];
  let withoutGold = 0;
  let goldNoCode = 0;
  let withoutSentence = 0;
  for (const p of predictionsFromRows(rows)) {
    const key = mentionKey(p);
    const gold = goldByKey.get(key);
    const row = firstRow.get(key) as PredictionRow;
    if (gold === undefined) {
      withoutGold++;
      continue;
    }
    const fromFile = goldCodes === "predictions" && row.code !== undefined && row.code.trim() !== "" ? row.code.trim() : undefined;
    const code = fromFile ?? (gold.mention.codes.length === 0 ? NO_CODE : gold.mention.codes.join(COMPOSITE_SEPARATOR));
    if (hasNoCode(code)) {
      goldNoCode++;
      continue;
    }
    let sentence = row.sentence?.trim() ?? "";
    if (sentence === "") {
      try {
        sentence = buildMarkedSentence(gold.doc, gold.mention, { cache }).sentence;
      } catch {
        withoutSentence++;
      }
    }
    items.push({ filename: p.doc, label: p.label, start: p.start, end: p.end, span: row.span ?? gold.mention.text, gold: code, predicted: p.codes[0] ?? NO_CODE, sentence });
  }
  return { items, withoutGold, goldNoCode, withoutSentence };
}
