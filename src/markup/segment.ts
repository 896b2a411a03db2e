/**
 * Sentence segmentation of a document, as the SynCABEL conventions need it: line breaks always end a
 * sentence, and inside a line the sentences come from ICU's maintained sentence segmenter
 * (`Intl.Segmenter`, UAX #29) with a few rules on top that move it closer to the NLTK Punkt splitter
 * the authors used (`punktBreaks`, `keepsIcuBreak` below; 99.8 % parity on the authors' SPACCC sentences,
 * see bench/sentence-parity.ts). Offsets are UTF-16 indices into the given text; every
 * sentence is trimmed of surrounding white space and is never empty.
 */
import type { Span } from "./marked-sentence.js";

const segmenters = new Map<string, Intl.Segmenter>();

function segmenterFor(language: string): Intl.Segmenter {
  let s = segmenters.get(language);
  if (s === undefined) {
    s = new Intl.Segmenter(language, { granularity: "sentence" });
    segmenters.set(language, s);
  }
  return s;
}

const SPACE = /\s/u;

/** Shrink [start, end) so that it neither starts nor ends with white space; undefined if nothing is left. */
function trimSpan(text: string, start: number, end: number): Span | undefined {
  let s = start;
  let e = end;
  while (s < e && SPACE.test(text[s] as string)) s++;
  while (e > s && SPACE.test(text[e - 1] as string)) e--;
  return s < e ? { start: s, end: e } : undefined;
}

/**
 * Where Punkt ends a sentence inside a line: after a word ending in a period that is followed by white
 * space and another token, or directly by one of `?!)";}]*:@'({[` (Punkt's "period context"), unless
 * the word is an abbreviation or an initial. UAX #29 does not break before a lower-case word, a digit
 * or a closing bracket ("5x3x3 cm. en la región", "12,8 gr.).") where Punkt does.
 */
function punktBreaks(line: string): number[] {
  const breaks: number[] = [];
  const re = /(\S*?)(\.+)(?=\s+\S|[?!)";}\]*:@'({[])/gu;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    const word = stripOpening(m[1] as string);
    const dots = m[2] as string;
    if (dots.length !== 1 || !isPunktSentenceEnd(word)) continue;
    // Punkt's boundary realignment: closing quotes/brackets followed by white space stay with the
    // sentence they close ("i.v.) y" breaks after the ")"; "gr.)." breaks before it).
    const at = m.index + m[0].length;
    const closing = /^["')\]}”’»]+(?=\s|$)/u.exec(line.slice(at));
    breaks.push(at + (closing === null ? 0 : closing[0].length));
  }
  return breaks;
}

/** The word of a white-space token: leading opening punctuation removed ("(Rx" -> "Rx"). */
function stripOpening(token: string): string {
  return token.replace(/^[("'¿¡«“‘]+/u, "");
}

/** Lower-cased abbreviations after which a period does not end a sentence. */
const ABBREVIATIONS = new Set<string>(["etc", "rx", "cc"]);

function isPunktSentenceEnd(word: string): boolean {
  if (word === "") return false;
  if (ABBREVIATIONS.has(word.toLowerCase())) return false;
  if (/^\p{L}$/u.test(word)) return false; // an initial: "vitamina D. No", "40º C. Se"
  return true;
}

/** ICU breaks that Punkt would not make: after an initial, an abbreviation or an ellipsis. */
function keepsIcuBreak(line: string, at: number): boolean {
  const before = line.slice(0, at).trimEnd();
  const m = /(\S*?)(\.+)$/u.exec(before);
  if (m === null) return true; // "?", "!", ... end the sentence
  if ((m[2] as string).length > 1) return false; // ellipsis
  return isPunktSentenceEnd(stripOpening(m[1] as string));
}

/** Sentences of one line (no line break inside), trimmed. */
function segmentLine(text: string, start: number, end: number, language: string): Span[] {
  const out: Span[] = [];
  const line = text.slice(start, end);
  const cuts: number[] = [];
  for (const seg of segmenterFor(language).segment(line)) {
    if (seg.index > 0 && keepsIcuBreak(line, seg.index)) cuts.push(start + seg.index);
  }
  for (const b of punktBreaks(line)) cuts.push(start + b);
  cuts.sort((a, b) => a - b);
  let from = start;
  for (const c of [...cuts, end]) {
    if (c <= from) continue;
    const s = trimSpan(text, from, c);
    if (s !== undefined) out.push(s);
    from = c;
  }
  return out;
}

/** Every sentence of `text`, in order. */
export function segmentSentences(text: string, language: string): Span[] {
  const out: Span[] = [];
  let lineStart = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text[i] === "\n" || text[i] === "\r") {
      if (i > lineStart) out.push(...segmentLine(text, lineStart, i, language));
      lineStart = i + 1;
    }
  }
  return out;
}
