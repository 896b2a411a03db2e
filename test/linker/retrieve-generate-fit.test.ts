import { describe, expect, it } from "vitest";
import { fitRetrieverWeight, type WeightFitExample } from "../../src/linker/retrieve-generate-fit.js";

// Hand-worked: A is right for w > -1.25, B for w > 5/6, C for w <= 10/3 (a tie goes to the first candidate).
const EXAMPLES: WeightFitExample[] = [
  { candidates: [{ lmScore: -1, score: 0.9, code: "a" }, { lmScore: -2, score: 0.1, code: "b" }], gold: ["a"] },
  { candidates: [{ lmScore: -1, score: 0.2, code: "x" }, { lmScore: -1.5, score: 0.8, code: "y" }], gold: ["y"] },
  { candidates: [{ lmScore: -1, score: 0.3, code: "p" }, { lmScore: -3, score: 0.9, code: "q" }], gold: ["p", "z"] },
];

describe("fitting the retriever weight on training mentions", () => {
  it("picks a weight inside the interval where every example is right, smallest |w| first", () => {
    const fit = fitRetrieverWeight(EXAMPLES);
    expect(fit.weight).toBeGreaterThan(5 / 6);
    expect(fit.weight).toBeLessThanOrEqual(10 / 3);
    expect(fit.recallAt1).toBe(1);
    expect(fit.recallAt1PureLm).toBeCloseTo(2 / 3, 12);
    expect(fit.examples).toBe(3);
    // On a grid it chooses the smallest magnitude among equally good weights.
    expect(fitRetrieverWeight(EXAMPLES, [3, 2, 1, 0.5]).weight).toBe(1);
  });

  it("keeps pure LM score when the retriever does not help", () => {
    const fit = fitRetrieverWeight([EXAMPLES[0], EXAMPLES[2]]);
    expect(fit.weight).toBe(0);
    expect(fit.recallAt1).toBe(1);
  });

  it("refuses an empty training set or a bad grid", () => {
    expect(() => fitRetrieverWeight([])).toThrow(expect.objectContaining({ code: "TRAIN_INVALID_INPUT" }));
    expect(() => fitRetrieverWeight(EXAMPLES, [Number.NaN])).toThrow(expect.objectContaining({ code: "TRAIN_INVALID_INPUT" }));
  });
});
