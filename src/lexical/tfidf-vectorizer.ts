import { SyncabelError } from "../errors.js";
import { charWbNgrams } from "./char-ngrams.js";
import { sparseDot, type SparseVector } from "./sparse.js";

export interface TfidfFitOptions {
  /** n of the character n-grams (default 3, the scispaCy candidate generator's). */
  readonly n?: number;
}

/**
 * TF-IDF over word-bounded character n-grams, the scikit-learn `TfidfVectorizer(analyzer="char_wb",
 * ngram_range=(n, n))` defaults: lower-casing, raw counts (no sublinear tf), smooth idf ln((1+N)/(1+df))+1, L2
 * norm. The vocabulary is fixed at fit time: n-grams never seen in the fitted names are ignored.
 */
export class TfidfCharVectorizer {
  private constructor(
    readonly n: number,
    /** Features, sorted (scikit-learn's order). */
    readonly features: readonly string[],
    readonly idf: Float64Array,
    private readonly featureIndex: ReadonlyMap<string, number>,
  ) {}

  /** Learn the vocabulary and idf from names (each name is one document; repeats count). */
  static fit(names: Iterable<string>, options: TfidfFitOptions = {}): TfidfCharVectorizer {
    const n = options.n ?? 3;
    if (!Number.isInteger(n) || n < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `n-gram size must be a positive integer, got ${n}`);
    const df = new Map<string, number>();
    let docs = 0;
    for (const name of names) {
      docs++;
      for (const g of new Set(charWbNgrams(name, n))) df.set(g, (df.get(g) ?? 0) + 1);
    }
    const features = [...df.keys()].sort();
    const idf = new Float64Array(features.length);
    features.forEach((f, i) => (idf[i] = Math.log((1 + docs) / (1 + df.get(f)!)) + 1));
    return TfidfCharVectorizer.fromParts(n, features, idf);
  }

  /** Rebuild a fitted vectorizer from its features and idf (deserialisation). */
  static fromParts(n: number, features: readonly string[], idf: Float64Array): TfidfCharVectorizer {
    if (features.length !== idf.length) {
      throw new SyncabelError("KB_INDEX_INVALID", `vectorizer has ${features.length} features but ${idf.length} idf values`);
    }
    return new TfidfCharVectorizer(n, features, idf, new Map(features.map((f, i) => [f, i])));
  }

  get vocabularySize(): number {
    return this.features.length;
  }

  /** The text's feature ids (ascending), their raw counts and the L2 norm of its tf-idf weights (count * idf). */
  termCounts(text: string): { indices: Int32Array; counts: Uint16Array; norm: number } {
    const byFeature = new Map<number, number>();
    for (const g of charWbNgrams(text, this.n)) {
      const f = this.featureIndex.get(g);
      if (f !== undefined) byFeature.set(f, (byFeature.get(f) ?? 0) + 1);
    }
    const indices = Int32Array.from(byFeature.keys()).sort();
    const counts = new Uint16Array(indices.length);
    let norm = 0;
    indices.forEach((f, i) => {
      const c = Math.min(byFeature.get(f) as number, 0xffff);
      counts[i] = c;
      const v = c * this.idf[f];
      norm += v * v;
    });
    return { indices, counts, norm: Math.sqrt(norm) };
  }

  /** The L2-normalised TF-IDF vector of a text (all zeros when it shares no n-gram with the vocabulary). */
  transform(text: string): SparseVector {
    const { indices, counts, norm } = this.termCounts(text);
    const values = new Float64Array(indices.length);
    for (let i = 0; i < values.length; i++) values[i] = norm > 0 ? (counts[i] * this.idf[indices[i]]) / norm : 0;
    return { indices, values };
  }

  /** Cosine similarity of two texts under this vectorizer (vectors are L2-normalised, so a dot product). */
  similarity(a: string, b: string): number {
    return sparseDot(this.transform(a), this.transform(b));
  }
}
