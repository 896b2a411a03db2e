import { asSyncabelError, type ErrorCode } from "../errors.js";
import type { LinkResult } from "./types.js";

/** The per-mention error result (one bad mention never sinks a batch). */
export function errorOf(e: unknown, fallback: ErrorCode = "MARKUP_NO_BRACKETS"): LinkResult {
  return { error: asSyncabelError(e, fallback).toJSON() };
}
