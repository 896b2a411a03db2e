/** A sparse vector: strictly increasing feature indices and their values. */
export interface SparseVector {
  readonly indices: Int32Array;
  readonly values: Float64Array;
}

/** Dot product of two sparse vectors (the cosine when both are L2-normalised). */
export function sparseDot(a: SparseVector, b: SparseVector): number {
  let i = 0;
  let j = 0;
  let sum = 0;
  while (i < a.indices.length && j < b.indices.length) {
    const x = a.indices[i];
    const y = b.indices[j];
    if (x === y) {
      sum += a.values[i++] * b.values[j++];
    } else if (x < y) i++;
    else j++;
  }
  return sum;
}

export function sparseNorm(a: SparseVector): number {
  let s = 0;
  for (const v of a.values) s += v * v;
  return Math.sqrt(s);
}

/** Cosine similarity of two sparse vectors (0 when either is all zeros). */
export function sparseCosine(a: SparseVector, b: SparseVector): number {
  const na = sparseNorm(a);
  const nb = sparseNorm(b);
  return na === 0 || nb === 0 ? 0 : sparseDot(a, b) / (na * nb);
}
