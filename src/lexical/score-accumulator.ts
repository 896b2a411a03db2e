/**
 * Dense score accumulation over an inverted index: one pass over the postings of a query's features gives the
 * score of every row at once (rows sharing no feature stay 0), so a caller can read the score of any row in O(1)
 * after a query, and take the best rows with `topRows`. Used by the hybrid linker, which needs the cosine and
 * BM25 of every name of every candidate concept, not only of the top rows.
 */
import type { SparseVector } from "./sparse.js";

/** Scores of one query: `scores[row]` for every row; `touched[0..count)` lists the rows with a score. */
export interface Accumulated {
  readonly scores: Float64Array;
  readonly touched: Int32Array;
  readonly count: number;
}

/** Score arrays reused across queries: only the rows the last query touched are cleared. */
export class ScratchScores {
  readonly scores: Float64Array;
  readonly touched: Int32Array;
  readonly matches: Uint16Array;
  count = 0;

  constructor(rows: number) {
    this.scores = new Float64Array(rows);
    this.touched = new Int32Array(rows);
    this.matches = new Uint16Array(rows);
  }

  reset(): this {
    for (let i = 0; i < this.count; i++) {
      const r = this.touched[i] as number;
      this.scores[r] = 0;
      this.matches[r] = 0;
    }
    this.count = 0;
    return this;
  }
}

/** Postings (feature -> rows, weights) of sparse rows, for dot products with sparse queries. */
export class DotAccumulator {
  private readonly postStart: Int32Array;
  private readonly postRow: Int32Array;
  private readonly postValue: Float64Array;
  private readonly scratch: ScratchScores;

  constructor(readonly features: number, rows: readonly SparseVector[]) {
    this.scratch = new ScratchScores(rows.length);
    this.postStart = new Int32Array(features + 1);
    for (const r of rows) for (const f of r.indices) this.postStart[f + 1]++;
    for (let f = 0; f < features; f++) this.postStart[f + 1] += this.postStart[f];
    const fill = this.postStart.slice(0, features);
    this.postRow = new Int32Array(this.postStart[features]);
    this.postValue = new Float64Array(this.postStart[features]);
    rows.forEach((r, i) => {
      for (let j = 0; j < r.indices.length; j++) {
        const at = fill[r.indices[j]]++;
        this.postRow[at] = i;
        this.postValue[at] = r.values[j];
      }
    });
  }

  /**
   * Dot product of the query with every row. The arrays are reused: they hold this query's scores until the next
   * `accumulate` call on this accumulator.
   */
  accumulate(query: SparseVector): Accumulated {
    const { scores, touched } = this.scratch.reset();
    let count = 0;
    for (let q = 0; q < query.indices.length; q++) {
      const f = query.indices[q];
      if (f < 0 || f >= this.features) continue;
      const w = query.values[q];
      for (let p = this.postStart[f]; p < this.postStart[f + 1]; p++) {
        const r = this.postRow[p];
        if (scores[r] === 0) touched[count++] = r;
        scores[r] += w * this.postValue[p];
      }
    }
    this.scratch.count = count;
    return { scores, touched, count };
  }
}

/** The k rows with the highest positive score, best first (ties: lower row first). */
export function topRows(acc: Accumulated, k: number): number[] {
  const { scores, touched, count } = acc;
  const heap: number[] = [];
  // heap[0] is the worst kept row.
  const worse = (a: number, b: number) => scores[a] < scores[b] || (scores[a] === scores[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l] as number, heap[m] as number)) m = l;
      if (r < heap.length && worse(heap[r] as number, heap[m] as number)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m] as number, heap[i] as number];
      i = m;
    }
  };
  for (let i = 0; i < count; i++) {
    const row = touched[i];
    if (!(scores[row] > 0)) continue;
    if (heap.length < k) {
      heap.push(row);
      for (let j = heap.length - 1; j > 0; ) {
        const p = (j - 1) >> 1;
        if (!worse(heap[j] as number, heap[p] as number)) break;
        [heap[j], heap[p]] = [heap[p] as number, heap[j] as number];
        j = p;
      }
    } else if (k > 0 && worse(heap[0] as number, row)) {
      heap[0] = row;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
}
