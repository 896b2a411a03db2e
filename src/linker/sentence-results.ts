import { asSyncabelError, type ErrorCode } from "../errors.js";
import type { LinkResult, SampleResult } from "./types.js";

/** The per-mention error result (one bad mention never sinks a batch). */
export function errorOf(e: unknown, fallback: ErrorCode = "MARKUP_NO_BRACKETS"): LinkResult {
  return { error: asSyncabelError(e, fallback).toJSON() };
}

/** The per-sentence error result of `sample()`. */
export function errorResult(sentence: string, e: unknown): SampleResult {
  return { sentence, ...errorOf(e) };
}
