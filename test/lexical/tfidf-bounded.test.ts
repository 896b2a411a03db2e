/** The bounded, impact-ordered retrieval of TfidfIndex on a group large enough for its savings to apply. */
import { describe, expect, it } from "vitest";
import { LexicalIndex, type LexicalEntry } from "../../src/lexical/lexical-index.js";
import { sparseDot } from "../../src/lexical/sparse.js";
import { clinicalNameGenerator } from "../../src/testing/terminology-generator.js";

const next = clinicalNameGenerator(11);
const entries: LexicalEntry[] = Array.from({ length: 6000 }, (_, i) => ({ name: next(), code: String(i), codes: [String(i)] }));
const index = LexicalIndex.build(new Map([["G", entries]]));
const queries = [...Array.from({ length: 25 }, () => next()), entries[10].name, "fractura de fémur", "dolor"];

const vectors = entries.map((e) => index.vectorizer.transform(e.name));

/** Brute force: cosine of the query to every name. */
function brute(q: string): { code: string; score: number }[] {
  const qv = index.vectorizer.transform(q);
  return entries.map((e, i) => ({ code: e.code, score: sparseDot(qv, vectors[i]) })).filter((s) => s.score > 0).sort((a, b) => b.score - a.score || Number(a.code) - Number(b.code));
}

describe("bounded TF-IDF retrieval", () => {
  it("exhaustive mode equals brute force; a budget large enough changes nothing", () => {
    for (const q of queries) {
      const expected = brute(q).slice(0, 64);
      index.setExhaustiveSearch(true);
      const exact = index.search(q, "G", 64);
      expect(exact.map((c) => c.code)).toEqual(expected.map((c) => c.code));
      exact.forEach((c, i) => expect(c.score).toBeCloseTo(expected[i].score, 12));
      index.setExhaustiveSearch(false);
      index.setPostingBudget(1e9);
      expect(index.search(q, "G", 64).map((c) => c.code)).toEqual(exact.map((c) => c.code));
    }
    index.setPostingBudget();
  });

  it("a small budget reads at most that many postings and still returns exact scores, best first", () => {
    index.setPostingBudget(2000);
    let overlap = 0;
    for (const q of queries) {
      const before = index.postingsScanned();
      const got = index.search(q, "G", 10);
      const read = index.postingsScanned() - before;
      expect(read).toBeLessThanOrEqual(2000 * 4); // at most one budget per top-k round (rounds: k*2, then x4)
      const ranked = brute(q);
      const truth = new Map(ranked.map((s) => [s.code, s.score]));
      for (let i = 0; i < got.length; i++) {
        expect(got[i].score).toBeCloseTo(truth.get(got[i].code) as number, 12);
        if (i > 0) expect(got[i].score).toBeLessThanOrEqual(got[i - 1].score);
      }
      const best = ranked.slice(0, 10).map((s) => s.code);
      overlap += got.filter((c) => best.includes(c.code)).length / Math.max(1, best.length);
    }
    // An approximation, but the rare n-grams come first: most of the true top 10 is found.
    expect(overlap / queries.length).toBeGreaterThan(0.8);
    index.setPostingBudget();
  });
});
