/**
 * Regression tests of issue 16 (linear segmentation): the one-pass segmenter and its windowed ICU give exactly the
 * sentences of the previous implementation (kept below as the reference: whole-line ICU and the Punkt regexes),
 * on random lines built to hit every rule, with windows small enough that every line is cut into many; ICU never
 * sees much more than the line itself; marked sentences are found by bisection. The reference is
 * src/testing/reference-segment.ts. Speed figures: npm run
 * bench:segment (no timing here).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildMarkedSentence, prepareSegmentation, SegmentationCache } from "../../src/markup/sentence-builder.js";
import { ICU_WINDOW, isSpaceCode, segmentationSteps, segmentSentences, segmentSentencesAsync } from "../../src/markup/segment.js";
import type { Span } from "../../src/markup/marked-sentence.js";
import { mulberry32 } from "../../src/util/random.js";
import { referenceSegmentSentences as refSegment } from "../../src/testing/reference-segment.js";


const PIECES = [
  "fiebre", "Paciente", "TC", "rx", "Rx", "etc", "cc", "D", "a", "U.S.", "12,8", "3", "gr", "cm", "i.v", "Dr", "él", "Ñandú", "😷", "e\u0301",
  ".", ".", ".", "..", "...", "?", "!", "¿", "¡", "(", ")", "[", "]", "{", "}", '"', "'", "”", "’", "»", "«", "“", "‘", ":", ";", "@", "*", ",", "-",
  " ", " ", " ", " ", "  ", "\t", "\u00a0", "\u3000", "\u2028", "\ufeff", "\u202f", "\n", "\r\n", "1", "2024", "mg.", "etc.", "Sr.",
];

function randomText(random: () => number, pieces: number): string {
  let s = "";
  for (let i = 0; i < pieces; i++) s += PIECES[Math.floor(random() * PIECES.length)];
  return s;
}

function stepsWithWindow(text: string, window: number): Span[] {
  const steps = segmentationSteps(text, "es", window);
  for (let r = steps.next(); ; r = steps.next()) if (r.done) return r.value;
}

describe("linear segmentation", () => {
  it("isSpaceCode is JavaScript's \\s on every UTF-16 code unit", () => {
    const differ: string[] = [];
    for (let c = 0; c < 0x10000; c++) if (isSpaceCode(c) !== /\s/.test(String.fromCharCode(c))) differ.push(`U+${c.toString(16)}`);
    expect(differ).toEqual([]);
  });

  it("gives the sentences of the previous implementation on random texts", () => {
    const random = mulberry32(16);
    for (let k = 0; k < 600; k++) {
      const text = randomText(random, 1 + Math.floor(random() * 120));
      expect(segmentSentences(text, "es"), JSON.stringify(text)).toEqual(refSegment(text));
    }
  });

  it("cut into small ICU windows, still the same sentences (the windows' look-ahead rule is exact)", () => {
    const random = mulberry32(17);
    for (let k = 0; k < 600; k++) {
      // Long single lines: every line crosses many windows.
      const text = randomText(random, 40 + Math.floor(random() * 200)).replace(/[\n\r]/g, " ");
      const want = refSegment(text);
      for (const window of [8, 23, 64]) expect(stepsWithWindow(text, window), `window ${window}: ${JSON.stringify(text)}`).toEqual(want);
    }
  });

  it("ICU reads each long line about once, in windows (it costs time per segment proportional to its input)", () => {
    const spy = vi.spyOn(Intl.Segmenter.prototype, "segment");
    const line = "Paciente con fiebre alta. Se realiza TC y rx. de tórax sin hallazgos. ".repeat(5000); // 355,000 characters
    const sentences = segmentSentences(line, "es");
    const read = spy.mock.calls.reduce((n, c) => n + (c[0] as string).length, 0);
    expect(sentences).toHaveLength(10_000); // "rx." is an abbreviation: two sentences per repetition
    expect(read).toBeGreaterThanOrEqual(line.length);
    expect(read).toBeLessThan(1.2 * line.length);
    expect(Math.max(...spy.mock.calls.map((c) => (c[0] as string).length))).toBeLessThanOrEqual(2 * ICU_WINDOW);
    // A line without any break is read in growing windows: at most about twice.
    spy.mockClear();
    const token = "a".repeat(300_000);
    expect(segmentSentences(token, "es")).toEqual([{ start: 0, end: 300_000 }]);
    expect(spy.mock.calls.reduce((n, c) => n + (c[0] as string).length, 0)).toBeLessThan(3 * token.length);
  });

  it("the asynchronous form gives the same sentences and lets other callbacks run meanwhile", async () => {
    const text = "Se realiza TC. Paciente con fiebre alta y tos. ".repeat(20_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const sentences = await segmentSentencesAsync(text, "es", 1);
    clearInterval(timer);
    expect(sentences).toEqual(segmentSentences(text, "es"));
    expect(ticks).toBeGreaterThan(0);
  });

  it("a line of 300,000 sentences does not overflow the stack", () => {
    expect(segmentSentences("Fin. ".repeat(300_000), "es")).toHaveLength(300_000);
  });
});

describe("marked sentences of a long document", () => {
  afterEach(() => vi.restoreAllMocks());

  it("the sentences of each mention are found as by a scan over all sentences", () => {
    const random = mulberry32(18);
    const text = randomText(random, 3000);
    const doc = { id: "d", text, language: "es" };
    const cache = new SegmentationCache();
    const all = refSegment(text.replace(/\u00a0/g, " ").replace(/[[{]/g, "(").replace(/[\]}]/g, ")"));
    for (let k = 0; k < 300; k++) {
      const a = Math.floor(random() * (text.length - 1));
      const b = Math.min(text.length, a + 1 + Math.floor(random() * 30));
      const got = buildMarkedSentence(doc, { label: "G", fragments: [{ start: a, end: b }] }, { cache });
      let start = a;
      let end = b;
      for (const s of all) if (s.end > a && s.start < b) [start, end] = [Math.min(start, s.start), Math.max(end, s.end)];
      expect([got.start, got.end]).toEqual([start, end]);
    }
  });

  it("prepareSegmentation does the work ahead: building then segments nothing", async () => {
    const doc = { id: "p", text: "Paciente con fiebre. Se realiza TC.", language: "es" };
    await prepareSegmentation(doc);
    const spy = vi.spyOn(Intl.Segmenter.prototype, "segment");
    expect(buildMarkedSentence(doc, { label: "P", fragments: [{ start: 32, end: 34 }] }, { cache: new SegmentationCache() }).sentence).toBe("Se realiza [TC]{P}.");
    expect(spy).not.toHaveBeenCalled();
  });
});
