/**
 * The small interfaces every model backend implements. Decoding (src/decode) only talks to these.
 */

/** What decoding and trie building need from a tokenizer. */
export interface TextTokenizer {
  /** Token ids of `text`. With `addSpecialTokens` the checkpoint's own BOS/EOS rules apply. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  readonly eosTokenId: number;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  /** Id of `<SEP>` when the tokenizer has it. */
  readonly sepTokenId: number | null;
  /** Size of the id space (base vocabulary + added tokens). */
  readonly vocabSize: number;
  /** Stable hash of the tokenizer files: tries built with one tokenizer are keyed by it. */
  readonly fingerprint: string;
  /** The special tokens the checkpoint declares, in transformers' `all_special_tokens` order (when known). */
  readonly specialTokens?: readonly string[];
}

/**
 * Decoding state of a batch of rows (beams) held by a backend: its KV cache and the attention mask.
 * Opaque to callers; only the backend that made it may read it.
 */
export interface DecodeState {
  /** Number of rows (sequences) in the state. */
  readonly rows: number;
  dispose(): void;
}

/**
 * Which next-token logits a caller will read, so a backend can hand over those instead of the whole vocabulary
 * (128k floats per row: copying them out of the runtime costs more than computing them).
 */
export interface LogitRequest {
  /** Per row of the result: the token ids to read (e.g. a trie node's children; may be empty). */
  readonly tokens?: readonly ArrayLike<number>[];
  /** The k highest logits of every row (unconstrained decoding). */
  readonly topK?: number;
}

/**
 * Next-token distribution of every row, as raw logits plus each row's log-sum-exp:
 * log p(t | row) = logit(row, t) - logZ[row] (a log-softmax over the full vocabulary, left lazy so that decoding
 * reads only the entries it needs). Without a LogitRequest `logits` holds every row ([rows, vocabSize]
 * row-major); with one, `logits` may be empty and the requested entries are in `picked` / `top`.
 */
export interface NextTokenLogProbs {
  readonly rows: number;
  readonly vocabSize: number;
  readonly logits: Float32Array;
  readonly logZ: Float32Array;
  /** request.tokens: row r's logits of request.tokens[r], in that order, at logits[offsets[r] + i]. */
  readonly picked?: { readonly offsets: Int32Array; readonly logits: Float32Array };
  /** request.topK: [rows, k] token ids and logits, highest first (ties: lower id first). */
  readonly top?: { readonly k: number; readonly ids: Int32Array; readonly logits: Float32Array };
}

export interface StepResult {
  readonly state: DecodeState;
  readonly logProbs: NextTokenLogProbs;
}

/** A causal language model that decodes with a KV cache (or the decoder of an encoder-decoder model). */
export interface CausalLM {
  readonly vocabSize: number;
  /**
   * Encoder-decoder models (mBART, BART): every prefill and extend takes `encoderInputs`, the source token ids of
   * each prompt, and the prompts are decoder prompts. Decoder-only models leave this unset and take no sources.
   */
  readonly encoderDecoder?: boolean;
  /**
   * Run ragged prompts (padded as the model needs) and return, for each prompt, the log-softmax over the full
   * vocabulary at its last position (or the entries `request` asks for), plus the state for further steps.
   */
  prefill(prompts: readonly (readonly number[])[], request?: LogitRequest, encoderInputs?: readonly (readonly number[])[]): Promise<StepResult>;
  /**
   * One decoding step. The logits of a result may live in a buffer the backend reuses: read them before the next
   * call. Row i of the new state continues row `parents[i]` of `state` with token `tokens[i]`
   * (this both reorders/selects the KV cache by beam and appends). `state` is consumed.
   */
  step(state: DecodeState, parents: Int32Array, tokens: Int32Array, request?: LogitRequest): Promise<StepResult>;
  /**
   * Continuous batching (optional): prefill `prompts` and append them as rows after those of the live `state`
   * (consumed). The result's logits cover the new rows only; its state, every row.
   */
  extend?(state: DecodeState, prompts: readonly (readonly number[])[], request?: LogitRequest, encoderInputs?: readonly (readonly number[])[]): Promise<StepResult>;
  /** Cumulative milliseconds spent inside the model runtime (for the overhead figure of benchmarks). */
  readonly forwardMs: number;
  dispose(): Promise<void>;
}
