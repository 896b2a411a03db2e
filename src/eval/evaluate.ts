import { SyncabelError } from "../errors.js";
import { NO_CODE } from "../constants.js";
import { bootstrapIntervals, type DocTally } from "./bootstrap.js";
import { canonicalCode, CODE_COMPARISONS, codeKey, codeSet, hasNoCode, type CodeComparison } from "./codes.js";
import type { EvalOptions, EvalReport, GoldMention, Prediction, ScoreRow } from "./types.js";
import type { ConfidencePoint } from "./calibration-metrics.js";
import { calibrationReport, tallyConfidence } from "./calibration-report.js";

export const DEFAULT_RESAMPLES = 1000;
export const DEFAULT_SEED = 20240601;
export const DEFAULT_CONFIDENCE = 0.95;

/** The key mentions are matched and de-duplicated on. */
export function mentionKey(m: { doc: string; label: string; start: number; end: number }): string {
  return `${m.doc}\u0000${m.label}\u0000${m.start}\u0000${m.end}`;
}

/** 1-based rank of the gold code among the distinct predicted codes (compared as `comparison` says), Infinity when absent. */
export function goldRank(goldCode: string, predicted: readonly string[], comparison: CodeComparison = "set"): number {
  const gold = codeKey(goldCode, comparison);
  const seen = new Set<string>();
  for (const raw of predicted) {
    const c = codeKey(raw, comparison);
    if (seen.has(c)) continue;
    seen.add(c);
    if (c === gold) return seen.size;
  }
  return Number.POSITIVE_INFINITY;
}

function distinctCount(codes: readonly string[], comparison: CodeComparison): number {
  return new Set(codes.map((c) => codeKey(c, comparison))).size;
}

function validate(m: GoldMention | Prediction, what: string, index: number): void {
  if (typeof m.doc !== "string" || typeof m.label !== "string" || !Number.isFinite(m.start) || !Number.isFinite(m.end)) {
    throw new SyncabelError("EVAL_INVALID_INPUT", `${what} #${index + 1} lacks a document, label or numeric offsets`, { index });
  }
}

interface Scored {
  readonly doc: number;
  readonly label: string;
  readonly seen?: boolean;
  readonly rank: number;
}

/**
 * Score ranked predictions against gold mentions (conventions, section 8): exact code match with composite codes
 * compared as sets, gold NO_CODE excluded, mentions de-duplicated on (document, label, start, end), Recall@k as
 * "the gold code is among the first k distinct predicted codes", document-level percentile bootstrap intervals.
 */
export function evaluate(gold: readonly GoldMention[], predictions: readonly Prediction[], options: EvalOptions = {}): EvalReport {
  const resamples = options.resamples ?? DEFAULT_RESAMPLES;
  const seed = options.seed ?? DEFAULT_SEED;
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  if (!Number.isInteger(resamples) || resamples < 0) throw new SyncabelError("EVAL_INVALID_INPUT", `resamples must be a non-negative integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1)) throw new SyncabelError("EVAL_INVALID_INPUT", `confidence must lie in (0, 1), got ${confidence}`);
  const comparison = options.codes ?? "set";
  if (!CODE_COMPARISONS.includes(comparison)) throw new SyncabelError("EVAL_INVALID_INPUT", `codes must be set or authors, got ${JSON.stringify(comparison)}`);

  const predByKey = new Map<string, Prediction>();
  let predictionDuplicates = 0;
  predictions.forEach((p, i) => {
    validate(p, "prediction", i);
    const key = mentionKey(p);
    if (predByKey.has(key)) predictionDuplicates++;
    else predByKey.set(key, p);
  });

  const ks = options.ks ?? defaultKs(predByKey.values(), comparison);
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new SyncabelError("EVAL_INVALID_INPUT", `cut-offs k must be positive integers, got ${JSON.stringify(ks)}`);
  }

  const goldKeys = new Set<string>();
  const docIndex = new Map<string, number>();
  const scored: Scored[] = [];
  let goldDuplicates = 0;
  let goldNoCode = 0;
  let withoutPrediction = 0;
  let predictionsOfNoCode = 0;
  let withPrediction = 0;
  let topNoCode = 0;
  const confidences: ConfidencePoint[] = [];
  let withoutConfidence = 0;
  const abstention = { abstained: 0, abstainedTopRight: 0, answered: 0, answeredRight: 0 };
  gold.forEach((g, i) => {
    validate(g, "gold mention", i);
    const key = mentionKey(g);
    if (goldKeys.has(key)) {
      goldDuplicates++;
      return;
    }
    goldKeys.add(key);
    const prediction = predByKey.get(key);
    if (hasNoCode(g.code)) {
      goldNoCode++;
      if (prediction) predictionsOfNoCode++;
      return;
    }
    if (!prediction) {
      withoutPrediction++;
      if (options.onlyPredicted) return;
    } else {
      withPrediction++;
      if (prediction.codes.length > 0 && canonicalCode(prediction.codes[0]) === NO_CODE) topNoCode++;
    }
    let doc = docIndex.get(g.doc);
    if (doc === undefined) {
      doc = docIndex.size;
      docIndex.set(g.doc, doc);
    }
    const seen = options.trainCodes ? codeSet(g.code).every((c) => options.trainCodes!.has(c)) : undefined;
    const candidateRank = prediction ? goldRank(g.code, prediction.codes, comparison) : Number.POSITIVE_INFINITY;
    if (prediction && !tallyConfidence(prediction, candidateRank === 1, confidences, abstention)) withoutConfidence++;
    // An abstention answers NO_CODE: a miss at every k (its candidates are counted apart).
    scored.push({ doc, label: g.label, seen, rank: prediction?.abstained ? Number.POSITIVE_INFINITY : candidateRank });
  });
  if (scored.length === 0) {
    // A recall over no mention is not 0 %: it is no measurement at all.
    throw new SyncabelError(
      "EVAL_INVALID_INPUT",
      `no gold mention to score: ${gold.length} gold rows (${goldDuplicates} duplicates, ${goldNoCode} NO_CODE` +
        `${options.onlyPredicted ? `, ${withoutPrediction} without a prediction (only predicted mentions scored)` : ""}` +
        `${options.goldRowsSkipped ? `, ${options.goldRowsSkipped} more skipped as malformed` : ""}): check the gold file, its format and the predictions' document names`,
      { gold_rows: gold.length },
    );
  }
  let predictionsWithoutGold = 0;
  for (const key of predByKey.keys()) if (!goldKeys.has(key)) predictionsWithoutGold++;

  // Subsets to score: overall, each label, seen / unseen.
  const labels = [...new Set(scored.map((s) => s.label))].sort();
  const subsets: { name: string; test: (s: Scored) => boolean }[] = [
    { name: "overall", test: () => true },
    ...labels.map((l) => ({ name: `label:${l}`, test: (s: Scored) => s.label === l })),
  ];
  if (options.trainCodes) {
    subsets.push({ name: "seen", test: (s) => s.seen === true }, { name: "unseen", test: (s) => s.seen === false });
  }
  const documents = docIndex.size;
  const tallies: DocTally[] = subsets.map((sub) => {
    const n = new Float64Array(documents);
    const hits = ks.map(() => new Float64Array(documents));
    for (const s of scored) {
      if (!sub.test(s)) continue;
      n[s.doc] += 1;
      ks.forEach((k, ki) => {
        if (s.rank <= k) hits[ki][s.doc] += 1;
      });
    }
    return { n, hits };
  });
  const intervals = resamples > 0 && documents > 0 ? bootstrapIntervals(tallies, documents, { resamples, seed, confidence }) : undefined;
  const rows = tallies.map((t, ti) => toRow(t, ks, intervals?.[ti]));

  const byLabel: Record<string, ScoreRow> = {};
  labels.forEach((l, i) => (byLabel[l] = rows[1 + i]));
  const report: EvalReport = {
    ks: [...ks],
    codes: comparison,
    only_predicted: options.onlyPredicted ?? false,
    counts: {
      gold_rows: gold.length,
      gold_rows_skipped: options.goldRowsSkipped ?? 0,
      gold_duplicates: goldDuplicates,
      gold_no_code: goldNoCode,
      gold_without_prediction: withoutPrediction,
      scored: scored.length,
      documents,
      prediction_rows: predictions.length,
      prediction_duplicates: predictionDuplicates,
      predictions_without_gold: predictionsWithoutGold,
      predictions_of_no_code_gold: predictionsOfNoCode,
    },
    no_code_rate: withPrediction === 0 ? 0 : topNoCode / withPrediction,
    overall: rows[0],
    by_label: byLabel,
    ...(options.trainCodes ? { seen: rows[1 + labels.length], unseen: rows[2 + labels.length] } : {}),
    bootstrap: { resamples, seed, confidence, unit: "document" },
    ...(options.elapsedSeconds !== undefined && options.elapsedSeconds > 0
      ? { mentions_per_second: predByKey.size / options.elapsedSeconds }
      : {}),
    ...(confidences.length > 0 ? { calibration: calibrationReport(confidences, withoutConfidence) } : {}),
    ...(abstention.abstained > 0
      ? { abstentions: { abstained: abstention.abstained, abstained_top_right: abstention.abstainedTopRight, answered: abstention.answered, answered_recall_at_1: abstention.answered === 0 ? 0 : abstention.answeredRight / abstention.answered } }
      : {}),
  };
  return report;
}

function defaultKs(predictions: Iterable<Prediction>, comparison: CodeComparison): number[] {
  let max = 1;
  for (const p of predictions) max = Math.max(max, distinctCount(p.codes, comparison));
  return Array.from({ length: max }, (_, i) => i + 1);
}

function toRow(t: DocTally, ks: readonly number[], intervals: [number, number][] | undefined): ScoreRow {
  let n = 0;
  for (const v of t.n) n += v;
  const hits: Record<string, number> = {};
  const recall: Record<string, number> = {};
  const ci: Record<string, readonly [number, number]> = {};
  ks.forEach((k, ki) => {
    let h = 0;
    for (const v of t.hits[ki]) h += v;
    hits[k] = h;
    recall[k] = n === 0 ? 0 : h / n;
    if (intervals && n > 0) ci[k] = intervals[ki];
  });
  return intervals && n > 0 ? { n, hits, recall, ci } : { n, hits, recall };
}
