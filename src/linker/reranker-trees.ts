/**
 * Gradient-boosted regression trees for listwise ranking: each tree fits the gradient of the same loss the
 * reranker uses (-log of the softmax mass of a mention's gold candidates) by Newton steps on histogram splits
 * (features cut at training quantiles), starting from given scores (the reranker's own, so the trees correct the
 * smooth model with thresholds and interactions it misses). Trees are oblivious (one feature test per level, as in
 * CatBoost), stored flat: scoring one candidate costs `depth` independent comparisons per tree, which ran about
 * twice as fast as ordinary trees of the same depth (no chain of dependent loads and branches).
 */
import { SyncabelError } from "../errors.js";
import { mulberry32 } from "../util/random.js";

export interface TreeOptions {
  readonly trees?: number;
  readonly depth?: number;
  /** Shrinkage of every tree's values. */
  readonly rate?: number;
  /** L2 penalty on leaf values (Newton step = -G / (H + lambda)). */
  readonly lambda?: number;
  /** Least Hessian mass in a child of a split. */
  readonly minHessian?: number;
  /** Share of mentions each tree is fitted on (seeded). */
  readonly subsample?: number;
  /** Largest number of bins per feature. */
  readonly bins?: number;
  readonly seed?: number;
}

/** A mention's candidates for boosting: feature rows (with the group id as the last value), gold rows, weight, start scores. */
export interface BoostList {
  readonly rows: readonly Float64Array[];
  readonly gold: readonly number[];
  readonly weight: number;
  readonly init: Float64Array;
}

export interface TreesJson {
  readonly depth: number;
  readonly rate: number;
  /** Per tree and level, the feature tested and the threshold (bit k of the leaf index = value > threshold). */
  readonly feature: readonly number[];
  readonly threshold: readonly (number | null)[];
  /** Per tree, 2^depth leaf values (already shrunk). */
  readonly leaf: readonly number[];
}

export class Trees {
  private constructor(
    readonly depth: number,
    readonly rate: number,
    readonly count: number,
    private readonly feature: Int32Array,
    private readonly threshold: Float64Array,
    private readonly leaf: Float64Array,
  ) {}

  /** Sum of the trees' values for one row. */
  score(x: Float64Array): number {
    const depth = this.depth;
    const leaves = 1 << depth;
    const feature = this.feature;
    const threshold = this.threshold;
    const leaf = this.leaf;
    let s = 0;
    for (let t = 0, base = 0, leafBase = 0; t < this.count; t++, base += depth, leafBase += leaves) {
      // Oblivious trees: one test per level, independent of the others (no chain of dependent loads and branches).
      let node = 0;
      for (let k = 0; k < depth; k++) node |= Number((x[feature[base + k] as number] as number) > (threshold[base + k] as number)) << k;
      s += leaf[leafBase + node] as number;
    }
    return s;
  }

  static fit(lists: readonly BoostList[], options: TreeOptions = {}): Trees {
    const count = options.trees ?? 100;
    const depth = options.depth ?? 4;
    const rate = options.rate ?? 0.1;
    const lambda = options.lambda ?? 1;
    const minHessian = options.minHessian ?? 1;
    const subsample = options.subsample ?? 0.8;
    const random = mulberry32(options.seed ?? 1);
    const d = lists[0]?.rows[0]?.length ?? 0;
    const binned = new Binned(lists, d, options.bins ?? 32);
    const leaves = 1 << depth;
    const feature = new Int32Array(count * depth);
    const threshold = new Float64Array(count * depth);
    const leaf = new Float64Array(count * leaves);
    const score = new Float64Array(binned.n);
    lists.forEach((l, li) => score.set(l.init, binned.start[li] as number));
    const g = new Float64Array(binned.n);
    const h = new Float64Array(binned.n);
    for (let t = 0; t < count; t++) {
      gradients(lists, binned.start, score, g, h);
      const rows = binned.sampleRows(random, subsample);
      const tree = growTree(binned, rows, g, h, depth, lambda, minHessian);
      for (let k = 0; k < depth; k++) {
        feature[t * depth + k] = tree.feature[k] as number;
        threshold[t * depth + k] = (tree.bin[k] as number) < 0 ? Infinity : binned.cut(tree.feature[k] as number, tree.bin[k] as number);
      }
      for (let i = 0; i < leaves; i++) leaf[t * leaves + i] = rate * (tree.value[i] as number);
      // Every row (also those left out of this tree's sample) moves by the tree's value.
      for (let r = 0; r < binned.n; r++) score[r] += rate * (tree.value[binned.leafOf(r, tree, depth)] as number);
    }
    return new Trees(depth, rate, count, feature, threshold, leaf);
  }

  toJSON(): TreesJson {
    // JSON has no Infinity: an unsplit node's threshold is stored as null.
    return { depth: this.depth, rate: this.rate, feature: Array.from(this.feature), threshold: Array.from(this.threshold, (x) => (Number.isFinite(x) ? x : null)), leaf: Array.from(this.leaf) };
  }

  /** From JSON, refusing inconsistent sizes; `inputs` = values per row the trees may test. */
  static fromJSON(j: TreesJson, inputs: number): Trees {
    const count = j.leaf.length / 2 ** j.depth;
    const ok = Number.isInteger(j.depth) && j.depth >= 1 && j.depth <= 12 && Number.isInteger(count) && j.feature.length === count * j.depth && j.threshold.length === count * j.depth && j.feature.every((f) => Number.isInteger(f) && f >= 0 && f < inputs);
    if (!ok) throw new SyncabelError("KB_INDEX_INVALID", "stored reranker trees have inconsistent sizes");
    return new Trees(j.depth, j.rate, count, Int32Array.from(j.feature), Float64Array.from(j.threshold, (x) => x ?? Infinity), Float64Array.from(j.leaf));
  }
}

/** Gradient and (diagonal) Hessian of -w log sum_gold softmax(score) with respect to each row's score. */
function gradients(lists: readonly BoostList[], start: Int32Array, score: Float64Array, g: Float64Array, h: Float64Array): void {
  lists.forEach((l, li) => {
    const s0 = start[li] as number;
    const n = l.rows.length;
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, score[s0 + i] as number);
    let total = 0;
    let goldMass = 0;
    for (let i = 0; i < n; i++) total += Math.exp((score[s0 + i] as number) - max);
    for (const gi of l.gold) goldMass += Math.exp((score[s0 + gi] as number) - max);
    for (let i = 0; i < n; i++) {
      const p = Math.exp((score[s0 + i] as number) - max) / total;
      g[s0 + i] = l.weight * p;
      h[s0 + i] = Math.max(1e-6, l.weight * p * (1 - p));
    }
    for (const gi of l.gold) g[s0 + gi] -= (l.weight * Math.exp((score[s0 + gi] as number) - max)) / goldMass;
  });
}

interface Grown {
  /** Per level, the feature and bin tested (bin -1: no split, bit 0). */
  readonly feature: Int32Array;
  readonly bin: Int32Array;
  readonly value: Float64Array;
}

/**
 * One oblivious tree grown level by level on histograms of the sampled rows: each level tests the one split
 * (feature, bin) with the best total gain over the level's nodes.
 */
function growTree(b: Binned, rows: Int32Array, g: Float64Array, h: Float64Array, depth: number, lambda: number, minHessian: number): Grown {
  const feature = new Int32Array(depth);
  const bin = new Int32Array(depth).fill(-1);
  const nb = b.bins;
  const node = new Int32Array(rows.length);
  for (let level = 0; level < depth; level++) {
    const nodes = 1 << level;
    const hg = new Float64Array(nodes * b.d * nb);
    const hh = new Float64Array(nodes * b.d * nb);
    const G = new Float64Array(nodes);
    const H = new Float64Array(nodes);
    rows.forEach((r, i) => {
      const gr = g[r] as number;
      const hr = h[r] as number;
      const nd = node[i] as number;
      G[nd] += gr;
      H[nd] += hr;
      const off = r * b.d;
      const hoff = nd * b.d * nb;
      for (let f = 0; f < b.d; f++) {
        const idx = hoff + f * nb + (b.codes[off + f] as number);
        hg[idx] += gr;
        hh[idx] += hr;
      }
    });
    let bestGain = 1e-9;
    const gl = new Float64Array(nodes);
    const hl = new Float64Array(nodes);
    for (let f = 0; f < b.d; f++) {
      gl.fill(0);
      hl.fill(0);
      const last = (b.cuts[f] as Float64Array).length - 1;
      for (let k = 0; k < last; k++) {
        let gain = 0;
        let valid = false;
        for (let nd = 0; nd < nodes; nd++) {
          const idx = nd * b.d * nb + f * nb + k;
          gl[nd] += hg[idx] as number;
          hl[nd] += hh[idx] as number;
          const l = hl[nd] as number;
          const r = (H[nd] as number) - l;
          const gT = G[nd] as number;
          // A node too small to split keeps its value on both sides (no gain, no harm).
          if (l < minHessian || r < minHessian) continue;
          valid = true;
          const gL = gl[nd] as number;
          gain += (gL * gL) / (l + lambda) + ((gT - gL) * (gT - gL)) / (r + lambda) - (gT * gT) / ((H[nd] as number) + lambda);
        }
        if (valid && gain > bestGain) {
          bestGain = gain;
          feature[level] = f;
          bin[level] = k;
        }
      }
    }
    const f = feature[level] as number;
    const cut = bin[level] as number;
    if (cut >= 0) rows.forEach((r, i) => {
      if ((b.codes[r * b.d + f] as number) > cut) node[i] = (node[i] as number) | (1 << level);
    });
  }
  const leaves = 1 << depth;
  const G = new Float64Array(leaves);
  const H = new Float64Array(leaves);
  rows.forEach((r, i) => {
    G[node[i] as number] += g[r] as number;
    H[node[i] as number] += h[r] as number;
  });
  const value = Float64Array.from(G, (gv, k) => (H[k] === 0 ? 0 : -gv / ((H[k] as number) + lambda)));
  return { feature, bin, value };
}

/** Every training row cut into bins per feature at quantiles of the training values. */
class Binned {
  readonly n: number;
  readonly start: Int32Array;
  /** Per feature, the ascending cut values: bin k holds values <= cuts[k] (and > cuts[k - 1]). */
  readonly cuts: Float64Array[];
  readonly codes: Uint8Array;
  private readonly listOfRow: Int32Array;

  constructor(private readonly lists: readonly BoostList[], readonly d: number, readonly bins: number) {
    this.start = new Int32Array(lists.length);
    let n = 0;
    lists.forEach((l, i) => {
      this.start[i] = n;
      n += l.rows.length;
    });
    this.n = n;
    this.listOfRow = new Int32Array(n);
    lists.forEach((l, i) => this.listOfRow.fill(i, this.start[i] as number, (this.start[i] as number) + l.rows.length));
    const all = lists.flatMap((l) => l.rows);
    this.cuts = Array.from({ length: d }, (_, f) => quantileCuts(all, f, bins));
    this.codes = new Uint8Array(n * d);
    all.forEach((r, i) => {
      for (let f = 0; f < d; f++) this.codes[i * d + f] = binOf(this.cuts[f] as Float64Array, r[f] as number);
    });
  }

  cut(f: number, k: number): number {
    return (this.cuts[f] as Float64Array)[k] as number;
  }

  /** The rows of a seeded sample of the lists (whole lists: the loss couples a mention's candidates). */
  sampleRows(random: () => number, share: number): Int32Array {
    const out: number[] = [];
    this.lists.forEach((l, i) => {
      if (share < 1 && random() >= share) return;
      for (let r = 0; r < l.rows.length; r++) out.push((this.start[i] as number) + r);
    });
    return Int32Array.from(out);
  }

  leafOf(r: number, tree: Grown, depth: number): number {
    let node = 0;
    for (let k = 0; k < depth; k++) {
      const cut = tree.bin[k] as number;
      if (cut >= 0 && (this.codes[r * this.d + (tree.feature[k] as number)] as number) > cut) node |= 1 << k;
    }
    return node;
  }
}

/**
 * Up to `bins` - 1 cut values of feature f, each halfway between a quantile of the training values and the next
 * larger value (so a feature that is mostly 0 still gets its cut between 0 and 1), then +Infinity (the last bin).
 */
function quantileCuts(rows: readonly Float64Array[], f: number, bins: number): Float64Array {
  const values = Float64Array.from(rows, (r) => r[f] as number).sort();
  const cuts: number[] = [];
  for (let k = 1; k < bins; k++) {
    const q = values[Math.floor((k * values.length) / bins)];
    if (q === undefined) break;
    const above = values[upperBound(values, q)];
    if (above === undefined) break;
    const cut = (q + above) / 2;
    if (cuts.length === 0 || cut > (cuts[cuts.length - 1] as number)) cuts.push(cut);
  }
  cuts.push(Infinity);
  return Float64Array.from(cuts);
}

/** Index of the first value > x in ascending `values`. */
function upperBound(values: Float64Array, x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function binOf(cuts: Float64Array, x: number): number {
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x <= (cuts[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
