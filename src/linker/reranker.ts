/**
 * The learned reranker of the hybrid linker: a listwise softmax model over the candidates of one mention,
 * score(x) = w . z + v . tanh(H z + c) with z the standardised features followed by a one-hot of the group (the
 * hidden layer lets features interact and differ per group; `hidden: 0` is plain conditional logistic regression).
 * Trained with Adam on minibatches of mentions and L2 weight decay, from a seeded initialisation and shuffling:
 * the same data, options and seed give the same model. Optionally (`trees` > 0) gradient-boosted trees fitted to the
 * same loss starting from the smooth model's scores add their values to it (src/linker/reranker-trees.ts): they
 * catch thresholds and interactions a small hidden layer misses (fold Recall@1 on training documents +0.4 SPACCC,
 * +0.6 to +0.8 BC5CDR, two seeds). Tried without gain: hidden 24, 3-seed ensembles, each feature minus its list
 * maximum or minus the best other candidate's value.
 */
import { SyncabelError } from "../errors.js";
import { mulberry32, shuffled } from "../util/random.js";
import { Trees, type BoostList, type TreesJson } from "./reranker-trees.js";

/** The candidates of one training mention: feature rows and which of them are right. */
export interface RankList {
  readonly group: string;
  readonly rows: readonly Float64Array[];
  readonly gold: readonly number[];
  /** How much the mention counts in the loss (default 1). */
  readonly weight?: number;
}

export interface RerankerOptions {
  readonly hidden?: number;
  readonly l2?: number;
  readonly epochs?: number;
  readonly learningRate?: number;
  readonly batch?: number;
  readonly seed?: number;
  /** Boosted trees added to the smooth model's score (default 0: none), of this depth (default 4). */
  readonly trees?: number;
  readonly depth?: number;
  /** Shrinkage of the trees (default 0.1). */
  readonly treeRate?: number;
  /** The trees rerank only the smooth model's best `treeTop` candidates of a mention (default 10; see scoreList). */
  readonly treeTop?: number;
}

export interface RerankerJson {
  readonly features: number;
  readonly groups: readonly string[];
  readonly hidden: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly w: readonly number[];
  readonly h: readonly number[];
  readonly c: readonly number[];
  readonly v: readonly number[];
  /** Boosted trees over the features and the group's index (absent: none), applied to the best `treeTop`. */
  readonly trees?: TreesJson;
  readonly treeTop?: number;
}

export class Reranker {
  private readonly groupIndex: ReadonlyMap<string, number>;
  private readonly inputs: number;
  private readonly z: Float64Array;
  /** A row's features followed by its group's index, as the trees read it. */
  private readonly xg: Float64Array;
  private trees: Trees | undefined;
  private treeTop = 0;

  private constructor(
    readonly features: number,
    readonly groups: readonly string[],
    readonly hidden: number,
    private readonly mean: Float64Array,
    private readonly std: Float64Array,
    private readonly w: Float64Array,
    private readonly h: Float64Array,
    private readonly c: Float64Array,
    private readonly v: Float64Array,
  ) {
    this.groupIndex = new Map(groups.map((g, i) => [g, i]));
    this.inputs = features + groups.length;
    this.z = new Float64Array(this.inputs);
    this.xg = new Float64Array(features + 1);
  }

  /** Standardised inputs (features, then the group's one-hot) into `z`. */
  private input(x: Float64Array, group: string, z: Float64Array): void {
    for (let i = 0; i < this.features; i++) z[i] = (x[i] - this.mean[i]) / this.std[i];
    const gi = this.groupIndex.get(group);
    for (let i = 0; i < this.groups.length; i++) z[this.features + i] = i === gi ? 1 : 0;
  }

  /** The smooth model's score plus the trees' (when any) of one candidate; lists are ranked by `scoreList`. */
  score(x: Float64Array, group: string): number {
    const s = this.smooth(x, group);
    return this.trees === undefined ? s : s + this.treeScore(x, group);
  }

  private smooth(x: Float64Array, group: string): number {
    this.input(x, group, this.z);
    return this.scoreInput(this.z, undefined);
  }

  private treeScore(x: Float64Array, group: string): number {
    this.xg.set(x);
    this.xg[this.features] = this.groupIndex.get(group) ?? -1;
    return (this.trees as Trees).score(this.xg);
  }

  /**
   * Scores of every candidate of one mention. With trees, only the smooth model's best `treeTop` candidates get
   * the trees' values (the trees settle close calls among the leaders, at a tenth of the cost of scoring every
   * candidate); the others stay below them, in the smooth model's order and gaps.
   */
  scoreList(rows: readonly Float64Array[], group: string): Float64Array {
    const out = Float64Array.from(rows, (r) => this.smooth(r, group));
    if (this.trees === undefined || rows.length === 0) return out;
    const top = topIndices(out, this.treeTop);
    const lastSmooth = out[top[top.length - 1] as number] as number;
    let minTop = Infinity;
    const isTop = new Uint8Array(rows.length);
    for (const i of top) {
      isTop[i] = 1;
      out[i] = (out[i] as number) + this.treeScore(rows[i] as Float64Array, group);
      minTop = Math.min(minTop, out[i] as number);
    }
    for (let i = 0; i < rows.length; i++) if (!isTop[i]) out[i] = minTop - (lastSmooth - (out[i] as number)) - 1e-9;
    return out;
  }

  private scoreInput(z: Float64Array, act: Float64Array | undefined): number {
    let s = 0;
    for (let i = 0; i < this.inputs; i++) s += this.w[i] * z[i];
    for (let j = 0; j < this.hidden; j++) {
      let a = this.c[j];
      const off = j * this.inputs;
      for (let i = 0; i < this.inputs; i++) a += this.h[off + i] * z[i];
      const t = Math.tanh(a);
      if (act) act[j] = t;
      s += this.v[j] * t;
    }
    return s;
  }

  static train(lists: readonly RankList[], options: RerankerOptions = {}): Reranker {
    const usable = lists.filter((l) => l.gold.length > 0 && l.rows.length > 0);
    if (usable.length === 0) throw new SyncabelError("LINKER_INVALID_OPTIONS", "no training mention has its gold code among its candidates: nothing to learn from");
    const d = (usable[0] as RankList).rows[0]!.length;
    const groups = [...new Set(usable.map((l) => l.group))].sort();
    const hidden = options.hidden ?? 8;
    const l2 = options.l2 ?? 1e-4;
    const epochs = options.epochs ?? 8;
    const lr = options.learningRate ?? 0.01;
    const batch = options.batch ?? 32;
    const random = mulberry32(options.seed ?? 1);
    // Standardisation from every candidate row.
    const mean = new Float64Array(d);
    const std = new Float64Array(d);
    let n = 0;
    for (const l of usable) for (const r of l.rows) { n++; for (let i = 0; i < d; i++) mean[i] += r[i]; }
    for (let i = 0; i < d; i++) mean[i] /= n;
    for (const l of usable) for (const r of l.rows) for (let i = 0; i < d; i++) std[i] += (r[i] - mean[i]) ** 2;
    for (let i = 0; i < d; i++) std[i] = Math.sqrt(std[i] / n) || 1;
    const inputs = d + groups.length;
    const init = (size: number, scale: number) => Float64Array.from({ length: size }, () => (random() * 2 - 1) * scale);
    const model = new Reranker(d, groups, hidden, mean, std, new Float64Array(inputs), init(hidden * inputs, 1 / Math.sqrt(inputs)), new Float64Array(hidden), init(hidden, 0.1));
    model.fit(usable, { epochs, lr, batch, l2, random });
    if ((options.trees ?? 0) > 0) model.boost(usable, options);
    return model;
  }

  /**
   * Trees fitted to the loss from the smooth model's scores on whole training lists (fitting them on the leaders
   * only, as scoreList applies them, cross-validated worse: the other candidates are useful negatives).
   */
  private boost(lists: readonly RankList[], options: RerankerOptions): void {
    this.treeTop = options.treeTop ?? 10;
    const gi = (g: string) => this.groupIndex.get(g) ?? -1;
    const boostLists: BoostList[] = lists.map((l) => ({
      rows: l.rows.map((r) => {
        const x = new Float64Array(this.features + 1);
        x.set(r);
        x[this.features] = gi(l.group);
        return x;
      }),
      gold: l.gold,
      weight: l.weight ?? 1,
      init: Float64Array.from(l.rows, (r) => this.smooth(r, l.group)),
    }));
    if (boostLists.length === 0) return;
    this.trees = Trees.fit(boostLists, { trees: options.trees ?? 0, depth: options.depth ?? 4, ...(options.treeRate === undefined ? {} : { rate: options.treeRate }), seed: (options.seed ?? 1) + 1 });
  }

  /** Standardised inputs of every row of a list, row-major (rows x inputs), computed once for all epochs. */
  private inputsOf(list: RankList): Float32Array {
    const out = new Float32Array(list.rows.length * this.inputs);
    const z = new Float64Array(this.inputs);
    list.rows.forEach((r, i) => {
      this.input(r, list.group, z);
      out.set(z, i * this.inputs);
    });
    return out;
  }

  private fit(lists: readonly RankList[], o: { epochs: number; lr: number; batch: number; l2: number; random: () => number }): void {
    const params = [this.w, this.h, this.c, this.v];
    const grads = params.map((p) => new Float64Array(p.length));
    const m1 = params.map((p) => new Float64Array(p.length));
    const m2 = params.map((p) => new Float64Array(p.length));
    const [gw, gh, gc, gv] = grads as [Float64Array, Float64Array, Float64Array, Float64Array];
    const inputs = this.inputs;
    const hidden = this.hidden;
    const data = lists.map((l) => ({ z: this.inputsOf(l), n: l.rows.length, gold: l.gold, weight: l.weight ?? 1 }));
    const maxRows = Math.max(...data.map((d) => d.n));
    const act = new Float64Array(maxRows * hidden);
    const score = new Float64Array(maxRows);
    const isGold = new Uint8Array(maxRows);
    let step = 0;
    // Iterate averaging over the second half of the epochs (Polyak; SWA): the last Adam iterate at a constant
    // learning rate wanders, so models trained on nearly the same lists disagreed on many close calls.
    const averageFrom = Math.floor(o.epochs / 2);
    const sums = params.map((p) => new Float64Array(p.length));
    let averaged = 0;
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const order = shuffled(data, o.random);
      for (let start = 0; start < order.length; start += o.batch) {
        for (const g of grads) g.fill(0);
        const end = Math.min(order.length, start + o.batch);
        for (let li = start; li < end; li++) {
          const { z, n, gold, weight } = order[li] as (typeof data)[number];
          // Forward: scores and hidden activations of every row.
          let max = -Infinity;
          for (let i = 0; i < n; i++) {
            const off = i * inputs;
            let s = 0;
            for (let k = 0; k < inputs; k++) s += this.w[k] * (z[off + k] as number);
            for (let j = 0; j < hidden; j++) {
              let a = this.c[j] as number;
              const hoff = j * inputs;
              for (let k = 0; k < inputs; k++) a += (this.h[hoff + k] as number) * (z[off + k] as number);
              const t = Math.tanh(a);
              act[i * hidden + j] = t;
              s += (this.v[j] as number) * t;
            }
            score[i] = s;
            if (s > max) max = s;
          }
          let total = 0;
          let goldMass = 0;
          isGold.fill(0, 0, n);
          for (const gi of gold) isGold[gi] = 1;
          for (let i = 0; i < n; i++) {
            const e = Math.exp((score[i] as number) - max);
            score[i] = e;
            total += e;
            if (isGold[i]) goldMass += e;
          }
          // Backward: d(-log sum_gold p)/ds_i = p_i - [i gold] e_i / goldMass.
          for (let i = 0; i < n; i++) {
            const e = score[i] as number;
            const dl = weight * (e / total - (isGold[i] ? e / goldMass : 0));
            if (Math.abs(dl) < 1e-12) continue;
            const off = i * inputs;
            for (let k = 0; k < inputs; k++) gw[k] += dl * (z[off + k] as number);
            for (let j = 0; j < hidden; j++) {
              const t = act[i * hidden + j] as number;
              gv[j] += dl * t;
              const da = dl * (this.v[j] as number) * (1 - t * t);
              gc[j] += da;
              const hoff = j * inputs;
              for (let k = 0; k < inputs; k++) gh[hoff + k] += da * (z[off + k] as number);
            }
          }
        }
        step++;
        params.forEach((p, pi) => adam(p, grads[pi] as Float64Array, m1[pi] as Float64Array, m2[pi] as Float64Array, step, o.lr, o.l2, end - start));
        if (epoch >= averageFrom) {
          averaged++;
          params.forEach((p, pi) => {
            const sum = sums[pi] as Float64Array;
            for (let i = 0; i < p.length; i++) sum[i] += p[i] as number;
          });
        }
      }
    }
    if (averaged > 0) params.forEach((p, pi) => {
      const sum = sums[pi] as Float64Array;
      for (let i = 0; i < p.length; i++) p[i] = (sum[i] as number) / averaged;
    });
  }

  toJSON(): RerankerJson {
    const arr = (a: Float64Array) => Array.from(a);
    return { features: this.features, groups: this.groups, hidden: this.hidden, mean: arr(this.mean), std: arr(this.std), w: arr(this.w), h: arr(this.h), c: arr(this.c), v: arr(this.v), ...(this.trees === undefined ? {} : { trees: this.trees.toJSON(), treeTop: this.treeTop }) };
  }

  static fromJSON(j: RerankerJson): Reranker {
    const inputs = j.features + j.groups.length;
    const ok = j.mean.length === j.features && j.std.length === j.features && j.w.length === inputs && j.h.length === j.hidden * inputs && j.c.length === j.hidden && j.v.length === j.hidden;
    if (!ok) throw new SyncabelError("KB_INDEX_INVALID", "stored reranker weights have inconsistent sizes");
    const f = (a: readonly number[]) => Float64Array.from(a);
    const model = new Reranker(j.features, j.groups, j.hidden, f(j.mean), f(j.std), f(j.w), f(j.h), f(j.c), f(j.v));
    if (j.trees !== undefined) {
      if (!Number.isInteger(j.treeTop) || (j.treeTop as number) < 1) throw new SyncabelError("KB_INDEX_INVALID", "stored reranker trees lack a valid treeTop");
      model.trees = Trees.fromJSON(j.trees, j.features + 1);
      model.treeTop = j.treeTop as number;
    }
    return model;
  }
}

/** Indices of the k largest values, largest first (ties: lower index first). */
function topIndices(values: Float64Array, k: number): number[] {
  return Array.from(values.keys())
    .sort((a, b) => (values[b] as number) - (values[a] as number) || a - b)
    .slice(0, Math.max(1, k));
}

function adam(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, t: number, lr: number, l2: number, batch: number): void {
  const b1 = 0.9;
  const b2 = 0.999;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  for (let i = 0; i < p.length; i++) {
    const grad = g[i] / batch + l2 * p[i];
    m[i] = b1 * m[i] + (1 - b1) * grad;
    v[i] = b2 * v[i] + (1 - b2) * grad * grad;
    p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-8);
  }
}
