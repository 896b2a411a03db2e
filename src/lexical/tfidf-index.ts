import type { SparseVector } from "./sparse.js";

/** One scored row of an index (a KB name), best first. */
export interface ScoredRow {
  readonly row: number;
  readonly score: number;
}

/**
 * Exact cosine nearest neighbours over L2-normalised sparse rows (CSR), with an inverted index (feature ->
 * postings) so a query only touches the rows that share a feature with it. Ties are broken by the lower row.
 */
export class TfidfIndex {
  private readonly postStart: Int32Array;
  private readonly postRow: Int32Array;
  private readonly postValue: Float64Array;
  private readonly acc: Float64Array;
  private readonly touched: Int32Array;

  constructor(
    readonly features: number,
    /** CSR of the rows: row r holds entries indptr[r]..indptr[r+1]. */
    readonly indptr: Int32Array,
    readonly indices: Int32Array,
    readonly data: Float64Array,
  ) {
    const rows = indptr.length - 1;
    // Transpose the CSR into postings (counting sort by feature keeps rows ascending in each posting list).
    this.postStart = new Int32Array(features + 1);
    for (const f of indices) this.postStart[f + 1]++;
    for (let f = 0; f < features; f++) this.postStart[f + 1] += this.postStart[f];
    const fill = this.postStart.slice(0, features);
    this.postRow = new Int32Array(indices.length);
    this.postValue = new Float64Array(indices.length);
    for (let r = 0; r < rows; r++) {
      for (let p = indptr[r]; p < indptr[r + 1]; p++) {
        const at = fill[indices[p]]++;
        this.postRow[at] = r;
        this.postValue[at] = data[p];
      }
    }
    this.acc = new Float64Array(rows);
    this.touched = new Int32Array(rows);
  }

  /** Build from a list of sparse rows. */
  static fromRows(features: number, rows: readonly SparseVector[]): TfidfIndex {
    const indptr = new Int32Array(rows.length + 1);
    rows.forEach((r, i) => (indptr[i + 1] = indptr[i] + r.indices.length));
    const indices = new Int32Array(indptr[rows.length]);
    const data = new Float64Array(indptr[rows.length]);
    rows.forEach((r, i) => {
      indices.set(r.indices, indptr[i]);
      data.set(r.values, indptr[i]);
    });
    return new TfidfIndex(features, indptr, indices, data);
  }

  get rows(): number {
    return this.indptr.length - 1;
  }

  /** The row's vector (a view). */
  row(r: number): SparseVector {
    return { indices: this.indices.subarray(this.indptr[r], this.indptr[r + 1]), values: this.data.subarray(this.indptr[r], this.indptr[r + 1]) };
  }

  /**
   * Every row with a positive cosine to the query, best first, visited lazily: `accept` is called in rank order
   * until it returns false (the caller stops once it has enough distinct codes).
   */
  scan(query: SparseVector, accept: (row: number, score: number) => boolean, initial = 16): void {
    const acc = this.acc;
    const touched = this.touched;
    let count = 0;
    for (let q = 0; q < query.indices.length; q++) {
      const f = query.indices[q];
      const w = query.values[q];
      for (let p = this.postStart[f]; p < this.postStart[f + 1]; p++) {
        const r = this.postRow[p];
        if (acc[r] === 0) touched[count++] = r;
        acc[r] += w * this.postValue[p];
      }
    }
    try {
      // Rank by partial selection in growing chunks: most queries need only the first few rows.
      let taken = 0;
      let want = Math.min(initial, count);
      while (taken < count) {
        const top = selectTop(touched, count, acc, want);
        for (let i = taken; i < top.length; i++) {
          if (top[i].score <= 0) return;
          if (!accept(top[i].row, top[i].score)) return;
        }
        taken = top.length;
        if (want >= count) return;
        want = Math.min(count, want * 4);
      }
    } finally {
      for (let i = 0; i < count; i++) acc[touched[i]] = 0;
    }
  }

  /** The k best rows (positive cosine only), best first. */
  topRows(query: SparseVector, k: number): ScoredRow[] {
    const out: ScoredRow[] = [];
    if (k <= 0) return out;
    this.scan(query, (row, score) => {
      out.push({ row, score });
      return out.length < k;
    }, k);
    return out;
  }
}

/** Better = higher score, then lower row. */
function better(sa: number, ra: number, sb: number, rb: number): boolean {
  return sa > sb || (sa === sb && ra < rb);
}

/** The `want` best of the first `count` touched rows, best first (a bounded min-heap). */
function selectTop(touched: Int32Array, count: number, acc: Float64Array, want: number): ScoredRow[] {
  const heapRow = new Int32Array(want);
  const heapScore = new Float64Array(want);
  let size = 0;
  // heap[0] is the worst kept element.
  const worse = (i: number, j: number) => better(heapScore[j], heapRow[j], heapScore[i], heapRow[i]);
  const swap = (i: number, j: number) => {
    const r = heapRow[i]; heapRow[i] = heapRow[j]; heapRow[j] = r;
    const s = heapScore[i]; heapScore[i] = heapScore[j]; heapScore[j] = s;
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(l, m)) m = l;
      if (r < size && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let t = 0; t < count; t++) {
    const row = touched[t];
    const score = acc[row];
    if (size < want) {
      heapRow[size] = row;
      heapScore[size] = score;
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        swap(i, p);
        i = p;
      }
    } else if (better(score, row, heapScore[0], heapRow[0])) {
      heapRow[0] = row;
      heapScore[0] = score;
      down(0);
    }
  }
  const out: ScoredRow[] = [];
  for (let i = 0; i < size; i++) out.push({ row: heapRow[i], score: heapScore[i] });
  out.sort((a, b) => (better(a.score, a.row, b.score, b.row) ? -1 : better(b.score, b.row, a.score, a.row) ? 1 : 0));
  return out;
}
