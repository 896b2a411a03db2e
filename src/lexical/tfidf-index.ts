import type { SparseVector } from "./sparse.js";

/** One scored row of an index (a KB name), best first. */
export interface ScoredRow {
  readonly row: number;
  readonly score: number;
}

/** Term counts of one row (what `TfidfCharVectorizer.termCounts` gives). */
export interface RowCounts {
  readonly indices: Int32Array;
  readonly counts: Uint16Array;
  /** L2 norm of the row's tf-idf weights (count * idf), the divisor of its cosine weights. */
  readonly norm: number;
}

/** Defaults of the bounded search, chosen with `npm run bench:kb` (3M names, SPACCC dev Recall@64). */
export const DEFAULT_POSTING_BUDGET = 50_000;
export const DEFAULT_RESCORE_DEPTH = 1024;

/** Slack on score bounds: postings keep float32 weights, exact scores are float64. */
const BOUND_EPS = 1e-5;

/**
 * Exact cosine top-k over L2-normalised tf-idf rows at millions of rows. Rows are kept compactly (feature ids, raw
 * counts and one norm per row: weight = count * idf / norm, the vectorizer's own arithmetic, so scores are
 * bit-identical to a dot product of `transform` vectors); an inverted index (feature -> rows, float32 weights,
 * per-feature maximum) serves retrieval.
 *
 * Retrieval is term-at-a-time with score bounds (a MaxScore variant): query features are taken by decreasing
 * upper bound (query weight x the feature's largest posting weight); once the k-th best partial score exceeds
 * what all remaining features together could add, no unseen row can enter the top k, so the postings of the
 * remaining (common) n-grams are never scanned. The surviving candidates whose bound still reaches the k-th
 * score are then scored exactly from their rows. Ties are broken by the lower row.
 */
export class TfidfIndex {
  private readonly postStart: Int32Array;
  private readonly postRow: Int32Array;
  private readonly postValue: Float32Array;
  private readonly maxValue: Float32Array;
  private readonly acc: Float64Array;
  private readonly touched: Int32Array;
  private readonly scratch: Float64Array;
  private readonly queryWeight: Float64Array;
  /** Postings visited by all queries so far (for benchmarks). */
  postingsScanned = 0;
  /** Read every posting of every query feature and score exactly: exact search (the benchmarks' baseline). */
  exhaustive = false;
  /** Most postings read per query (see `topK`). */
  postingBudget = DEFAULT_POSTING_BUDGET;
  /** Rows scored exactly per query (at least 4k). */
  rescoreDepth = DEFAULT_RESCORE_DEPTH;

  constructor(
    /** idf of every feature (the vectorizer's). */
    readonly idf: Float64Array,
    /** CSR of the rows: row r holds entries indptr[r]..indptr[r+1]. */
    readonly indptr: Int32Array,
    readonly indices: Int32Array,
    readonly counts: Uint16Array,
    readonly norms: Float64Array,
  ) {
    const features = idf.length;
    const rows = indptr.length - 1;
    // Transpose the CSR into postings (counting sort by feature keeps rows ascending in each posting list).
    this.postStart = new Int32Array(features + 1);
    for (const f of indices) this.postStart[f + 1]++;
    for (let f = 0; f < features; f++) this.postStart[f + 1] += this.postStart[f];
    const fill = this.postStart.slice(0, features);
    this.postRow = new Int32Array(indices.length);
    this.postValue = new Float32Array(indices.length);
    this.maxValue = new Float32Array(features);
    for (let r = 0; r < rows; r++) {
      for (let p = indptr[r]; p < indptr[r + 1]; p++) {
        const f = indices[p];
        const at = fill[f]++;
        const v = this.weight(r, p);
        this.postRow[at] = r;
        this.postValue[at] = v;
        if (v > this.maxValue[f]) this.maxValue[f] = v;
      }
    }
    impactOrder(this.postStart, this.postRow, this.postValue);
    this.acc = new Float64Array(rows);
    this.touched = new Int32Array(rows);
    this.scratch = new Float64Array(rows);
    this.queryWeight = new Float64Array(features);
  }

  get features(): number {
    return this.idf.length;
  }

  /** Build from per-row term counts. */
  static fromCounts(idf: Float64Array, rows: Iterable<RowCounts>, expectedRows = 0): TfidfIndex {
    const b = new CsrBuilder(expectedRows);
    for (const r of rows) b.push(r);
    return b.finish(idf);
  }

  get rows(): number {
    return this.indptr.length - 1;
  }

  private weight(r: number, p: number): number {
    return (this.counts[p] * this.idf[this.indices[p]]) / this.norms[r];
  }

  /** The row's vector (computed). */
  row(r: number): SparseVector {
    const from = this.indptr[r];
    const to = this.indptr[r + 1];
    const values = new Float64Array(to - from);
    for (let p = from; p < to; p++) values[p - from] = this.weight(r, p);
    return { indices: this.indices.subarray(from, to), values };
  }

  /** Exact cosine of the query (loaded in `queryWeight`) with row r, summed in feature order. */
  private exactScore(r: number): number {
    let s = 0;
    for (let p = this.indptr[r]; p < this.indptr[r + 1]; p++) {
      const w = this.queryWeight[this.indices[p]];
      if (w !== 0) s += w * this.weight(r, p);
    }
    return s;
  }

  /**
   * The top `k` rows (positive scores), best first. Features are taken by decreasing upper bound (rare n-grams
   * first) and each posting list is impact-ordered (heaviest postings first). Two savings, then exact scores:
   * - safe: once k rows are known, a list is read only down to the weight that could still lift an unseen row to
   *   the k-th partial score, given what the later features can add at most;
   * - bounded: at most `postingBudget` postings are read per query, so the common n-grams of a 3M-name group are
   *   never scanned whole (the one approximation; `exhaustive` lifts it, and the safe cut too).
   * The `rescoreDepth` (at least 4k) rows with the best partial scores are then scored exactly from their rows.
   */
  private topK(query: SparseVector, k: number): ScoredRow[] {
    const terms: { f: number; w: number; ub: number }[] = [];
    for (let i = 0; i < query.indices.length; i++) {
      const f = query.indices[i];
      if (f < 0 || f >= this.features || query.values[i] <= 0) continue;
      terms.push({ f, w: query.values[i], ub: query.values[i] * this.maxValue[f] * (1 + BOUND_EPS) + BOUND_EPS });
    }
    terms.sort((a, b) => b.ub - a.ub || a.f - b.f);
    // remaining[i]: the most features i.. can add to any row's score.
    const remaining = new Float64Array(terms.length + 1);
    for (let i = terms.length - 1; i >= 0; i--) remaining[i] = remaining[i + 1] + terms[i].ub;
    const acc = this.acc;
    const touched = this.touched;
    const budget = this.exhaustive ? Infinity : this.postingBudget;
    let count = 0;
    let scanned = 0;
    let theta = 0;
    try {
      for (let i = 0; i < terms.length && scanned < budget; i++) {
        const { f, w } = terms[i];
        const start = this.postStart[f];
        const end = Math.min(this.postStart[f + 1], start + (budget - scanned));
        // The k-th partial score only grows: refresh it when this list is long next to the candidates.
        if (!this.exhaustive && count >= k && remaining[i] < 1 + BOUND_EPS && (end - start) * 4 >= count) theta = this.kthLargest(count, k);
        // A row not yet seen needs weight >= need here to reach theta even if every later feature gives its max
        // (minus one impact bucket: weights inside a bucket are unordered).
        const need = this.exhaustive || count < k ? 0 : (theta - remaining[i + 1]) / w - IMPACT_STEP - BOUND_EPS;
        let p = start;
        for (; p < end; p++) {
          const v = this.postValue[p];
          if (v < need) break;
          const r = this.postRow[p];
          if (acc[r] === 0) touched[count++] = r;
          acc[r] += w * v;
        }
        scanned += p - start;
      }
      this.postingsScanned += scanned;
      // Candidates: the best partial scores (all rows within float32 slack of the k-th one when exhaustive).
      const depth = this.exhaustive ? k : Math.max(this.rescoreDepth, 4 * k);
      const cutoff = count > depth ? this.kthLargest(count, depth) - BOUND_EPS * 2 : -Infinity;
      for (const t of terms) this.queryWeight[t.f] = t.w;
      const heap = new TopHeap(k);
      for (let i = 0; i < count; i++) {
        const r = touched[i];
        if (acc[r] < cutoff) continue;
        const s = this.exactScore(r);
        if (s > 0) heap.offer(r, s);
      }
      return heap.sorted();
    } finally {
      for (let i = 0; i < count; i++) acc[touched[i]] = 0;
      for (const t of terms) this.queryWeight[t.f] = 0;
    }
  }

  /** The k-th largest accumulated score among the touched rows (k <= count). */
  private kthLargest(count: number, k: number): number {
    const values = this.scratch;
    for (let i = 0; i < count; i++) values[i] = this.acc[this.touched[i]];
    return selectDescending(values, count, k - 1);
  }

  /**
   * Every row with a positive cosine to the query, best first, visited lazily: `accept` is called in rank order
   * until it returns false (the caller stops once it has enough distinct codes). Rows are computed in exact top-k
   * rounds of growing k (`initial`, then x4).
   */
  scan(query: SparseVector, accept: (row: number, score: number) => boolean, initial = 16): void {
    let k = Math.max(1, initial);
    let fed = 0;
    for (;;) {
      const top = this.topK(query, k);
      for (let i = fed; i < top.length; i++) if (!accept(top[i].row, top[i].score)) return;
      if (top.length < k || k >= this.rows) return;
      fed = top.length;
      k = Math.min(this.rows, k * 4);
    }
  }

  /** The k best rows (positive cosine only), best first. */
  topRows(query: SparseVector, k: number): ScoredRow[] {
    return k <= 0 ? [] : this.topK(query, Math.min(k, Math.max(1, this.rows)));
  }

  /** Bytes held by the typed arrays (rows + postings + scratch). */
  byteSize(): number {
    const arrays = [this.idf, this.indptr, this.indices, this.counts, this.norms, this.postStart, this.postRow, this.postValue, this.maxValue, this.acc, this.touched, this.scratch, this.queryWeight];
    return arrays.reduce((s, a) => s + a.byteLength, 0);
  }
}

/** Grows the CSR arrays of an index row by row (no per-row objects kept). */
export class CsrBuilder {
  private indptr: Int32Array;
  private indices: Int32Array;
  private counts: Uint16Array;
  private norms: Float64Array;
  private rows = 0;
  private nnz = 0;

  constructor(expectedRows = 0) {
    const r = Math.max(16, expectedRows);
    this.indptr = new Int32Array(r + 1);
    this.norms = new Float64Array(r);
    this.indices = new Int32Array(r * 24);
    this.counts = new Uint16Array(r * 24);
  }

  push(row: RowCounts): void {
    if (this.rows + 1 >= this.indptr.length) {
      this.indptr = grow(this.indptr, this.indptr.length * 2) as Int32Array;
      this.norms = grow(this.norms, this.norms.length * 2) as Float64Array;
    }
    const need = this.nnz + row.indices.length;
    if (need > this.indices.length) {
      const size = Math.max(need, Math.ceil(this.indices.length * 1.5));
      this.indices = grow(this.indices, size) as Int32Array;
      this.counts = grow(this.counts, size) as Uint16Array;
    }
    this.indices.set(row.indices, this.nnz);
    this.counts.set(row.counts, this.nnz);
    this.nnz = need;
    this.norms[this.rows] = row.norm;
    this.indptr[++this.rows] = this.nnz;
  }

  finish(idf: Float64Array): TfidfIndex {
    return new TfidfIndex(idf, this.indptr.slice(0, this.rows + 1), this.indices.slice(0, this.nnz), this.counts.slice(0, this.nnz), this.norms.slice(0, this.rows));
  }
}

function grow<T extends Int32Array | Uint16Array | Float64Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}

/** Width of the impact buckets of the posting lists (weights are cosine weights in [0, 1]). */
const IMPACT_STEP = 1 / 1024;

/**
 * Reorder every posting list by decreasing weight bucket (rows ascending inside a bucket): a list's head holds
 * its heaviest postings, and a reader may stop at the first weight below what it needs.
 */
function impactOrder(postStart: Int32Array, postRow: Int32Array, postValue: Float32Array): void {
  const buckets = 1 / IMPACT_STEP;
  const bucketStart = new Int32Array(buckets + 1);
  let longest = 0;
  for (let f = 0; f + 1 < postStart.length; f++) longest = Math.max(longest, postStart[f + 1] - postStart[f]);
  const rowTmp = new Int32Array(longest);
  const valueTmp = new Float32Array(longest);
  const bucketOf = (v: number): number => buckets - 1 - Math.min(buckets - 1, Math.floor(v * buckets));
  for (let f = 0; f + 1 < postStart.length; f++) {
    const from = postStart[f];
    const to = postStart[f + 1];
    if (to - from < 2) continue;
    bucketStart.fill(0);
    for (let p = from; p < to; p++) bucketStart[bucketOf(postValue[p]) + 1]++;
    for (let b = 0; b < buckets; b++) bucketStart[b + 1] += bucketStart[b];
    for (let p = from; p < to; p++) {
      const at = bucketStart[bucketOf(postValue[p])]++;
      rowTmp[at] = postRow[p];
      valueTmp[at] = postValue[p];
    }
    postRow.set(rowTmp.subarray(0, to - from), from);
    postValue.set(valueTmp.subarray(0, to - from), from);
  }
}

/** The value at rank `want` (0 = largest) of values[0..count), by quickselect (reorders values). */
function selectDescending(values: Float64Array, count: number, want: number): number {
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] > pivot) i++;
      while (values[j] < pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else break;
  }
  return values[want];
}

/** Better = higher score, then lower row. */
function better(sa: number, ra: number, sb: number, rb: number): boolean {
  return sa > sb || (sa === sb && ra < rb);
}

/** A bounded min-heap of the `k` best (row, score) pairs. */
class TopHeap {
  private readonly rows: Int32Array;
  private readonly scores: Float64Array;
  private size = 0;

  constructor(private readonly k: number) {
    this.rows = new Int32Array(k);
    this.scores = new Float64Array(k);
  }

  /** heap[0] is the worst kept pair. */
  private worse(i: number, j: number): boolean {
    return better(this.scores[j], this.rows[j], this.scores[i], this.rows[i]);
  }

  private swap(i: number, j: number): void {
    const r = this.rows[i];
    this.rows[i] = this.rows[j];
    this.rows[j] = r;
    const s = this.scores[i];
    this.scores[i] = this.scores[j];
    this.scores[j] = s;
  }

  offer(row: number, score: number): void {
    if (this.size < this.k) {
      this.rows[this.size] = row;
      this.scores[this.size] = score;
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    if (!better(score, row, this.scores[0], this.rows[0])) return;
    this.rows[0] = row;
    this.scores[0] = score;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.size && this.worse(l, m)) m = l;
      if (r < this.size && this.worse(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  sorted(): ScoredRow[] {
    const out: ScoredRow[] = [];
    for (let i = 0; i < this.size; i++) out.push({ row: this.rows[i], score: this.scores[i] });
    out.sort((a, b) => (better(a.score, a.row, b.score, b.row) ? -1 : better(b.score, b.row, a.score, a.row) ? 1 : 0));
    return out;
  }
}
