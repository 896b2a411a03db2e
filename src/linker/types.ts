import type { MentionQuery } from "../data/mention-queries.js";
import type { ErrorJson } from "../errors.js";

export type { MentionQuery };
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

/** Per-mention error of a batch result. */
export type SentenceError = ErrorJson;

/** The linkers `openLinker` opens (`Linker.kind`). */
export type LinkerKind = "generative" | "tfidf" | "hybrid" | "retrieve-generate";
export const LINKER_KINDS: readonly LinkerKind[] = ["hybrid", "tfidf", "generative", "retrieve-generate"];

/** What a calibrated linker adds to a result (src/linker/calibrated-linker.ts); absent without a calibration. */
export interface Calibrated {
  /** Calibrated probability that the first beam's code is right. */
  readonly confidence?: number;
  /** The answer: the first beam's code, or NO_CODE when the linker abstained. */
  readonly code?: string;
  /** true when `confidence` is below the minimum asked for: `code` is NO_CODE, the beams are kept for review. */
  readonly abstained?: true;
}

/** Result for one mention query: its beams, best first (with a calibrated linker's confidence), or the error that stopped it alone. */
export type LinkResult =
  | ({ readonly beams: readonly Beam[]; readonly error?: undefined } & Calibrated)
  | ({ readonly beams?: undefined; readonly error: ErrorJson } & { readonly [K in keyof Calibrated]?: undefined });

/** Result for one input sentence of `sample()`: a LinkResult with the sentence as given. */
export type SampleResult = LinkResult & { readonly sentence: string };

/** Options of `Linker.link`. */
export interface LinkOptions {
  /** Restrict outputs to KB names of the mention's group (default true). */
  readonly constrained?: boolean;
  /** Beams for generative linkers, candidates for the model-free ones (default 5). */
  readonly numBeams?: number;
  /** Mentions per model batch (default 8). */
  readonly batchSize?: number;
  /** Longest answer in tokens (default 128). */
  readonly maxNewTokens?: number;
  /** Longest prompt, in tokens, a generative linker accepts; a longer one gets SENTENCE_TOO_LONG (default 1024). */
  readonly maxPromptTokens?: number;
  /** Stop early: the call rejects with an INTERRUPTED error (linkers that work in steps check it between steps). */
  readonly signal?: AbortSignal;
  /** Called once per query as soon as its result is known (progress inside a long batch). */
  readonly onMentionDone?: () => void;
}

/** Options of `sample()`, the authors' API (their option names). */
export interface SampleOptions {
  readonly constrained?: boolean;
  readonly num_beams?: number;
  readonly batch_size?: number;
  readonly max_new_tokens?: number;
  readonly max_prompt_tokens?: number;
  readonly signal?: AbortSignal;
  /** Called once per sentence as soon as its result is known. */
  readonly onSentenceDone?: () => void;
}

/** The LinkOptions of `sample()` options. */
export function linkOptionsOf(o: SampleOptions): LinkOptions {
  return {
    ...(o.constrained === undefined ? {} : { constrained: o.constrained }),
    ...(o.num_beams === undefined ? {} : { numBeams: o.num_beams }),
    ...(o.batch_size === undefined ? {} : { batchSize: o.batch_size }),
    ...(o.max_new_tokens === undefined ? {} : { maxNewTokens: o.max_new_tokens }),
    ...(o.max_prompt_tokens === undefined ? {} : { maxPromptTokens: o.max_prompt_tokens }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    ...(o.onSentenceDone === undefined ? {} : { onMentionDone: o.onSentenceDone }),
  };
}

/**
 * Anything that links mentions: generative (model), retrieve-generate (model ranking retrieved names), lexical
 * (TF-IDF), hybrid. `link` is the core; `sample` is the authors' API over marked-sentence strings, which it parses
 * into queries for `link` (src/linker/sample.ts does it for every linker).
 */
export interface Linker {
  readonly kind: LinkerKind;
  /** One result per query, in order; a query that cannot be linked gets its own error. */
  link(queries: readonly MentionQuery[], options?: LinkOptions): Promise<LinkResult[]>;
  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]>;
  close(): Promise<void>;
}
