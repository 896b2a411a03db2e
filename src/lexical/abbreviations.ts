/**
 * Abbreviations defined in a document, by the Schwartz & Hearst (2003) algorithm, the standard for biomedical
 * text: "long form (SF)" and "SF (long form)". The short form's characters must occur, in order and from the
 * end, in the long form, its first character at the start of a word; the long form is cut to the shortest such
 * span. A document-level map lets a mention that is only a short form ("BHA") be linked through its long form.
 */

export interface Abbreviation {
  readonly short: string;
  readonly long: string;
  /** Offsets of the short and long forms in the text. */
  readonly shortStart: number;
  readonly longStart: number;
}

const isAlnum = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{N}]/u.test(c);
const words = (s: string): string[] => s.split(/\s+/).filter((w) => w !== "");

/**
 * Schwartz & Hearst's short-form test (2-10 characters, at most 2 words, a letter, alphanumeric first character),
 * plus an upper-case letter or a digit: all lower-case ones are mostly ordinary words ("fed (food restricted)",
 * "(w/v)"), not entities.
 */
export function isShortForm(s: string): boolean {
  return s.length >= 2 && s.length <= 10 && words(s).length <= 2 && /\p{L}/u.test(s) && /[\p{Lu}\p{N}]/u.test(s) && isAlnum(s[0]);
}

/** The shortest tail of `candidate` that holds the short form's characters (Schwartz & Hearst's findBestLongForm). */
export function bestLongForm(short: string, candidate: string): string | undefined {
  const sf = short.toLowerCase();
  const lf = candidate.toLowerCase();
  let l = lf.length - 1;
  for (let s = sf.length - 1; s >= 0; s--) {
    const c = sf[s] as string;
    if (!isAlnum(c)) continue;
    // The first short-form character must start a word of the long form.
    while (l >= 0 && (lf[l] !== c || (s === 0 && l > 0 && isAlnum(lf[l - 1])))) l--;
    if (l < 0) return undefined;
    l--;
  }
  const start = lf.lastIndexOf(" ", l) + 1;
  const long = candidate.slice(start).trim();
  return long.length > short.length && !words(long).some((w) => w.toLowerCase() === sf) ? long : undefined;
}

/** Text before `end` back to the sentence/clause start (the long form never crosses it). */
function clauseBefore(text: string, end: number): { start: number; text: string } {
  let start = end;
  while (start > 0) {
    const c = text[start - 1] as string;
    if (c === ";" || c === "(" || c === ")" || c === "[" || c === "]") break;
    if ((c === "." || c === "!" || c === "?") && /\s/.test(text[start] ?? " ")) break;
    start--;
  }
  return { start, text: text.slice(start, end) };
}

/** The last `n` words of `s`, with the offset of the first. */
function lastWords(s: string, n: number): { offset: number; text: string } {
  const re = /\S+/g;
  const spans: number[] = [];
  for (let m = re.exec(s); m !== null; m = re.exec(s)) spans.push(m.index);
  const from = spans.length > n ? (spans[spans.length - n] as number) : (spans[0] ?? s.length);
  return { offset: from, text: s.slice(from).trimEnd() };
}

/** One "(...)" pair: both patterns, long form before (the usual one) tried first. */
function fromParenthesis(text: string, open: number, close: number): Abbreviation | undefined {
  let inner = text.slice(open + 1, close);
  const cut = inner.search(/[;,]\s/);
  if (cut >= 0) inner = inner.slice(0, cut);
  const innerStart = open + 1 + (inner.length - inner.trimStart().length);
  inner = inner.trim();
  const before = clauseBefore(text, open);
  if (isShortForm(inner)) {
    // "long form (SF)": at most min(|SF| + 5, 2|SF|) words before the parenthesis.
    const limit = Math.min(inner.length + 5, inner.length * 2);
    const span = lastWords(before.text, limit);
    const long = bestLongForm(inner, span.text);
    if (long !== undefined) return { short: inner, long, shortStart: innerStart, longStart: before.start + span.offset + span.text.length - long.length };
    return undefined;
  }
  // "SF (long form)": the word before the parenthesis is the short form.
  const prev = lastWords(before.text, 1);
  const short = prev.text.replace(/[^\p{L}\p{N}]+$/u, "");
  if (!isShortForm(short) || words(inner).length > Math.min(short.length + 5, short.length * 2)) return undefined;
  const long = bestLongForm(short, inner);
  return long === inner ? { short, long, shortStart: before.start + prev.offset, longStart: innerStart } : undefined;
}

/** Every abbreviation defined in a text, in order of appearance. */
export function findAbbreviations(text: string): Abbreviation[] {
  const out: Abbreviation[] = [];
  let open = text.indexOf("(");
  while (open >= 0) {
    // Nested parentheses: the matching close, so "(x (y) z)" is read as one group.
    let depth = 0;
    let close = -1;
    for (let i = open; i < text.length && i < open + 200; i++) {
      if (text[i] === "(") depth++;
      else if (text[i] === ")" && --depth === 0) {
        close = i;
        break;
      }
    }
    if (close < 0) break;
    const a = fromParenthesis(text, open, close);
    if (a !== undefined) out.push(a);
    open = text.indexOf("(", open + 1);
  }
  return out;
}

/** Short form -> long form of a document; the first definition of a short form wins. */
export function abbreviationMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const a of findAbbreviations(text)) if (!map.has(a.short)) map.set(a.short, a.long);
  return map;
}

/** The long form of a mention that is a short form of the map (also its plural, "NSAIDs" -> "NSAID"). */
export function expansionOf(map: ReadonlyMap<string, string>, mention: string): string | undefined {
  const m = mention.trim();
  return map.get(m) ?? (m.endsWith("s") ? map.get(m.slice(0, -1)) : undefined);
}
