import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/util/random.js";
import { sampleTopP } from "../../src/synth/top-p-sampler.js";

/** The nucleus by brute force: full sort of softmax(logp / T), smallest prefix with mass >= p. */
function nucleus(logp: Float32Array, t: number, p: number): Map<number, number> {
  const w = Array.from(logp, (v) => Math.exp(v / t));
  const z = w.reduce((a, b) => a + b, 0);
  const order = w.map((x, i) => [x / z, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const kept: (readonly [number, number])[] = [];
  let mass = 0;
  for (const e of order) {
    kept.push(e);
    mass += e[0];
    if (mass >= p) break;
  }
  const k = kept.reduce((a, e) => a + e[0], 0);
  return new Map(kept.map(([q, i]) => [i, q / k]));
}

describe("temperature + top-p sampling", () => {
  it("draws only from the brute-force nucleus, with its renormalised frequencies", () => {
    const rand = mulberry32(3);
    const V = 300;
    const logits = Float32Array.from({ length: V }, () => 6 * rand());
    let lse = 0;
    for (const v of logits) lse += Math.exp(v);
    const logp = logits.map((v) => v - Math.log(lse));
    const expected = nucleus(logp, 0.6, 0.9);
    const counts = new Map<number, number>();
    const draws = 6000;
    const r = mulberry32(11);
    for (let i = 0; i < draws; i++) {
      const id = sampleTopP(logp, 0, V, 0.6, 0.9, r);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const id of counts.keys()) expect(expected.has(id), `token ${id} outside the nucleus`).toBe(true);
    // Frequencies of the most likely tokens match within 5 standard errors.
    const top = [...expected].sort((a, b) => b[1] - a[1]).slice(0, 5);
    for (const [id, q] of top) {
      const f = (counts.get(id) ?? 0) / draws;
      expect(Math.abs(f - q)).toBeLessThan(5 * Math.sqrt((q * (1 - q)) / draws));
    }
  });

  it("is greedy at temperature 0 and reproducible for a seed", () => {
    const logp = Float32Array.from([-3, -0.2, -2, -5]);
    expect(sampleTopP(logp, 0, 4, 0, 0.9, Math.random)).toBe(1);
    const run = (): number[] => {
      const r = mulberry32(5);
      return Array.from({ length: 50 }, () => sampleTopP(logp, 0, 4, 1, 1, r));
    };
    const a = run();
    expect(a).toEqual(run());
    expect(new Set(a).size).toBeGreaterThan(1);
  });
});
