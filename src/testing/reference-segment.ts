/**
 * The sentence segmenter as it was before issue 16, kept as the reference of tests and benchmarks: ICU over each
 * whole line and the Punkt rules as regular expressions. Quadratic in a line's length (ICU's per-segment cost and
 * the lazy patterns' rescans): only for small inputs and for contrast in bench/segment.bench.ts.
 */
import type { Span } from "../markup/marked-sentence.js";

const refSegmenter = new Intl.Segmenter("es", { granularity: "sentence" });
function refTrim(text: string, start: number, end: number): Span | undefined {
  let s = start;
  let e = end;
  while (s < e && /\s/u.test(text[s] as string)) s++;
  while (e > s && /\s/u.test(text[e - 1] as string)) e--;
  return s < e ? { start: s, end: e } : undefined;
}
function refStrip(token: string): string {
  return token.replace(/^[("'¿¡«“‘]+/u, "");
}
function refIsEnd(word: string): boolean {
  if (word === "") return false;
  if (["etc", "rx", "cc"].includes(word.toLowerCase())) return false;
  return !/^\p{L}$/u.test(word);
}
function refPunkt(line: string): number[] {
  const breaks: number[] = [];
  const re = /(\S*?)(\.+)(?=\s+\S|[?!)";}\]*:@'({[])/gu;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    if ((m[2] as string).length !== 1 || !refIsEnd(refStrip(m[1] as string))) continue;
    const at = m.index + m[0].length;
    const closing = /^["')\]}”’»]+(?=\s|$)/u.exec(line.slice(at));
    breaks.push(at + (closing === null ? 0 : closing[0].length));
  }
  return breaks;
}
function refKeeps(line: string, at: number): boolean {
  const m = /(\S*?)(\.+)$/u.exec(line.slice(0, at).trimEnd());
  if (m === null) return true;
  if ((m[2] as string).length > 1) return false;
  return refIsEnd(refStrip(m[1] as string));
}
/** Every sentence of `text` (Spanish rules), as segmentSentences gave them before issue 16. */
export function referenceSegmentSentences(text: string): Span[] {
  const out: Span[] = [];
  let lineStart = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text[i] === "\n" || text[i] === "\r") {
      if (i > lineStart) {
        const line = text.slice(lineStart, i);
        const cuts: number[] = [];
        for (const seg of refSegmenter.segment(line)) if (seg.index > 0 && refKeeps(line, seg.index)) cuts.push(lineStart + seg.index);
        for (const b of refPunkt(line)) cuts.push(lineStart + b);
        cuts.sort((a, b) => a - b);
        let from = lineStart;
        for (const c of [...cuts, i]) {
          if (c <= from) continue;
          const s = refTrim(text, from, c);
          if (s !== undefined) out.push(s);
          from = c;
        }
      }
      lineStart = i + 1;
    }
  }
  return out;
}
