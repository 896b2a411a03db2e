/**
 * Checks every terminology row passes before it enters a KB index, whatever reader produced it: a name or group
 * that could never be linked (or that would make linking explode) is skipped with a reason instead.
 */

/** Longest accepted term, in characters: longer "names" are data errors, and one would make the token tries huge. */
export const MAX_TERM_CHARS = 1000;

// Control characters (tab, CR, LF, NUL ...) inside a field: a sign of a shifted or split row.
const CONTROL = /[\u0000-\u001f\u007f]/;
// `[mention]{GROUP}`: a group with a bracket or brace cannot be written in the markup.
const MARKUP_CHARS = /[[\]{}]/;
const SPACE = /\s/;

export interface RowProblem {
  readonly reason: string;
  readonly detail: string;
}

function shown(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);
}

/** Why a (name, group) cannot go into the index, or undefined when it can. `group` null: inherited later. */
export function termRowProblem(name: string, group: string | null): RowProblem | undefined {
  if (name.length > MAX_TERM_CHARS) return { reason: `term longer than ${MAX_TERM_CHARS} characters`, detail: `${name.length} characters, starting ${shown(name)}` };
  if (CONTROL.test(name)) return { reason: "control character (tab, CR, LF...) inside the term", detail: shown(name) };
  if (group !== null) {
    if (MARKUP_CHARS.test(group)) return { reason: "group unusable in markup [mention]{GROUP} (it contains a bracket or brace)", detail: shown(group) };
    if (CONTROL.test(group)) return { reason: "control character (tab, CR, LF...) inside the group", detail: shown(group) };
  }
  return undefined;
}

/**
 * A term without the whitespace around it, except CR: a stray CR (only LF ends a line, see
 * src/kb/sources/lines.ts) stays at the edge too, so termRowProblem reports the row instead of a trim hiding it.
 */
export function trimTerm(term: string): string {
  const keep = (c: number): boolean => c === 0x0d || !SPACE.test(String.fromCharCode(c));
  let start = 0;
  let end = term.length;
  while (start < end && !keep(term.charCodeAt(start))) start++;
  while (end > start && !keep(term.charCodeAt(end - 1))) end--;
  return start === 0 && end === term.length ? term : term.slice(start, end);
}

/** Unicode NFC (see src/markup/clean.ts): a name typed with decomposed accents equals its precomposed form. */
export { toNfc as nfc } from "../markup/clean.js";
