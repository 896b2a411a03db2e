import type { NextTokenLogProbs } from "../lm/types.js";

/** The full log-softmax row `row` of a next-token distribution (tests, samplers; decoding reads entries lazily). */
export function logProbsOfRow(p: NextTokenLogProbs, row: number): Float32Array {
  const out = p.logits.slice(row * p.vocabSize, (row + 1) * p.vocabSize);
  const z = p.logZ[row];
  for (let i = 0; i < out.length; i++) out[i] -= z;
  return out;
}

/** log-softmax of a float64 logit row, as float32 (the reference forwards). */
export function logSoftmax64(logits: Float64Array): Float32Array {
  // Indexed loops, no iterator or per-element callback: this runs over a 128k vocabulary per reference position.
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = logits[i] - logZ;
  return out;
}
