/**
 * Continuous batching at the linker level: sentences handed to a running decode between steps (a server's
 * concurrent requests), each result delivered as soon as its search is over. Only linkers that decode in batches
 * with a model implement it (the generative linker); the others link a sentence at once and need no feed.
 */
import type { Linker, SampleOptions, SampleResult } from "./types.js";

export interface FedSentence {
  readonly text: string;
  /** Receives the sentence's result (an error result for a sentence that cannot be linked). */
  deliver(result: SampleResult): void;
  /** false once nobody waits for the result: its search is dropped between steps. */
  wanted(): boolean;
}

export interface SentenceFeed {
  /** At most `room` sentences to start now; [] when none waits (asked before every decoding step). */
  take(room: number): readonly FedSentence[];
}

/** Options of a continuous run: `batch_size` is the number of sentences decoded at once. */
export type ContinuousOptions = Pick<SampleOptions, "num_beams" | "constrained" | "max_new_tokens" | "max_prompt_tokens" | "batch_size" | "signal"> & {
  /** Free sentence slots needed before queued sentences join the running decode (default 1). */
  readonly min_join?: number;
};

export interface ContinuousLinker extends Linker {
  /** Decode what the feed gives until no sentence runs and none waits. */
  sampleContinuously(feed: SentenceFeed, options?: ContinuousOptions): Promise<void>;
}

export function isContinuousLinker(linker: Linker): linker is ContinuousLinker {
  return typeof (linker as Partial<ContinuousLinker>).sampleContinuously === "function";
}
