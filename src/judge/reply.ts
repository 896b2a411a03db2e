/**
 * The judge model's reply: one JSON object `{"explanation": "...", "label": "EXACT|BROAD|NARROW|NO_RELATION"}`.
 * Tolerated: a ```json fence or prose around the object, label case and spaces/hyphens ("no relation"). Anything
 * else (no object, invalid JSON, a missing or unknown label) is a bad reply, asked again.
 */
import { SyncabelError } from "../errors.js";
import { MODEL_LABELS, type ModelLabel } from "./types.js";

export interface ParsedVerdict {
  readonly label: ModelLabel;
  readonly explanation: string;
}

/** The first balanced `{...}` of the text (strings and escapes respected), or undefined. */
function firstObject(text: string): string | undefined {
  const start = text.indexOf("{");
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return text.slice(start, i + 1);
  }
  return undefined;
}

function bad(message: string, text: string): SyncabelError {
  return new SyncabelError("JUDGE_BAD_REPLY", `${message}: ${JSON.stringify(text.slice(0, 160))}`, { retryable: true });
}

export function parseVerdict(text: string): ParsedVerdict {
  const json = firstObject(text);
  if (json === undefined) throw bad("the judge's reply holds no JSON object", text);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw bad("the judge's reply is not valid JSON", text);
  }
  const record = value as { label?: unknown; explanation?: unknown };
  if (typeof record.label !== "string") throw bad('the judge\'s reply has no "label" string', text);
  const label = record.label.trim().toUpperCase().replace(/[\s-]+/g, "_");
  if (!(MODEL_LABELS as readonly string[]).includes(label)) throw bad(`the judge's label ${JSON.stringify(record.label)} is not one of ${MODEL_LABELS.join(", ")}`, text);
  return { label: label as ModelLabel, explanation: typeof record.explanation === "string" ? record.explanation.trim() : "" };
}
