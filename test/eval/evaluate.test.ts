import { describe, expect, it } from "vitest";
import { percentile } from "../../src/eval/bootstrap.js";
import { canonicalCode } from "../../src/eval/codes.js";
import { evaluate } from "../../src/eval/evaluate.js";
import { mulberry32 } from "../../src/util/random.js";
import type { GoldMention, Prediction } from "../../src/eval/types.js";

const g = (doc: string, start: number, code: string, label = "L"): GoldMention => ({ doc, label, start, end: start + 3, code });
const p = (doc: string, start: number, codes: string[], label = "L"): Prediction => ({ doc, label, start, end: start + 3, codes });

describe("evaluate: metric edge cases", () => {
  it("compares composite codes as sets", () => {
    const gold = [g("d1", 0, "b+a"), g("d1", 10, "a+b"), g("d1", 20, "a+b")];
    const preds = [p("d1", 0, ["a+b"]), p("d1", 10, ["a"]), p("d1", 20, ["b+a+b"])];
    const r = evaluate(gold, preds, { resamples: 0 });
    expect(r.overall.n).toBe(3);
    expect(r.overall.hits[1]).toBe(2); // set {a,b} == {b,a}; {a} != {a,b}; "b+a+b" is the set {a,b}
  });

  it("compares codes as the authors' evaluation does with codes: authors (sorted parts, repeats kept), and says which", () => {
    const gold = [g("d1", 0, "b+a"), g("d1", 10, "a"), g("d1", 20, "a+b"), g("d1", 30, "a"), g("d1", 40, "a")];
    // "a+b" = "b+a" both ways; "a+a" is a for sets, not for the authors; "a+NO_CODE" is never a; " a" is a.
    const preds = [p("d1", 0, ["a+b"]), p("d1", 10, ["a+a"]), p("d1", 20, ["b+a+b"]), p("d1", 30, ["a+NO_CODE"]), p("d1", 40, [" a"])];
    const set = evaluate(gold, preds, { resamples: 0 });
    const authors = evaluate(gold, preds, { resamples: 0, codes: "authors" });
    expect(set.codes).toBe("set");
    expect(authors.codes).toBe("authors");
    expect(set.overall.hits[1]).toBe(4);
    expect(authors.overall.hits[1]).toBe(2);
    // Recall@k counts distinct answers the same way: a+a then a is two answers for the authors, one for sets.
    const ranked = evaluate([g("d1", 0, "a")], [p("d1", 0, ["a+a", "a"])], { resamples: 0, codes: "authors" });
    expect(ranked.ks).toEqual([1, 2]);
    expect(ranked.overall.hits).toEqual({ 1: 0, 2: 1 });
    expect(evaluate([g("d1", 0, "a")], [p("d1", 0, ["a+a", "a"])], { resamples: 0 }).ks).toEqual([1]);
  });

  it("excludes gold NO_CODE, including composites with a NO_CODE part", () => {
    const gold = [g("d1", 0, "NO_CODE"), g("d1", 10, "NO_CODE+x"), g("d1", 20, "x")];
    const preds = [p("d1", 0, ["NO_CODE"]), p("d1", 10, ["x"]), p("d1", 20, ["x"])];
    const r = evaluate(gold, preds, { resamples: 0 });
    expect(r.counts.gold_no_code).toBe(2);
    expect(r.counts.predictions_of_no_code_gold).toBe(2);
    expect(r.overall.n).toBe(1);
    expect(r.overall.recall[1]).toBe(1);
  });

  it("de-duplicates gold mentions on (document, label, start, end)", () => {
    const gold = [g("d1", 0, "x"), g("d1", 0, "x"), g("d1", 0, "x", "OTHER"), g("d2", 0, "x")];
    const preds = [p("d1", 0, ["x"]), p("d1", 0, ["y"], "OTHER"), p("d2", 0, ["y"])];
    const r = evaluate(gold, preds, { resamples: 0 });
    expect(r.counts.gold_duplicates).toBe(1);
    expect(r.overall.n).toBe(3);
    expect(r.overall.hits[1]).toBe(1);
    expect(r.by_label.L.n).toBe(2);
    expect(r.by_label.OTHER.recall[1]).toBe(0);
  });

  it("counts a missing prediction as a miss, or leaves it out with onlyPredicted", () => {
    const gold = [g("d1", 0, "x"), g("d1", 10, "y"), g("d2", 0, "z")];
    const preds = [p("d1", 0, ["x"]), p("d9", 0, ["x"])];
    const all = evaluate(gold, preds, { resamples: 0 });
    expect(all.overall.n).toBe(3);
    expect(all.overall.recall[1]).toBeCloseTo(1 / 3, 12);
    expect(all.counts.gold_without_prediction).toBe(2);
    expect(all.counts.predictions_without_gold).toBe(1);
    const only = evaluate(gold, preds, { resamples: 0, onlyPredicted: true });
    expect(only.overall.n).toBe(1);
    expect(only.overall.recall[1]).toBe(1);
    expect(only.counts.gold_without_prediction).toBe(2);
  });

  it("ranks distinct codes for Recall@k and defaults k to the most beams", () => {
    const gold = [g("d1", 0, "c")];
    // Repeated codes take one rank: c is the 3rd distinct code although it is the 5th beam.
    const preds = [p("d1", 0, ["a", "a", "b", "a+a", "c"])];
    const r = evaluate(gold, preds, { resamples: 0 });
    expect(r.ks).toEqual([1, 2, 3]);
    expect([r.overall.recall[1], r.overall.recall[2], r.overall.recall[3]]).toEqual([0, 0, 1]);
  });

  it("reports the NO_CODE rate of top predictions and mentions/s", () => {
    const gold = [g("d1", 0, "x"), g("d1", 10, "y"), g("d1", 20, "z"), g("d1", 30, "w")];
    const preds = [p("d1", 0, ["NO_CODE", "x"]), p("d1", 10, ["y"]), p("d1", 20, ["NO_CODE"])];
    const r = evaluate(gold, preds, { resamples: 0, elapsedSeconds: 2 });
    expect(r.no_code_rate).toBeCloseTo(2 / 3, 12);
    expect(r.mentions_per_second).toBeCloseTo(1.5, 12);
    expect(r.overall.recall[2]).toBeCloseTo(2 / 4, 12);
  });

  it("splits seen and unseen on the training codes (every part of a composite must be seen)", () => {
    const gold = [g("d1", 0, "a"), g("d1", 10, "a+b"), g("d1", 20, "c")];
    const preds = [p("d1", 0, ["a"]), p("d1", 10, ["a+b"]), p("d1", 20, ["x"])];
    const r = evaluate(gold, preds, { resamples: 0, trainCodes: new Set(["a", "c"]) });
    expect(r.seen?.n).toBe(2);
    expect(r.seen?.recall[1]).toBe(0.5);
    expect(r.unseen?.n).toBe(1);
    expect(r.unseen?.recall[1]).toBe(1);
  });

  it("rejects bad options and malformed records", () => {
    expect(() => evaluate([g("d", 0, "x")], [], { ks: [0] })).toThrow(/cut-offs/);
    expect(() => evaluate([{ doc: "d", label: "L", start: Number.NaN, end: 1, code: "x" }], [])).toThrow(/gold mention #1/);
  });
});

/** Independent brute-force scoring of random data: rank of the gold set among distinct predicted sets. */
function bruteRecall(gold: GoldMention[], preds: Prediction[], k: number): { n: number; hits: number } {
  const setKey = (c: string) => [...new Set(c.split("+"))].sort().join("+");
  const keyOf = (m: { doc: string; label: string; start: number; end: number }) => JSON.stringify([m.doc, m.label, m.start, m.end]);
  const seen = new Set<string>();
  let n = 0;
  let hits = 0;
  for (const m of gold) {
    if (seen.has(keyOf(m))) continue;
    seen.add(keyOf(m));
    if (m.code.split("+").includes("NO_CODE")) continue;
    n++;
    const pr = preds.find((x) => keyOf(x) === keyOf(m));
    if (!pr) continue;
    const distinct: string[] = [];
    for (const c of pr.codes) if (!distinct.includes(setKey(c))) distinct.push(setKey(c));
    if (distinct.slice(0, k).includes(setKey(m.code))) hits++;
  }
  return { n, hits };
}

function randomData(seed: number): { gold: GoldMention[]; preds: Prediction[] } {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const codes = ["a", "b", "c", "d", "a+b", "b+a", "NO_CODE", "c+NO_CODE"];
  const gold: GoldMention[] = [];
  const preds: Prediction[] = [];
  for (let i = 0; i < 300; i++) {
    const m = { doc: `d${Math.floor(rnd() * 20)}`, label: pick(["X", "Y"]), start: Math.floor(rnd() * 50), end: 0, code: pick(codes) };
    const gm = { ...m, end: m.start + 2 };
    gold.push(gm);
    if (rnd() < 0.8) preds.push({ doc: gm.doc, label: gm.label, start: gm.start, end: gm.end, codes: Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => pick(codes)) });
  }
  return { gold, preds };
}

describe("evaluate: against brute force on random data", () => {
  it("matches a brute-force Recall@k and is monotone in k", () => {
    for (const seed of [1, 2, 3]) {
      const { gold, preds } = randomData(seed);
      // De-duplicate predictions on the key the same way both sides do (first kept).
      const firstPreds = preds.filter((x, i) => preds.findIndex((y) => y.doc === x.doc && y.label === x.label && y.start === x.start && y.end === x.end) === i);
      const r = evaluate(gold, firstPreds, { resamples: 0, ks: [1, 2, 3, 4, 5] });
      let previous = -1;
      for (const k of [1, 2, 3, 4, 5]) {
        const b = bruteRecall(gold, firstPreds, k);
        expect(r.overall.n).toBe(b.n);
        expect(r.overall.hits[k]).toBe(b.hits);
        expect(r.overall.recall[k]).toBeGreaterThanOrEqual(previous);
        previous = r.overall.recall[k];
      }
      const labelsN = Object.values(r.by_label).reduce((s, row) => s + row.n, 0);
      expect(labelsN).toBe(r.overall.n);
    }
  });
});

describe("bootstrap", () => {
  it("interpolates percentiles like numpy", () => {
    expect(percentile([1, 2, 3, 4], 0.25)).toBeCloseTo(1.75, 12);
    expect(percentile([1, 2, 3, 4], 0.975)).toBeCloseTo(3.925, 12);
    expect(percentile([5], 0.5)).toBe(5);
  });

  it("gives deterministic intervals with a seed that contain the point estimate", () => {
    const { gold, preds } = randomData(7);
    const a = evaluate(gold, preds, { seed: 42, resamples: 300 });
    const b = evaluate(gold, preds, { seed: 42, resamples: 300 });
    const c = evaluate(gold, preds, { seed: 43, resamples: 300 });
    expect(a.overall.ci).toEqual(b.overall.ci);
    expect(a.overall.ci).not.toEqual(c.overall.ci);
    for (const row of [a.overall, ...Object.values(a.by_label)]) {
      const [lo, hi] = row.ci![1];
      expect(lo).toBeLessThanOrEqual(row.recall[1]);
      expect(hi).toBeGreaterThanOrEqual(row.recall[1]);
      expect(hi).toBeGreaterThan(lo);
    }
  });

  it("collapses to the point when every document has the same recall", () => {
    // Each document: one hit, one miss -> every resample has recall 0.5.
    const gold = ["d1", "d2", "d3"].flatMap((d) => [g(d, 0, "x"), g(d, 10, "y")]);
    const preds = ["d1", "d2", "d3"].flatMap((d) => [p(d, 0, ["x"]), p(d, 10, ["x"])]);
    const r = evaluate(gold, preds, { resamples: 200 });
    expect(r.overall.ci![1]).toEqual([0.5, 0.5]);
  });

  it("canonicalises composite codes", () => {
    expect(canonicalCode(" b + a +b")).toBe("a+b");
  });
});
