/**
 * Offset validation shared by the readers: a mention's fragments must lie inside the document text and
 * the text at those offsets must be the mention text the file gives.
 */
import type { Span } from "./types.js";

export type OffsetCheck =
  | { readonly ok: true; readonly exact: boolean }
  | { readonly ok: false; readonly reason: string };

/** Quote characters that dataset exporters sometimes drop, double or CSV-escape inside a span field. */
const QUOTES = /["'“”‘’«»]/gu;

export function parseInteger(field: string | undefined): number | undefined {
  if (field === undefined || !/^\s*\d+\s*$/.test(field)) return undefined;
  return Number(field);
}

/**
 * Check fragments against the text. `given` is the mention text of the file (fragments joined by one
 * space). A difference only in quote characters (e.g. the SPACCC span `"""se deja la boca """"abierta"""`
 * for `se deja la boca "abierta"`) is accepted with `exact: false`: the offsets are right, the span field
 * was mangled by a CSV writer.
 */
export function checkFragments(text: string, fragments: readonly Span[], given: string | undefined): OffsetCheck {
  if (fragments.length === 0) return { ok: false, reason: "the mention has no offsets" };
  let prev = 0;
  for (const f of fragments) {
    if (!Number.isInteger(f.start) || !Number.isInteger(f.end) || f.start < prev || f.end <= f.start) {
      return { ok: false, reason: `offsets ${f.start}-${f.end} are not increasing, non-empty and non-overlapping` };
    }
    if (f.end > text.length) return { ok: false, reason: `offsets ${f.start}-${f.end} lie beyond the end of the text (${text.length} characters)` };
    prev = f.end;
  }
  if (given === undefined) return { ok: true, exact: true };
  const actual = fragments.map((f) => text.slice(f.start, f.end)).join(" ");
  if (actual === given) return { ok: true, exact: true };
  if (actual.replace(QUOTES, "") === given.replace(QUOTES, "")) return { ok: true, exact: false };
  const where = fragments.map((f) => `${f.start}-${f.end}`).join(";");
  return { ok: false, reason: `the text at ${where} is ${JSON.stringify(clip(actual))}, the file says ${JSON.stringify(clip(given))}` };
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
