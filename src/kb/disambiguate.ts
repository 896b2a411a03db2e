/**
 * Which code a KB name reports when several concepts share it (conventions, section 5). Every code is kept;
 * only the reported one is chosen, with the authors' rule:
 *   1. a name with one code reports it;
 *   2. otherwise drop the codes that already own an unambiguous name in the same group (they stay reachable
 *      through that name); if that would drop every code, keep them all;
 *   3. of what remains, report the lowest code.
 * "Lowest" (`codeOrder`): when EVERY code of the name is all digits (SNOMED CT ids, ...) codes compare as
 * integers (any length; leading zeros ignored, ties broken by the string); otherwise as strings by UTF-16 code
 * units (JS `<`). Deciding per name (not per pair) keeps the order transitive.
 */

const DIGITS = /^[0-9]+$/;

function compareNumeric(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, "");
  const y = b.replace(/^0+(?=.)/, "");
  if (x.length !== y.length) return x.length - y.length;
  if (x !== y) return x < y ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
}

function compareLexicographic(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/** The comparator used for the codes of one name. */
export function codeOrder(codes: readonly string[]): (a: string, b: string) => number {
  return codes.every((c) => DIGITS.test(c)) ? compareNumeric : compareLexicographic;
}

/** The codes of one name in `codeOrder` (a sorted copy). */
export function sortCodes(codes: readonly string[]): string[] {
  return [...codes].sort(codeOrder(codes));
}

/**
 * The reported code of one (name, group).
 * @param codes every distinct code of the name (any order, non-empty)
 * @param ownsUnambiguousName whether a code owns some name of this group that has that code only
 */
export function chooseReportedCode(codes: readonly string[], ownsUnambiguousName: (code: string) => boolean): string {
  if (codes.length === 0) throw new RangeError("chooseReportedCode: no codes");
  if (codes.length === 1) return codes[0];
  const compare = codeOrder(codes);
  const remaining = codes.filter((c) => !ownsUnambiguousName(c));
  const pool = remaining.length > 0 ? remaining : codes;
  let best = pool[0];
  for (const c of pool) if (compare(c, best) < 0) best = c;
  return best;
}
