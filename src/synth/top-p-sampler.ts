/**
 * Temperature + nucleus (top-p) sampling from one row of full-vocabulary logits (or log-probabilities: any per-row
 * shift gives the same draw), as Hugging Face
 * `generate(do_sample=True, temperature, top_p)` does: scale by 1/T, renormalise, keep the smallest set of
 * most likely tokens whose mass reaches top_p, draw from it.
 */
export function sampleTopP(logProbs: Float32Array, offset: number, vocabSize: number, temperature: number, topP: number, random: () => number): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < vocabSize; i++) if (logProbs[offset + i] > logProbs[offset + best]) best = i;
    return best;
  }
  let max = -Infinity;
  for (let i = 0; i < vocabSize; i++) max = Math.max(max, logProbs[offset + i]);
  const probs = new Float64Array(vocabSize);
  let total = 0;
  for (let i = 0; i < vocabSize; i++) {
    const v = logProbs[offset + i];
    const p = v === -Infinity ? 0 : Math.exp((v - max) / temperature);
    probs[i] = p;
    total += p;
  }
  // Candidates above a tiny floor only: sorting all 128k ids each step would dominate decoding time.
  const floor = (total * (1 - topP)) / vocabSize / 4;
  const ids: number[] = [];
  for (let i = 0; i < vocabSize; i++) if (probs[i] > floor) ids.push(i);
  ids.sort((a, b) => probs[b] - probs[a] || a - b);
  const nucleus: number[] = [];
  let mass = 0;
  for (const id of ids) {
    nucleus.push(id);
    mass += probs[id] / total;
    if (mass >= topP) break;
  }
  let kept = 0;
  for (const id of nucleus) kept += probs[id];
  let r = random() * kept;
  for (const id of nucleus) {
    r -= probs[id];
    if (r <= 0) return id;
  }
  return nucleus[nucleus.length - 1];
}
