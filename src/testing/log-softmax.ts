import type { NextTokenLogProbs } from "../lm/types.js";

/** The full log-softmax row `row` of a next-token distribution (tests, samplers; decoding reads entries lazily). */
export function logProbsOfRow(p: NextTokenLogProbs, row: number): Float32Array {
  const out = p.logits.slice(row * p.vocabSize, (row + 1) * p.vocabSize);
  const z = p.logZ[row];
  for (let i = 0; i < out.length; i++) out[i] -= z;
  return out;
}
