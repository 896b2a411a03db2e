import type { ErrorCode, ErrorDetails } from "../errors.js";

export { NO_CODE } from "../constants.js";

/** One ranked answer for a mention: the wire format of `sample()` (conventions, section 6). */
export interface Beam {
  readonly mention: string;
  readonly semantic_group: string;
  readonly pred_concept_name: string;
  readonly pred_concept_code: string;
  /** exp(length-normalised log-probability) for generative linkers; cosine for the lexical one. */
  readonly beam_score: number;
  /**
   * Every code of the generated name(s) (a name may belong to several concepts; composite answers: each part's),
   * deduplicated; [] when no name is a KB name. `pred_concept_code` is the authors' string (docs/decoding.md).
   */
  readonly pred_concept_codes: readonly string[];
  /**
   * false when the beam was cut by max_new_tokens before its end-of-sequence token: its name is a partial KB name
   * (so its code is usually NO_CODE). Ranked among the others by score, as transformers ranks them. Absent: finished.
   */
  readonly finished?: false;
  /**
   * Calibrated P(this candidate is right) (src/linker/calibration.ts): the first beam's is the result's
   * `confidence`; over the list they sum to at most 1. Absent when the linker has no calibration.
   */
  readonly probability?: number;
}

export interface SentenceError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: ErrorDetails;
}

/** Result for one input sentence: its beams, best first, or the error that stopped it alone. */
export type SampleResult =
  | ({ readonly sentence: string; readonly beams: readonly Beam[]; readonly error?: undefined } & Calibrated)
  | ({ readonly sentence: string; readonly beams?: undefined; readonly error: SentenceError } & { readonly [K in keyof Calibrated]?: undefined });

/** What a calibrated linker adds to a result (src/linker/calibrated-linker.ts); absent without a calibration. */
export interface Calibrated {
  /** Calibrated probability that the first beam's code is right. */
  readonly confidence?: number;
  /** The answer: the first beam's code, or NO_CODE when the linker abstained. */
  readonly code?: string;
  /** true when `confidence` is below the minimum asked for: `code` is NO_CODE, the beams are kept for review. */
  readonly abstained?: true;
}

export interface SampleOptions {
  /** Restrict outputs to KB names of the mention's group (default true). */
  readonly constrained?: boolean;
  /** Beams for generative linkers, candidates for the lexical one (default 5). */
  readonly num_beams?: number;
  /** Sentences per model batch (default 8). */
  readonly batch_size?: number;
  readonly max_new_tokens?: number;
  /** Longest prompt, in tokens, a generative linker accepts; a longer sentence gets SENTENCE_TOO_LONG (default 1024). */
  readonly max_prompt_tokens?: number;
  /** Stop early: the call rejects with an INTERRUPTED error (linkers that work in steps check it between steps). */
  readonly signal?: AbortSignal;
  /** Called once per sentence as soon as its result is known (progress per mention inside a long batch). */
  readonly onSentenceDone?: () => void;
  /**
   * Per sentence (same order): the long form of its mention when the mention is a short form defined in its
   * document (src/lexical/abbreviations.ts). The hybrid linker also queries with it; other linkers ignore it.
   */
  readonly expansions?: readonly (string | undefined)[];
  /**
   * Per sentence (same order): the texts of every mention of its document, one array shared by the sentences of
   * a document. The hybrid linker's document-level features use it; other linkers ignore it.
   */
  readonly documentMentions?: readonly (readonly string[] | undefined)[];
}

/** Anything that links marked sentences: generative (model), lexical (TF-IDF), hybrid. */
export interface Linker {
  readonly kind: string;
  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]>;
  close(): Promise<void>;
}
