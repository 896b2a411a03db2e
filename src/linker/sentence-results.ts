import { asSyncabelError } from "../errors.js";
import type { SampleResult } from "./types.js";

/** The per-sentence error result (one bad sentence never sinks a batch). */
export function errorResult(sentence: string, e: unknown): SampleResult {
  const err = asSyncabelError(e, "MARKUP_NO_BRACKETS");
  return { sentence, error: err.toJSON() };
}
