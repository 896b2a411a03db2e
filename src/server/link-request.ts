import { SyncabelError } from "../errors.js";
import type { SampleOptions } from "../linker/types.js";

/** Per-request limits checked before anything reaches the linker. */
export interface LinkRequestLimits {
  readonly maxSentences: number;
  readonly maxBeams: number;
  readonly maxNewTokens: number;
}

/** A validated `POST /v1/link` body. */
export interface LinkRequest {
  readonly sentences: readonly string[];
  readonly options: Pick<SampleOptions, "num_beams" | "constrained" | "max_new_tokens">;
}

const KNOWN_FIELDS = new Set(["sentences", "num_beams", "constrained", "max_new_tokens"]);

/** A short, printable form of a client value for error messages (bodies may be large). */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function invalid(message: string, details: Record<string, string | number> = {}): SyncabelError {
  return new SyncabelError("REQUEST_INVALID", message, details);
}

/** An optional integer field in [1, max]: below 1 or not an integer is invalid (400), above max is a limit (413). */
function boundedInt(body: Record<string, unknown>, field: string, max: number): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw invalid(`"${field}" must be a positive integer, got ${preview(value)}`, { field });
  }
  if (value > max) throw new SyncabelError("REQUEST_TOO_LARGE", `"${field}" is ${value}, the server allows at most ${max}`, { field, max });
  return value;
}

/**
 * Parses and checks a request body (UTF-8 JSON). Only the known fields are read, each type-checked; an unknown
 * field is an error, so a typo such as "num_beam" does not silently fall back to a default.
 */
export function parseLinkRequest(raw: Buffer, limits: LinkRequestLimits): LinkRequest {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (e) {
    throw invalid(`the body is not valid UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid('the body must be a JSON object such as {"sentences": ["... [mention]{GROUP} ..."]}');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !KNOWN_FIELDS.has(k));
  if (unknown.length > 0) {
    throw invalid(`unknown field ${preview(unknown[0])} (known: ${[...KNOWN_FIELDS].join(", ")})`, { field: unknown[0].slice(0, 100) });
  }

  const sentences = fields.sentences;
  if (!Array.isArray(sentences)) throw invalid('"sentences" must be an array of strings', { field: "sentences" });
  if (sentences.length === 0) throw invalid('"sentences" is empty', { field: "sentences" });
  if (sentences.length > limits.maxSentences) {
    throw new SyncabelError("REQUEST_TOO_LARGE", `${sentences.length} sentences, the server allows at most ${limits.maxSentences} per request`, {
      field: "sentences",
      max: limits.maxSentences,
    });
  }
  const bad = sentences.findIndex((s) => typeof s !== "string");
  if (bad >= 0) throw invalid(`sentences[${bad}] is not a string`, { field: "sentences", index: bad });

  const constrained = fields.constrained;
  if (constrained !== undefined && typeof constrained !== "boolean") {
    throw invalid(`"constrained" must be true or false, got ${preview(constrained)}`, { field: "constrained" });
  }
  const num_beams = boundedInt(fields, "num_beams", limits.maxBeams);
  const max_new_tokens = boundedInt(fields, "max_new_tokens", limits.maxNewTokens);
  return { sentences: sentences as string[], options: { num_beams, constrained, max_new_tokens } };
}
