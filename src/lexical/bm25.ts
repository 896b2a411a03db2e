/**
 * Okapi BM25 over word tokens, in memory: an inverted index (term -> rows with term frequency) in typed arrays.
 * Chosen over SQLite FTS5 because queries here are a few stems against a few hundred thousand short names, where
 * the in-process scan is an order of magnitude faster than an FTS5 round trip per query and needs no per-group
 * filtering (one index per group); see `npm run bench:eval` (bm25_backends) for the measured figures.
 *
 * score(q, d) = sum over distinct query terms t of idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl)),
 * idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)) (the Lucene form, never negative).
 */
import { ScratchScores, topRows, type Accumulated } from "./score-accumulator.js";

export interface Bm25Options {
  readonly k1?: number;
  readonly b?: number;
}

/** Accumulated BM25 scores, with how many distinct query terms each row contains. */
export interface Bm25Accumulated extends Accumulated {
  readonly matches: Uint16Array;
}

export interface Bm25Hit {
  readonly row: number;
  readonly score: number;
}

export class Bm25Index {
  readonly k1: number;
  readonly b: number;
  private readonly termIds = new Map<string, number>();
  private readonly idf: Float64Array;
  private readonly postStart: Int32Array;
  private readonly postRow: Int32Array;
  private readonly postTf: Float64Array;
  /** Per-row normaliser k1 * (1 - b + b * len / avgdl). */
  private readonly rowNorm: Float64Array;
  private readonly rowTerms: readonly Int32Array[];
  private readonly rowTf: readonly Float64Array[];
  private readonly scratch: ScratchScores;

  constructor(rows: readonly (readonly string[])[], options: Bm25Options = {}) {
    this.k1 = options.k1 ?? 1.2;
    this.b = options.b ?? 0.75;
    const n = rows.length;
    const rowTerms: Int32Array[] = [];
    const rowTf: Float64Array[] = [];
    const df: number[] = [];
    let totalLength = 0;
    for (const tokens of rows) {
      const counts = new Map<number, number>();
      for (const t of tokens) {
        let id = this.termIds.get(t);
        if (id === undefined) {
          id = this.termIds.size;
          this.termIds.set(t, id);
          df.push(0);
        }
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      const ids = Int32Array.from([...counts.keys()].sort((a, b) => a - b));
      rowTerms.push(ids);
      rowTf.push(Float64Array.from(ids, (id) => counts.get(id) as number));
      for (const id of ids) df[id]++;
      totalLength += tokens.length;
    }
    const avgdl = n === 0 ? 1 : Math.max(totalLength / n, 1e-9);
    this.idf = Float64Array.from(df, (d) => Math.log(1 + (n - d + 0.5) / (d + 0.5)));
    this.rowNorm = Float64Array.from(rows, (r) => this.k1 * (1 - this.b + (this.b * r.length) / avgdl));
    this.rowTerms = rowTerms;
    this.rowTf = rowTf;
    this.scratch = new ScratchScores(n);
    // Postings by counting sort on term id (rows ascending within a term).
    const terms = df.length;
    this.postStart = new Int32Array(terms + 1);
    for (let t = 0; t < terms; t++) this.postStart[t + 1] = this.postStart[t] + df[t];
    const fill = this.postStart.slice(0, terms);
    this.postRow = new Int32Array(this.postStart[terms]);
    this.postTf = new Float64Array(this.postStart[terms]);
    rowTerms.forEach((ids, r) => {
      ids.forEach((id, j) => {
        const at = fill[id]++;
        this.postRow[at] = r;
        this.postTf[at] = rowTf[r][j];
      });
    });
  }

  get rows(): number {
    return this.rowNorm.length;
  }

  /** idf of a term (0 when unknown). */
  termIdf(term: string): number {
    const id = this.termIds.get(term);
    return id === undefined ? 0 : this.idf[id];
  }

  /** Distinct known term ids of a query, for repeated `scoreTerms` calls. */
  terms(query: readonly string[]): Int32Array {
    const ids = new Set<number>();
    for (const t of query) {
      const id = this.termIds.get(t);
      if (id !== undefined) ids.add(id);
    }
    return Int32Array.from(ids);
  }

  /** The BM25 score of one row for a query (distinct query terms). */
  score(query: readonly string[], row: number): number {
    return this.scoreTerms(this.terms(query), row);
  }

  /** `score` with the query's term ids from `terms`. */
  scoreTerms(query: Int32Array, row: number): number {
    const ids = this.rowTerms[row];
    const tfs = this.rowTf[row];
    let s = 0;
    for (let q = 0; q < query.length; q++) {
      const id = query[q];
      // Binary search: rows hold a handful of terms.
      let lo = 0;
      let hi = ids.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (ids[mid] === id) {
          const tf = tfs[mid];
          s += (this.idf[id] * tf * (this.k1 + 1)) / (tf + this.rowNorm[row]);
          break;
        }
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid - 1;
      }
    }
    return s;
  }

  /**
   * The score of every row for a query (distinct query terms), with matched term counts. The arrays are reused:
   * they hold this query's scores until the next `accumulate` call on this index.
   */
  accumulate(query: readonly string[] | Int32Array): Bm25Accumulated {
    const { scores, touched, matches } = this.scratch.reset();
    let count = 0;
    for (const id of query instanceof Int32Array ? query : this.terms(query)) {
      const w = this.idf[id] * (this.k1 + 1);
      for (let p = this.postStart[id]; p < this.postStart[id + 1]; p++) {
        const r = this.postRow[p];
        if (scores[r] === 0) touched[count++] = r;
        const tf = this.postTf[p];
        scores[r] += (w * tf) / (tf + this.rowNorm[r]);
        matches[r]++;
      }
    }
    this.scratch.count = count;
    return { scores, touched, count, matches };
  }

  /** Rows with a positive score, best first (ties: lower row first), at most k. */
  search(query: readonly string[], k: number): Bm25Hit[] {
    const acc = this.accumulate(query);
    return topRows(acc, k).map((row) => ({ row, score: acc.scores[row] as number }));
  }
}
