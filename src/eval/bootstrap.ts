import { mulberry32 } from "../util/random.js";

/** Mentions of one scored subset, tallied per document: n[d] and hits[k][d]. */
export interface DocTally {
  readonly n: Float64Array;
  /** One array per cut-off, same order as the ks. */
  readonly hits: readonly Float64Array[];
}

/** Linear-interpolated percentile (numpy's default) of sorted values, q in [0, 1]. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Document-level percentile bootstrap of the ratio sum(hits) / sum(n) for several tallies at once: every
 * resample draws documents with replacement and is shared by all tallies (so per-label intervals come from the
 * same resamples). A resample in which a tally has no mention is skipped for that tally.
 * Returns, per tally and per k, the [low, high] interval.
 */
export function bootstrapIntervals(
  tallies: readonly DocTally[],
  documents: number,
  options: { resamples: number; seed: number; confidence: number },
): [number, number][][] {
  const random = mulberry32(options.seed);
  const stats: number[][][] = tallies.map((t) => t.hits.map(() => []));
  const weight = new Float64Array(documents);
  for (let r = 0; r < options.resamples; r++) {
    weight.fill(0);
    for (let i = 0; i < documents; i++) weight[Math.floor(random() * documents)] += 1;
    tallies.forEach((t, ti) => {
      let n = 0;
      for (let d = 0; d < documents; d++) n += weight[d] * t.n[d];
      if (n === 0) return;
      t.hits.forEach((h, ki) => {
        let hits = 0;
        for (let d = 0; d < documents; d++) hits += weight[d] * h[d];
        stats[ti][ki].push(hits / n);
      });
    });
  }
  const alpha = (1 - options.confidence) / 2;
  return stats.map((perK) =>
    perK.map((values) => {
      values.sort((a, b) => a - b);
      return [percentile(values, alpha), percentile(values, 1 - alpha)] as [number, number];
    }),
  );
}
