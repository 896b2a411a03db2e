/**
 * Adapters from file-level records (datasets, predictions files, linker beams) to the evaluator's plain records.
 */
import type { Dataset } from "../data/types.js";
import type { PredictionRow } from "../data/predictions-tsv.js";
import { NO_CODE } from "../constants.js";
import { COMPOSITE_SEPARATOR, canonicalCode, codeSet } from "./codes.js";
import type { GoldMention, Prediction } from "./types.js";

/** Gold mentions of a dataset: a mention's span runs from its first fragment's start to its last fragment's end. */
export function goldFromDataset(dataset: Dataset): GoldMention[] {
  const out: GoldMention[] = [];
  for (const doc of dataset.documents) {
    for (const m of doc.mentions) {
      if (m.fragments.length === 0) continue;
      out.push({
        doc: doc.id,
        label: m.label,
        start: m.fragments[0].start,
        end: m.fragments[m.fragments.length - 1].end,
        code: m.codes.length === 0 ? NO_CODE : m.codes.join(COMPOSITE_SEPARATOR),
      });
    }
  }
  return out;
}

/** Every code (composite parts split) of a training dataset: the "seen" codes. */
export function codesOfDataset(dataset: Dataset): Set<string> {
  const out = new Set<string>();
  for (const doc of dataset.documents) for (const m of doc.mentions) for (const c of m.codes) for (const part of codeSet(c)) out.add(part);
  out.delete(NO_CODE);
  return out;
}

/**
 * Predictions from the rows of a predictions file: a row's beams are its `Predicted_codes_topk` when present, else
 * its `Predicted_code`; rows of one mention (same filename, label, offsets) are concatenated in `rank`, else line,
 * order.
 */
export function predictionsFromRows(rows: readonly PredictionRow[]): Prediction[] {
  const groups = new Map<string, PredictionRow[]>();
  for (const r of rows) {
    const key = `${r.filename}\u0000${r.label}\u0000${r.start}\u0000${r.end}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  const out: Prediction[] = [];
  for (const g of groups.values()) {
    const ranked = [...g].sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0) || a.line - b.line);
    const first = ranked[0];
    // A row's beams: its top-k list when the file has one (syncabel's writer), else its one Predicted_code.
    const codes = ranked.flatMap((r) => r.topCodes ?? [r.predictedCode]);
    const scores = ranked.flatMap((r): (number | undefined)[] =>
      r.topCodes ? (r.topScores?.length === r.topCodes.length ? [...r.topScores] : r.topCodes.map(() => undefined)) : [r.beamScore ?? r.predictionScore],
    );
    out.push({
      doc: first.filename,
      label: first.label,
      start: first.start,
      end: first.end,
      codes,
      ...(scores.every((s): s is number => s !== undefined) ? { scores } : {}),
      ...(first.confidence === undefined ? {} : { confidence: first.confidence }),
      ...(first.abstained === true ? { abstained: true } : {}),
    });
  }
  return out;
}

/**
 * The gold mentions with their codes replaced by the gold `code` a predictions file states for the same mention,
 * where it states one. The authors' files carry their own gold column, which differs from the published gold for
 * a few mentions (codes mapped to their KB version); their figures were computed against it.
 * Returns the new list and how many mentions changed code (compared as sets).
 */
export function goldWithPredictionCodes(gold: readonly GoldMention[], rows: readonly PredictionRow[]): { gold: GoldMention[]; changed: number } {
  const stated = new Map<string, string>();
  for (const r of rows) {
    if (r.code === undefined || r.code === "") continue;
    const key = `${r.filename}\u0000${r.label}\u0000${r.start}\u0000${r.end}`;
    if (!stated.has(key)) stated.set(key, r.code);
  }
  let changed = 0;
  const out = gold.map((g) => {
    const code = stated.get(`${g.doc}\u0000${g.label}\u0000${g.start}\u0000${g.end}`);
    if (code === undefined || canonicalCode(code) === canonicalCode(g.code)) return g;
    changed++;
    return { ...g, code };
  });
  return { gold: out, changed };
}
