/**
 * Shared shapes of the synthetic-data generator: the chat request a generator answers, the generator
 * interface (HTTP endpoint or local model), and the JSONL records of `syncabel synth`.
 */

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

export interface GenerationRequest {
  readonly messages: readonly ChatMessage[];
  readonly temperature: number;
  readonly topP: number;
  readonly maxTokens: number;
  /** Per-request seed (servers that honour it, and the local generator), for reproducible runs. */
  readonly seed?: number;
  /** Aborts the request in flight (Ctrl-C): it then fails with INTERRUPTED. */
  readonly signal?: AbortSignal;
}

export interface TokenUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export interface GenerationReply {
  readonly text: string;
  /** Present when the server reports usage. */
  readonly usage?: TokenUsage;
  readonly finishReason?: string;
}

/** Who wrote the sentences (recorded in every output record). */
export interface GeneratorInfo {
  readonly kind: "http" | "local";
  readonly model: string;
  readonly endpoint?: string;
}

/**
 * Answers one chat request. Failures are SyncabelErrors whose `details.retryable` says whether the same
 * request may succeed later (429, 5xx, timeouts, torn replies) and `details.fatal` whether no other
 * request can succeed either (bad key, unknown model or endpoint): the run stops on those.
 */
export interface Generator {
  readonly info: GeneratorInfo;
  generate(request: GenerationRequest): Promise<GenerationReply>;
  close(): Promise<void>;
}

/** One mention span in the plain sentence, [start, end). */
export interface MentionOffsets {
  readonly start: number;
  readonly end: number;
}

/** One synthetic sentence (one JSONL line). */
export interface SentenceRecord {
  readonly type: "sentence";
  readonly code: string;
  readonly group: string;
  /** `...[mention]{GROUP}...`: the conventions' marked sentence. */
  readonly marked: string;
  /** The sentence without markup. */
  readonly text: string;
  readonly mention: string;
  readonly offsets: MentionOffsets;
  /** Index of the sentence within its concept (0-based). */
  readonly index: number;
  readonly generator: GeneratorInfo;
  /** Which attempt produced the accepted reply (1-based). */
  readonly attempt: number;
}

/**
 * The per-concept completion marker: written last, in the same write as the concept's sentences.
 * A concept is complete in the output file exactly when its marker line is there.
 */
export interface ConceptRecord {
  readonly type: "concept";
  readonly code: string;
  readonly group: string;
  readonly status: "done" | "failed";
  readonly sentences: number;
  readonly attempts: number;
  /** Why the concept failed (last attempt's problem), when it did. */
  readonly reason?: string;
  readonly errorCode?: string;
  readonly usage?: TokenUsage;
  readonly generator: GeneratorInfo;
}

export type SynthRecord = SentenceRecord | ConceptRecord;
