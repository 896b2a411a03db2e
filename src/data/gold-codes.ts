/** Markers that datasets use for "no code": SPACCC `NO_CODE`, PubTator `-1`. */
const NO_CODE_MARKERS = new Set(["NO_CODE", "-1"]);

/**
 * Gold codes of a mention from the parts of its (possibly composite) code field. A composite with a no-code part
 * (`NO_CODE+123`) can never be matched as a whole, so it counts as no gold code at all (`[]`), like plain NO_CODE:
 * evaluation excludes it and fine-tuning data skips it (conventions, section 8).
 */
export function goldCodesOf(parts: readonly string[]): string[] {
  const codes = parts.map((c) => c.trim()).filter((c) => c !== "");
  return codes.some((c) => NO_CODE_MARKERS.has(c)) ? [] : codes;
}
