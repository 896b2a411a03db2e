/**
 * In-place log-softmax of each row of a row-major [rows, vocab] matrix (Hugging Face beam search scores the
 * full vocabulary this way before any constraint mask, conventions section 4).
 */
export function logSoftmaxRowsInPlace(data: Float32Array, rows: number, vocab: number): void {
  for (let r = 0; r < rows; r++) {
    const off = r * vocab;
    let max = -Infinity;
    for (let i = off, end = off + vocab; i < end; i++) if (data[i] > max) max = data[i];
    let sum = 0;
    for (let i = off, end = off + vocab; i < end; i++) sum += Math.exp(data[i] - max);
    const shift = max + Math.log(sum);
    for (let i = off, end = off + vocab; i < end; i++) data[i] -= shift;
  }
}
