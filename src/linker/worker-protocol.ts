/** Messages between WorkerPoolLinker and its worker threads (src/linker/linker-worker.ts). */
import type { ErrorCode, ErrorDetails } from "../errors.js";
import type { LinkResult, MentionQuery } from "./types.js";

/** The model-free linkers a worker can run. */
export type PooledLinkerKind = "hybrid" | "tfidf";

export interface WorkerInit {
  readonly kb: string;
  readonly linker: PooledLinkerKind;
}

/** The LinkOptions a worker uses (functions and signals stay in the calling thread). */
export interface WorkerLinkOptions {
  readonly numBeams?: number;
}

export interface WorkerRequest {
  readonly id: number;
  readonly queries: readonly MentionQuery[];
  readonly options: WorkerLinkOptions;
}

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: ErrorDetails;
}

export type WorkerReply =
  | { readonly type: "ready" }
  | { readonly type: "failed"; readonly error: WireError }
  | { readonly type: "results"; readonly id: number; readonly results: LinkResult[] }
  | { readonly type: "error"; readonly id: number; readonly error: WireError };
