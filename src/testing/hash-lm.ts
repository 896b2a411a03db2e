/**
 * A CausalLM over a small vocabulary whose next-token logits are a seeded pseudo-random function of the whole token
 * sequence: a model-free backend for exhaustive decoding tests (thousands of searches in a second). It implements
 * prefill, step and extend like a real backend, and honours LogitRequests (picked entries, top k) unless told not to,
 * so that every read path of the search runs.
 */
import type { CausalLM, DecodeState, LogitRequest, NextTokenLogProbs, StepResult } from "../lm/types.js";
import { mulberry32 } from "../util/random.js";

export interface HashLMOptions {
  readonly vocabSize: number;
  readonly seed: number;
  /** Added to these tokens' logits (e.g. EOS ids, so that hypotheses end often). */
  readonly bias?: Readonly<Record<number, number>>;
  /** Spread of the logits (default 2). */
  readonly scale?: number;
  /** false: always hand over whole rows, ignoring LogitRequests (a backend without lazy reads). Default true. */
  readonly honourRequests?: boolean;
}

class HashState implements DecodeState {
  constructor(readonly seqs: readonly (readonly number[])[]) {}
  get rows(): number {
    return this.seqs.length;
  }
  dispose(): void {}
}

export class HashLM implements CausalLM {
  readonly vocabSize: number;
  readonly forwardMs = 0;

  constructor(private readonly o: HashLMOptions) {
    this.vocabSize = o.vocabSize;
  }

  /** Raw logits after `seq` (float32, as a runtime returns them). */
  logits(seq: readonly number[]): Float32Array {
    let h = this.o.seed >>> 0;
    for (const t of seq) h = Math.imul(h ^ (t + 0x9e3779b9), 0x01000193) >>> 0;
    const rand = mulberry32(h);
    const out = new Float32Array(this.vocabSize);
    const scale = this.o.scale ?? 2;
    for (let t = 0; t < this.vocabSize; t++) out[t] = (rand() * 2 - 1) * scale + (this.o.bias?.[t] ?? 0);
    return out;
  }

  /** log p(token | seq) for every token, as logit - logZ with the float32 logZ the backend reports. */
  logProbs(seq: readonly number[]): Float64Array {
    const logits = this.logits(seq);
    const z = logSumExp(logits);
    return Float64Array.from(logits, (l) => l - z);
  }

  async prefill(prompts: readonly (readonly number[])[], request?: LogitRequest): Promise<StepResult> {
    const state = new HashState(prompts.map((p) => [...p]));
    return { state, logProbs: this.read(state.seqs, request) };
  }

  async step(state: DecodeState, parents: Int32Array, tokens: Int32Array, request?: LogitRequest): Promise<StepResult> {
    const seqs = (state as HashState).seqs;
    const next = new HashState(Array.from(parents, (p, i) => [...seqs[p], tokens[i]]));
    return { state: next, logProbs: this.read(next.seqs, request) };
  }

  async extend(state: DecodeState, prompts: readonly (readonly number[])[], request?: LogitRequest): Promise<StepResult> {
    const added = prompts.map((p) => [...p]);
    return { state: new HashState([...(state as HashState).seqs, ...added]), logProbs: this.read(added, request) };
  }

  async dispose(): Promise<void> {}

  private read(seqs: readonly (readonly number[])[], request: LogitRequest | undefined): NextTokenLogProbs {
    const V = this.vocabSize;
    const logits = new Float32Array(seqs.length * V);
    const logZ = new Float32Array(seqs.length);
    seqs.forEach((s, r) => {
      const row = this.logits(s);
      logits.set(row, r * V);
      logZ[r] = logSumExp(row);
    });
    if (this.o.honourRequests === false || request === undefined) return { rows: seqs.length, vocabSize: V, logits, logZ };
    const out: { -readonly [K in keyof NextTokenLogProbs]: NextTokenLogProbs[K] } = { rows: seqs.length, vocabSize: V, logits: new Float32Array(0), logZ };
    if (request.tokens) {
      const offsets = new Int32Array(seqs.length + 1);
      request.tokens.forEach((ts, r) => (offsets[r + 1] = offsets[r] + ts.length));
      const picked = new Float32Array(offsets[seqs.length]);
      request.tokens.forEach((ts, r) => Array.from(ts).forEach((t, i) => (picked[offsets[r] + i] = logits[r * V + t])));
      out.picked = { offsets, logits: picked };
    }
    if (request.topK !== undefined) {
      const k = Math.min(request.topK, V);
      const ids = new Int32Array(seqs.length * k);
      const top = new Float32Array(seqs.length * k);
      for (let r = 0; r < seqs.length; r++) {
        const order = Array.from({ length: V }, (_, t) => t).sort((a, b) => logits[r * V + b] - logits[r * V + a] || a - b);
        order.slice(0, k).forEach((t, i) => ((ids[r * k + i] = t), (top[r * k + i] = logits[r * V + t])));
      }
      out.top = { k, ids, logits: top };
    }
    return out;
  }
}

function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return Math.fround(max + Math.log(sum));
}
