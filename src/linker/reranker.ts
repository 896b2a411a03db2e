/**
 * The learned reranker of the hybrid linker: a listwise softmax model over the candidates of one mention,
 * score(x) = w . z + v . tanh(H z + c) with z the standardised features followed by a one-hot of the group (the
 * hidden layer lets features interact and differ per group; `hidden: 0` is plain conditional logistic regression).
 * Trained with Adam on minibatches of mentions and L2 weight decay, from a seeded initialisation and shuffling:
 * the same data, options and seed give the same model.
 */
import { SyncabelError } from "../errors.js";
import { mulberry32, shuffled } from "../util/random.js";

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
}

export class Reranker {
  private readonly groupIndex: ReadonlyMap<string, number>;
  private readonly inputs: number;
  private readonly z: Float64Array;

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
  }

  /** Standardised inputs (features, then the group's one-hot) into `z`. */
  private input(x: Float64Array, group: string, z: Float64Array): void {
    for (let i = 0; i < this.features; i++) z[i] = (x[i] - this.mean[i]) / this.std[i];
    const gi = this.groupIndex.get(group);
    for (let i = 0; i < this.groups.length; i++) z[this.features + i] = i === gi ? 1 : 0;
  }

  /** The score of one candidate (higher is better). */
  score(x: Float64Array, group: string): number {
    this.input(x, group, this.z);
    return this.scoreInput(this.z, undefined);
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
    return model;
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
    return { features: this.features, groups: this.groups, hidden: this.hidden, mean: arr(this.mean), std: arr(this.std), w: arr(this.w), h: arr(this.h), c: arr(this.c), v: arr(this.v) };
  }

  static fromJSON(j: RerankerJson): Reranker {
    const inputs = j.features + j.groups.length;
    const ok = j.mean.length === j.features && j.std.length === j.features && j.w.length === inputs && j.h.length === j.hidden * inputs && j.c.length === j.hidden && j.v.length === j.hidden;
    if (!ok) throw new SyncabelError("KB_INDEX_INVALID", "stored reranker weights have inconsistent sizes");
    const f = (a: readonly number[]) => Float64Array.from(a);
    return new Reranker(j.features, j.groups, j.hidden, f(j.mean), f(j.std), f(j.w), f(j.h), f(j.c), f(j.v));
  }
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
