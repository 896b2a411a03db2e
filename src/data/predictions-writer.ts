/**
 * Writers of link-docs predictions.
 *
 * TSV (the authors' layout, read back by src/data/predictions-tsv.ts):
 *   header = PREDICTION_TSV_COLUMNS, one row per gold mention, in document then mention order.
 *   - filename, label, start_span, end_span, span, code: the gold mention (`code` = gold codes joined
 *     with `+`, `NO_CODE` when none; for a discontinuous mention start_span/end_span are the first start
 *     and the last end, span the fragments joined by one space).
 *   - annotation: the gold KB name when known, else empty.
 *   - sentence: the marked sentence given to the linker.
 *   - Prediction, Prediction_beam_score, Predicted_code: the BEST beam (rank 1). When the mention failed
 *     (bad offsets, a linker error for that sentence) or no beam came back: Prediction empty,
 *     Prediction_beam_score empty, Predicted_code `NO_CODE`, and the reason in `error`.
 *   - then extra columns: semantic_rel, error, and all beams best first as JSON arrays:
 *     Predictions_topk (names), Predicted_codes_topk (codes), Prediction_beam_scores_topk (numbers).
 *   Fields: tabs / line breaks inside a field become spaces; a field holding `"` is CSV-quoted
 *   (`"..."`, inner quotes doubled) exactly like the authors' files, so read them with a quote-aware split
 *   (src/data/tsv.ts `quotedTsvFields`). The JSON arrays therefore always come quoted.
 * JSONL: one PredictionJson object per mention with every beam.
 */
import type { Beam, SentenceError } from "../linker/types.js";
import { NO_CODE } from "../constants.js";
import { quoteTsvField } from "./tsv.js";
import type { Mention } from "./types.js";

export const PREDICTION_TSV_COLUMNS = [
  "filename",
  "label",
  "start_span",
  "end_span",
  "span",
  "code",
  "annotation",
  "sentence",
  "Prediction",
  "Prediction_beam_score",
  "Predicted_code",
  "semantic_rel",
  "error",
  "Predictions_topk",
  "Predicted_codes_topk",
  "Prediction_beam_scores_topk",
  "confidence",
  "abstained",
] as const;

export interface PredictionRecord {
  readonly document: string;
  readonly mention: Mention;
  /** The marked sentence ("" when it could not be built). */
  readonly sentence: string;
  /** Beams best first; [] when none. */
  readonly beams: readonly Beam[];
  readonly error?: SentenceError;
  /** Gold KB name, when the caller knows it. */
  readonly annotation?: string;
  /** Calibrated P(top code right), and whether the linker abstained (then the predicted code is NO_CODE). */
  readonly confidence?: number;
  readonly abstained?: boolean;
}

export interface PredictionJson {
  readonly document: string;
  readonly mention_id: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  readonly fragments: readonly (readonly [number, number])[];
  readonly span: string;
  readonly codes: readonly string[];
  readonly semantic_rel?: string;
  readonly annotation?: string;
  readonly sentence: string;
  readonly beams: readonly Beam[];
  readonly error?: SentenceError;
  readonly confidence?: number;
  readonly abstained?: true;
}

/** Gold codes as the authors print them: `a+b`, `NO_CODE` for none. */
export function goldCodeField(codes: readonly string[]): string {
  return codes.length === 0 ? NO_CODE : codes.join("+");
}

function field(value: string): string {
  return quoteTsvField(value.replace(/[\t\r\n]/g, " "));
}

export function predictionTsvHeader(): string {
  return PREDICTION_TSV_COLUMNS.join("\t");
}

/** One TSV row (without line end). */
export function predictionTsvRow(r: PredictionRecord): string {
  const m = r.mention;
  const first = m.fragments[0];
  const last = m.fragments[m.fragments.length - 1];
  const best = r.error === undefined && r.abstained !== true ? r.beams[0] : undefined;
  const values: Record<(typeof PREDICTION_TSV_COLUMNS)[number], string> = {
    filename: r.document,
    label: m.label,
    start_span: String(first?.start ?? ""),
    end_span: String(last?.end ?? ""),
    span: m.text,
    code: goldCodeField(m.codes),
    annotation: r.annotation ?? "",
    sentence: r.sentence,
    Prediction: best?.pred_concept_name ?? "",
    Prediction_beam_score: best === undefined ? "" : String(best.beam_score),
    Predicted_code: best?.pred_concept_code ?? NO_CODE,
    semantic_rel: m.semanticRel ?? "",
    error: r.error === undefined ? (best === undefined && r.abstained !== true ? "no prediction" : "") : `${r.error.code}: ${r.error.message}`,
    Predictions_topk: JSON.stringify(r.beams.map((b) => b.pred_concept_name)),
    Predicted_codes_topk: JSON.stringify(r.beams.map((b) => b.pred_concept_code)),
    Prediction_beam_scores_topk: JSON.stringify(r.beams.map((b) => b.beam_score)),
    confidence: r.confidence === undefined ? "" : String(r.confidence),
    abstained: r.abstained === true ? "true" : "",
  };
  return PREDICTION_TSV_COLUMNS.map((c) => field(values[c])).join("\t");
}

export function predictionJson(r: PredictionRecord): PredictionJson {
  const m = r.mention;
  return {
    document: r.document,
    mention_id: m.id,
    label: m.label,
    start: m.fragments[0]?.start ?? -1,
    end: m.fragments[m.fragments.length - 1]?.end ?? -1,
    fragments: m.fragments.map((f) => [f.start, f.end] as const),
    span: m.text,
    codes: m.codes,
    ...(m.semanticRel === undefined ? {} : { semantic_rel: m.semanticRel }),
    ...(r.annotation === undefined ? {} : { annotation: r.annotation }),
    sentence: r.sentence,
    beams: r.beams,
    ...(r.error === undefined ? {} : { error: r.error }),
    ...(r.confidence === undefined ? {} : { confidence: r.confidence }),
    ...(r.abstained === true ? { abstained: true as const } : {}),
  };
}

/** One JSONL line (without line end). */
export function predictionJsonlLine(r: PredictionRecord): string {
  return JSON.stringify(predictionJson(r));
}
