import { NO_CODE } from "../constants.js";

/** Separator of the codes of a composite mention (one mention, several concepts). */
export const COMPOSITE_SEPARATOR = "+";

/** The codes of a (possibly composite) code string, trimmed, de-duplicated and sorted. */
export function codeSet(code: string): string[] {
  const parts = code.split(COMPOSITE_SEPARATOR).map((c) => c.trim()).filter((c) => c !== "");
  return [...new Set(parts)].sort();
}

/**
 * Canonical form of a code string: composite codes compare as sets, so `b+a` and `a+b` are equal.
 * An empty string stays empty (no code at all).
 */
export function canonicalCode(code: string): string {
  return codeSet(code).join(COMPOSITE_SEPARATOR);
}

/**
 * What a code comparison alone decides: STRICT (the same codes, as sets) or PARTIAL (the predicted codes a proper
 * subset of a composite gold); undefined otherwise (including an empty or NO_CODE prediction).
 */
export function compareCodes(gold: string, predicted: string): "STRICT" | "PARTIAL" | undefined {
  const g = codeSet(gold);
  const p = codeSet(predicted).filter((c) => c !== NO_CODE);
  if (p.length === 0 || !p.every((c) => g.includes(c))) return undefined;
  return p.length === g.length ? "STRICT" : "PARTIAL";
}

/** True when the code is NO_CODE or a composite with a NO_CODE part: such gold can never be matched. */
export function hasNoCode(code: string): boolean {
  const set = codeSet(code);
  return set.length === 0 || set.includes(NO_CODE);
}

/**
 * How predicted and gold code strings are compared: "set" (composite codes as sets: `a+b+a` = `b+a`), or
 * "authors" (the SynCABEL authors' evaluation: parts trimmed and sorted, repeats kept: `a+a` != `a`).
 */
export type CodeComparison = "set" | "authors";

export const CODE_COMPARISONS: readonly CodeComparison[] = ["set", "authors"];

/** The key two code strings are compared on under `comparison`. */
export function codeKey(code: string, comparison: CodeComparison): string {
  if (comparison === "set") return canonicalCode(code);
  return code
    .split(COMPOSITE_SEPARATOR)
    .map((c) => c.trim())
    .sort()
    .join(COMPOSITE_SEPARATOR);
}
