/**
 * Prefill groups (src/lm/onnx-lm.ts paddingGroups): every row once, call sizes respected, and the least total cost
 * (callTokens per call + padded tokens), checked against every partition of small batches.
 */
import { describe, expect, it } from "vitest";
import { paddingGroups, PREFILL_CALL_TOKENS, prefillCallTokens } from "../../src/lm/onnx-lm.js";

function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

const prompt = (length: number): number[] => Array(length).fill(1);

function cost(prompts: readonly number[][], groups: readonly number[][], callTokens: number): number {
  return groups.reduce((sum, g) => sum + callTokens + g.length * Math.max(...g.map((r) => prompts[r].length)), 0);
}

/** Every partition of 0..n-1 into groups (restricted growth strings). */
function* partitions(n: number): Generator<number[][]> {
  const label = new Array<number>(n).fill(0);
  function* rec(i: number, groups: number): Generator<number[][]> {
    if (i === n) {
      yield Array.from({ length: groups }, (_, g) => label.map((l, r) => (l === g ? r : -1)).filter((r) => r >= 0));
      return;
    }
    for (let l = 0; l <= groups; l++) {
      label[i] = l;
      yield* rec(i + 1, Math.max(groups, l + 1));
    }
  }
  yield* rec(0, 0);
}

describe("paddingGroups", () => {
  it("finds the grouping of least cost: brute force over every partition of up to 7 prompts, with and without call limits", () => {
    const rand = lcg(7);
    for (let trial = 0; trial < 150; trial++) {
      const rows = 1 + Math.floor(rand() * 7);
      const prompts = Array.from({ length: rows }, () => prompt(1 + Math.floor(rand() * (trial % 2 ? 12 : 200))));
      const callTokens = [0, 4, 30, 256][trial % 4];
      // A call limit that shrinks as prompts grow, as the logits budget does (or none).
      const budget = 40 + Math.floor(rand() * 400);
      const chunk = trial % 3 === 0 ? () => Number.MAX_SAFE_INTEGER : (length: number) => Math.max(1, Math.floor(budget / length));
      const groups = paddingGroups(prompts, chunk, callTokens);
      expect(groups.flat().sort((a, b) => a - b)).toEqual(prompts.map((_, r) => r));
      for (const g of groups) expect(g.length).toBeLessThanOrEqual(chunk(Math.max(...g.map((r) => prompts[r].length))));
      let best = Infinity;
      for (const p of partitions(rows)) {
        if (p.every((g) => g.length <= chunk(Math.max(...g.map((r) => prompts[r].length))))) best = Math.min(best, cost(prompts, p, callTokens));
      }
      expect(cost(prompts, groups, callTokens)).toBe(best);
    }
  });

  it("on CPU runs prompts of different lengths apart and equal ones together; one group keeps the callers' order", () => {
    expect(paddingGroups([prompt(3), prompt(4), prompt(3)], () => 100)).toEqual([[0, 1, 2]]);
    // One 150-token and fifteen 60-token prompts: two calls, no padding.
    const prompts = [prompt(150), ...Array.from({ length: 15 }, () => prompt(60))];
    expect(paddingGroups(prompts, () => 100)).toEqual([[0], Array.from({ length: 15 }, (_, i) => i + 1)]);
    // The bench's eight SPACCC prompts: 708 tokens run for 704 (the former 1.25 slack ran 826).
    const spaccc = [141, 52, 53, 73, 144, 99, 111, 31].map(prompt);
    const groups = paddingGroups(spaccc, () => Number.MAX_SAFE_INTEGER, PREFILL_CALL_TOKENS.cpu);
    const padded = groups.reduce((s, g) => s + g.length * Math.max(...g.map((r) => spaccc[r].length)), 0);
    expect(padded).toBe(708);
    expect(groups).toEqual([[4, 0], [6], [5], [3], [2, 1], [7]]);
  });

  it("costs a call by the model's first execution provider", () => {
    expect(prefillCallTokens()).toBe(4);
    expect(prefillCallTokens(["cpu"])).toBe(4);
    expect(prefillCallTokens(["cuda", "cpu"])).toBe(256);
  });

  it("on an accelerator (dear calls) groups prompts of unlike lengths together", () => {
    const spaccc = [141, 52, 53, 73, 144, 99, 111, 31].map(prompt);
    expect(paddingGroups(spaccc, () => Number.MAX_SAFE_INTEGER, PREFILL_CALL_TOKENS.accelerator).length).toBeLessThanOrEqual(2);
  });
});
