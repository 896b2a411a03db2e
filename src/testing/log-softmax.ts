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
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const logZ = max + Math.log(sum);
  return Float32Array.from(logits, (v) => v - logZ);
}
