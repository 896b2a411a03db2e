/**
 * Continuous batching at the linker level: mention queries handed to a running decode between steps (a server's
 * concurrent requests), each result delivered as soon as its search is over. Only linkers that decode in batches
 * with a model implement it (the generative linker); the others link a mention at once and need no feed.
 */
import type { Linker, LinkOptions, LinkResult, MentionQuery } from "./types.js";

export interface FedQuery {
  readonly query: MentionQuery;
  /** Receives the mention's result (an error result for a mention that cannot be linked). */
  deliver(result: LinkResult): void;
  /** false once nobody waits for the result: its search is dropped between steps. */
  wanted(): boolean;
}

export interface QueryFeed {
  /** At most `room` queries to start now; [] when none waits (asked before every decoding step). */
  take(room: number): readonly FedQuery[];
}

/** Options of a continuous run: `batchSize` is the number of mentions decoded at once. */
export type ContinuousOptions = Pick<LinkOptions, "numBeams" | "constrained" | "maxNewTokens" | "maxPromptTokens" | "batchSize" | "signal"> & {
  /** Free mention slots needed before queued mentions join the running decode (default 1). */
  readonly minJoin?: number;
};

export interface ContinuousLinker extends Linker {
  /** Decode what the feed gives until no mention runs and none waits. */
  linkContinuously(feed: QueryFeed, options?: ContinuousOptions): Promise<void>;
}

export function isContinuousLinker(linker: Linker): linker is ContinuousLinker {
  return typeof (linker as Partial<ContinuousLinker>).linkContinuously === "function";
}
