/** Prefill groups (src/lm/onnx-lm.ts paddingGroups): every row once, padding bounded, call sizes respected. */
import { describe, expect, it } from "vitest";
import { paddingGroups } from "../../src/lm/onnx-lm.js";

function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe("paddingGroups", () => {
  it("puts every row in exactly one group, each group within 1.25x padded tokens or a single prompt, and no group over the call limit", () => {
    const rand = lcg(7);
    for (let trial = 0; trial < 200; trial++) {
      const rows = 1 + Math.floor(rand() * 40);
      const prompts = Array.from({ length: rows }, () => Array.from({ length: 1 + Math.floor(rand() * 200) }, () => 1));
      const limit = 1 + Math.floor(rand() * 12);
      const groups = paddingGroups(prompts, () => limit);
      expect(groups.flat().sort((a, b) => a - b)).toEqual(prompts.map((_, r) => r));
      for (const g of groups) {
        expect(g.length).toBeLessThanOrEqual(limit);
        const longest = Math.max(...g.map((r) => prompts[r].length));
        const real = g.reduce((s, r) => s + prompts[r].length, 0);
        if (g.length > 1) expect(longest * g.length).toBeLessThanOrEqual(1.25 * real);
      }
    }
  });

  it("keeps one group in the callers' row order, and splits a long prompt from many short ones", () => {
    expect(paddingGroups([[1, 2, 3], [1, 2, 3, 4], [1, 2, 3]], () => 100)).toEqual([[0, 1, 2]]);
    const prompts = [Array(150).fill(1), ...Array.from({ length: 15 }, () => Array(60).fill(1))];
    const groups = paddingGroups(prompts, () => 100);
    expect(groups).toEqual([[0], Array.from({ length: 15 }, (_, i) => i + 1)]);
  });
});
