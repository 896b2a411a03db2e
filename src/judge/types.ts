/** The records of `syncabel judge`. */
import type { JudgmentLabel } from "../eval/judgments.js";

/** One prediction to label: a mention, its gold and top predicted codes, and its marked sentence. */
export interface JudgeItem {
  readonly filename: string;
  /** The mention's semantic group (the judgments file's `label` column). */
  readonly label: string;
  readonly start: number;
  readonly end: number;
  /** The mention text. */
  readonly span: string;
  /** Gold code (composite `a+b`). */
  readonly gold: string;
  /** Top predicted code (composite `a+b`, or NO_CODE). */
  readonly predicted: string;
  /** The marked sentence `...[mention]{GROUP}...` ("" when it could not be built). */
  readonly sentence: string;
}

/** Labels a model gives (STRICT and PARTIAL come from the codes). */
export const MODEL_LABELS = ["EXACT", "BROAD", "NARROW", "NO_RELATION"] as const;
export type ModelLabel = (typeof MODEL_LABELS)[number];

export interface Verdict {
  readonly label: JudgmentLabel;
  /** How it was decided: by the codes alone, by the model in this run, or from the cache. */
  readonly by: "codes" | "model" | "cache";
  readonly explanation?: string;
}

/** One cache line: a model verdict for a (gold, prediction, context) under one model and prompt. */
export interface CacheRecord {
  readonly key: string;
  readonly label: ModelLabel;
  readonly explanation: string;
  readonly model: string;
  readonly attempts: number;
  readonly gold: string;
  readonly predicted: string;
  readonly mention: string;
  readonly usage?: { readonly promptTokens: number; readonly completionTokens: number };
}
