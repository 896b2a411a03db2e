/**
 * Sentence segmentation of a document, as the SynCABEL conventions need it: line breaks always end a
 * sentence, and inside a line the sentences come from ICU's maintained sentence segmenter
 * (`Intl.Segmenter`, UAX #29) with a few rules on top that move it closer to the NLTK Punkt splitter
 * the authors used (`punktBreaks`, `icuBreakKeeper` below; 99.8 % parity on the authors' SPACCC sentences,
 * see bench/sentence-parity.ts). Offsets are UTF-16 indices into the given text; every
 * sentence is trimmed of surrounding white space and is never empty.
 *
 * Linear in the text's size (bench/segment.bench.ts): every scan moves forward once, and ICU runs on windows of
 * a line (V8's segments cost time proportional to the whole string per segment: quadratic on a long line).
 * The work is a generator that yields between windows, so a server can interleave other requests
 * (`segmentSentencesAsync`).
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

/** JavaScript's `\s` (= what `trim` removes): white space and line terminators. */
export function isSpaceCode(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

const DOT = 0x2e;

/** Shrink [start, end) so that it neither starts nor ends with white space; undefined if nothing is left. */
function trimSpan(text: string, start: number, end: number): Span | undefined {
  let s = start;
  let e = end;
  while (s < e && isSpaceCode(text.charCodeAt(s))) s++;
  while (e > s && isSpaceCode(text.charCodeAt(e - 1))) e--;
  return s < e ? { start: s, end: e } : undefined;
}

/** Characters of Punkt's "period context" that may directly follow a sentence-final period: `?!)";}]*:@'({[`. */
const PERIOD_CONTEXT = new Set([..."?!)\";}]*:@'({["].map((c) => c.charCodeAt(0)));
/** Closing quotes and brackets that stay with the sentence they close. */
const CLOSING = new Set([..."\"')]}”’»"].map((c) => c.charCodeAt(0)));

/** Work between two yields of the generators below (characters). */
const STEP = 1 << 16;

/**
 * Where Punkt ends a sentence inside a line: after a word ending in a period that is followed by white
 * space and another token, or directly by one of `?!)";}]*:@'({[` (Punkt's "period context"), unless
 * the word is an abbreviation or an initial. UAX #29 does not break before a lower-case word, a digit
 * or a closing bracket ("5x3x3 cm. en la región", "12,8 gr.).") where Punkt does.
 *
 * One forward scan, token by token. It finds what the pattern `(\S*?)(\.+)(?=\s+\S|[?!)";}\]*:@'({[])`, applied
 * globally, finds: inside a token, the first run of periods followed by the period context; the word is the
 * token's text from where the search resumed up to that run.
 */
function* punktBreaks(line: string): Generator<void, number[]> {
  const breaks: number[] = [];
  const n = line.length;
  let lastNonSpace = n - 1;
  while (lastNonSpace >= 0 && isSpaceCode(line.charCodeAt(lastNonSpace))) lastNonSpace--;
  let budget = STEP;
  let i = 0;
  while (i < n) {
    while (i < n && isSpaceCode(line.charCodeAt(i))) i++;
    const tokenStart = i;
    while (i < n && !isSpaceCode(line.charCodeAt(i))) i++;
    const tokenEnd = i;
    let from = tokenStart; // where the pattern's search resumes (after a match inside this token)
    for (let j = from; j < tokenEnd; ) {
      if (line.charCodeAt(j) !== DOT) {
        j++;
        continue;
      }
      let runEnd = j;
      while (runEnd < tokenEnd && line.charCodeAt(runEnd) === DOT) runEnd++;
      // Only the whole run can be followed by the context (a period is not part of it).
      const followed = runEnd === tokenEnd ? tokenEnd < lastNonSpace : PERIOD_CONTEXT.has(line.charCodeAt(runEnd));
      if (followed && runEnd - j === 1 && isPunktSentenceEnd(stripOpening(line.slice(from, j)))) {
        // Punkt's boundary realignment: closing quotes/brackets followed by white space stay with the
        // sentence they close ("i.v.) y" breaks after the ")"; "gr.)." breaks before it).
        let k = runEnd;
        while (k < n && CLOSING.has(line.charCodeAt(k))) k++;
        breaks.push(k > runEnd && (k === n || isSpaceCode(line.charCodeAt(k))) ? k : runEnd);
      }
      if (followed) from = runEnd;
      j = runEnd;
    }
    if ((budget -= tokenEnd - tokenStart + 1) <= 0) {
      budget = STEP;
      yield;
    }
  }
  return breaks;
}

/** The word of a white-space token: leading opening punctuation removed ("(Rx" -> "Rx"). */
function stripOpening(token: string): string {
  return token.replace(/^[("'¿¡«“‘]+/u, "");
}

/** Lower-cased abbreviations after which a period does not end a sentence. */
const ABBREVIATIONS = new Set<string>(["etc", "rx", "cc"]);
const LONGEST_ABBREVIATION = Math.max(...[...ABBREVIATIONS].map((a) => a.length));

function isPunktSentenceEnd(word: string): boolean {
  if (word === "") return false;
  if (word.length <= LONGEST_ABBREVIATION && ABBREVIATIONS.has(word.toLowerCase())) return false;
  if (/^\p{L}$/u.test(word)) return false; // an initial: "vitamina D. No", "40º C. Se"
  return true;
}

/**
 * ICU breaks that Punkt would not make: after an initial, an abbreviation or an ellipsis. Returns the test for
 * breaks given in increasing order: it sweeps the line once, keeping the last token and its final periods.
 */
function icuBreakKeeper(line: string): (at: number) => boolean {
  let x = 0;
  let lastNonSpace = -1;
  let tokenStart = 0;
  let dotsStart = -1; // start of the periods that end the last token, -1 when it does not end with one
  return (at) => {
    for (; x < at; x++) {
      const c = line.charCodeAt(x);
      if (isSpaceCode(c)) continue;
      const continues = lastNonSpace === x - 1;
      if (!continues) tokenStart = x;
      if (c === DOT) {
        if (!(continues && dotsStart >= 0)) dotsStart = x;
      } else dotsStart = -1;
      lastNonSpace = x;
    }
    if (lastNonSpace < 0 || dotsStart < 0) return true; // "?", "!", ... end the sentence
    if (lastNonSpace > dotsStart) return false; // ellipsis
    return isPunktSentenceEnd(stripOpening(line.slice(tokenStart, dotsStart)));
  };
}

/**
 * A copy of `s` in its own memory. A slice of a long string shares the long string's buffer, and V8's segments of
 * such a slice cost time in proportion to the long string (8 MB: ~3x a copy's). UTF-16 code units round-trip
 * exactly, lone surrogates included.
 */
function flatCopy(s: string): string {
  return Buffer.from(s, "utf16le").toString("utf16le");
}

/** ICU's sentence windows (characters); a window grows while no break in it can be trusted. */
export const ICU_WINDOW = 4096;

/** A character after which UAX #29's look-ahead has ended: a letter, a sentence terminator, a paragraph separator. */
const LOOKAHEAD_STOP = /[\p{L}.?!\u0085\u2028\u2029]/u;

/**
 * ICU's sentence breaks of a line (indices in (0, line.length)), window by window. A window starts at a break;
 * its breaks are those of the whole line except where the rules' look-ahead (UAX #29 SB8: a lower-case word
 * after any run of non-letters) reached the window's end: so only breaks followed, inside the window, by a
 * letter, a terminator or a paragraph separator are kept, and the next window starts at the last of them.
 */
function* icuBreaks(line: string, language: string, window = ICU_WINDOW): Generator<void, number[]> {
  const segmenter = segmenterFor(language);
  const out: number[] = [];
  let from = 0;
  let size = window;
  while (from < line.length) {
    const end = Math.min(line.length, from + size);
    const found: number[] = [];
    const chunk = flatCopy(line.slice(from, end));
    const segments = segmenter.segment(chunk);
    // Segment by segment through `containing` (half the cost of the iterator); a segment's end is a break.
    for (let at = 0; at < chunk.length; ) {
      const seg = segments.containing(at) as Intl.SegmentData;
      at = seg.index + seg.segment.length;
      if (at < chunk.length) found.push(from + at);
    }
    yield;
    if (end === line.length) {
      for (const b of found) out.push(b);
      break;
    }
    let stop = end - 1;
    while (stop > from && !LOOKAHEAD_STOP.test(line[stop] as string)) stop--;
    const kept = found.filter((b) => b <= stop);
    if (kept.length === 0) {
      size *= 2; // a long sentence: look further
      continue;
    }
    for (const b of kept) out.push(b);
    from = kept[kept.length - 1] as number;
    size = window;
  }
  return out;
}

/** Sentences of one line (no line break inside), trimmed, appended to `out`. */
function* segmentLine(text: string, start: number, end: number, language: string, out: Span[], window: number): Generator<void, void> {
  const line = text.slice(start, end);
  const keep = icuBreakKeeper(line);
  const cuts: number[] = [];
  for (const b of yield* icuBreaks(line, language, window)) if (keep(b)) cuts.push(start + b);
  for (const b of yield* punktBreaks(line)) cuts.push(start + b);
  cuts.sort((a, b) => a - b);
  cuts.push(end);
  let from = start;
  for (const c of cuts) {
    if (c <= from) continue;
    const s = trimSpan(text, from, c);
    if (s !== undefined) out.push(s);
    from = c;
  }
}

/** The segmentation as steps: yields between pieces of work, returns every sentence of `text` in order. */
export function* segmentationSteps(text: string, language: string, window = ICU_WINDOW): Generator<void, Span[]> {
  const out: Span[] = [];
  let lineStart = 0;
  let budget = STEP;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? -1 : text.charCodeAt(i);
    if (c === -1 || c === 0x0a || c === 0x0d) {
      if (i > lineStart) yield* segmentLine(text, lineStart, i, language, out, window);
      lineStart = i + 1;
      if ((budget -= 64) <= 0) {
        budget = STEP;
        yield;
      }
    }
  }
  return out;
}

/** Every sentence of `text`, in order. */
export function segmentSentences(text: string, language: string): Span[] {
  const steps = segmentationSteps(text, language);
  for (let r = steps.next(); ; r = steps.next()) if (r.done) return r.value;
}

/** `segmentSentences` without holding the event loop: other callbacks run at least every `sliceMs` milliseconds. */
export async function segmentSentencesAsync(text: string, language: string, sliceMs = 10): Promise<Span[]> {
  const steps = segmentationSteps(text, language);
  let since = performance.now();
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value;
    if (performance.now() - since >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }
}
