/**
 * Plain records the evaluator works on, independent of any file format (adapters in src/eval/adapters.ts).
 */
import type { CodeComparison } from "./codes.js";

/** One gold mention. `code` is the raw gold code: a code, a composite `a+b`, or NO_CODE. */
export interface GoldMention {
  readonly doc: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  readonly code: string;
}

/** The ranked answers of a linker for one mention (matched to gold on doc, label, start, end). */
export interface Prediction {
  readonly doc: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  /** Predicted codes, best first (each may be composite `a+b` or NO_CODE). */
  readonly codes: readonly string[];
  /** Scores of `codes`, same order, when known. */
  readonly scores?: readonly number[];
  /** Calibrated P(codes[0] is right), when the linker was calibrated. */
  readonly confidence?: number;
  /** The linker abstained (answered NO_CODE, `codes` are the candidates it kept): a miss at every k. */
  readonly abstained?: boolean;
}

export interface EvalOptions {
  /**
   * Score only gold mentions that have a prediction (the authors' protocol: they did not predict mentions whose
   * gold code was missing from their KB). Default false: a gold mention without prediction is a miss.
   */
  readonly onlyPredicted?: boolean;
  /** Codes of a training file: gold mentions whose codes all appear here are "seen", the others "unseen". */
  readonly trainCodes?: ReadonlySet<string>;
  /** Cut-offs k of Recall@k (default 1..the largest number of codes of a prediction, at least [1]). */
  readonly ks?: readonly number[];
  /** Bootstrap resamples (default 1000). 0 disables the confidence intervals. */
  readonly resamples?: number;
  /** Seed of the bootstrap PRNG (default 20240601). */
  readonly seed?: number;
  /** Confidence level of the percentile interval (default 0.95). */
  readonly confidence?: number;
  /** Wall-clock seconds the linker needed for the predictions, when known (gives mentions/s). */
  readonly elapsedSeconds?: number;
  /** Gold rows the reader skipped as malformed (reported beside the scores: they are not scored). */
  readonly goldRowsSkipped?: number;
  /** How code strings are compared (src/eval/codes.ts): "set" (default) or "authors" (sorted parts, repeats kept). */
  readonly codes?: CodeComparison;
}

/** Recall at every k for a set of mentions, with percentile bootstrap intervals. Fractions in [0, 1]. */
export interface ScoreRow {
  readonly n: number;
  readonly hits: Readonly<Record<string, number>>;
  readonly recall: Readonly<Record<string, number>>;
  /** [low, high] per k; absent when the bootstrap is disabled or n = 0. */
  readonly ci?: Readonly<Record<string, readonly [number, number]>>;
}

export interface EvalReport {
  readonly ks: readonly number[];
  /** How code strings were compared: "set" or "authors". */
  readonly codes: CodeComparison;
  readonly only_predicted: boolean;
  readonly counts: {
    /** Gold rows given. */
    readonly gold_rows: number;
    /** Gold rows of the file skipped while reading (malformed): not in gold_rows, not scored. */
    readonly gold_rows_skipped: number;
    /** Gold rows dropped as repeats of an earlier (doc, label, start, end). */
    readonly gold_duplicates: number;
    /** Distinct gold mentions with NO_CODE (or a composite with a NO_CODE part): excluded. */
    readonly gold_no_code: number;
    /** Distinct non-NO_CODE gold mentions without any prediction (misses, or excluded with onlyPredicted). */
    readonly gold_without_prediction: number;
    /** Mentions scored. */
    readonly scored: number;
    readonly documents: number;
    readonly prediction_rows: number;
    /** Prediction records repeating an earlier key (the first one is kept). */
    readonly prediction_duplicates: number;
    /** Predictions whose key is not a gold mention. */
    readonly predictions_without_gold: number;
    /** Predictions of gold NO_CODE mentions (ignored). */
    readonly predictions_of_no_code_gold: number;
  };
  /** Share of scored mentions with a prediction whose top answer is NO_CODE. */
  readonly no_code_rate: number;
  readonly overall: ScoreRow;
  readonly by_label: Readonly<Record<string, ScoreRow>>;
  /** Present when training codes were given. */
  readonly seen?: ScoreRow;
  readonly unseen?: ScoreRow;
  readonly bootstrap: { readonly resamples: number; readonly seed: number; readonly confidence: number; readonly unit: "document" };
  readonly mentions_per_second?: number;
  /** Calibration and selective accuracy of the predictions' confidences (src/eval/calibration-report.ts). */
  readonly calibration?: CalibrationReport;
  /** Abstentions, counted apart: present when some prediction abstained. */
  readonly abstentions?: AbstentionReport;
}

export interface CalibrationReport {
  /** Scored mentions whose prediction carries a confidence (the others are left out of these figures). */
  readonly mentions: number;
  readonly without_confidence: number;
  /** Expected calibration error over `bins` equal-mass bins of confidence. */
  readonly ece: number;
  readonly bins: number;
  readonly brier: number;
  readonly mean_confidence: number;
  /** Share of those mentions whose top candidate is right (abstained ones judged on their top candidate). */
  readonly accuracy: number;
  readonly reliability: readonly { readonly n: number; readonly confidence: number; readonly accuracy: number; readonly min: number; readonly max: number }[];
  /** Recall@1 of the most confident 50 / 80 / 90 / 100 % (kept mentions). */
  readonly selective: readonly { readonly coverage: number; readonly kept: number; readonly accuracy: number }[];
  /** Largest share kept by a confidence threshold with accuracy at least 90 % / 95 %. */
  readonly coverage_at_accuracy: Readonly<Record<string, number>>;
  /** Recall@1 of the most confident 1, 2, ..., 100 % (the plotted accuracy / coverage curve). */
  readonly curve: readonly { readonly coverage: number; readonly accuracy: number }[];
}

export interface AbstentionReport {
  /** Scored mentions whose prediction abstained (misses in the recall figures above). */
  readonly abstained: number;
  /** Of those, how many had the gold code first among their kept candidates. */
  readonly abstained_top_right: number;
  /** Scored mentions answered (with a prediction that did not abstain) and their Recall@1. */
  readonly answered: number;
  readonly answered_recall_at_1: number;
}
