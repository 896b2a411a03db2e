import { SyncabelError } from "../errors.js";
import { CsrBuilder, DEFAULT_POSTING_BUDGET, TfidfIndex } from "./tfidf-index.js";
import { TfidfCharVectorizer } from "./tfidf-vectorizer.js";

/** One KB name of a group as the lexical index keeps it. */
export interface LexicalEntry {
  readonly name: string;
  /** Every code of the name, sorted. */
  readonly codes: readonly string[];
  /** The code reported for the name (the KB's disambiguation); ranked first among `codes`. */
  readonly code: string;
}

/** One ranked candidate concept: a code with its best-matching name and that name's cosine. */
export interface LexicalCandidate {
  readonly code: string;
  readonly name: string;
  readonly codes: readonly string[];
  readonly score: number;
}

interface GroupIndex {
  readonly entries: readonly LexicalEntry[];
  readonly index: TfidfIndex;
}

const MAGIC = "SYNCABEL-TFIDF";
const FORMAT_VERSION = 2; // 2: rows as feature ids + raw counts + norms (weights recomputed), scale retrieval

/**
 * The lexical candidate generator of scispaCy (TF-IDF over word-bounded character 3-grams, cosine, exact nearest
 * neighbours), with one vectorizer fitted on every distinct KB name and one index per group so a mention is only
 * compared with names of its own group.
 */
export class LexicalIndex {
  private constructor(
    readonly vectorizer: TfidfCharVectorizer,
    private readonly groups: ReadonlyMap<string, GroupIndex>,
  ) {}

  /** Build from the entries of each group (entries in a stable order: ties rank the earlier entry first). */
  static build(entriesByGroup: ReadonlyMap<string, readonly LexicalEntry[]>, options: { n?: number } = {}): LexicalIndex {
    const names = new Set<string>();
    for (const entries of entriesByGroup.values()) for (const e of entries) names.add(e.name);
    const vectorizer = TfidfCharVectorizer.fit(names, { n: options.n ?? 3 });
    names.clear();
    const groups = new Map<string, GroupIndex>();
    for (const [group, entries] of entriesByGroup) {
      const rows = new CsrBuilder(entries.length);
      for (const e of entries) rows.push(vectorizer.termCounts(e.name));
      groups.set(group, { entries, index: rows.finish(vectorizer.idf) });
    }
    return new LexicalIndex(vectorizer, groups);
  }

  /** Benchmarks: switch every group to exhaustive posting scans (same results, no early stop) or back. */
  setExhaustiveSearch(on: boolean): void {
    for (const g of this.groups.values()) g.index.exhaustive = on;
  }

  /** Benchmarks: the bounded search's posting budget per query (no argument: the default). */
  setPostingBudget(budget = DEFAULT_POSTING_BUDGET): void {
    for (const g of this.groups.values()) g.index.postingBudget = budget;
  }

  /** Postings visited by all searches so far (every group). */
  postingsScanned(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.index.postingsScanned;
    return n;
  }

  /** Bytes of the typed arrays of every group's index (names and codes not counted). */
  indexBytes(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.index.byteSize();
    return n;
  }

  groupNames(): string[] {
    return [...this.groups.keys()].sort();
  }

  hasGroup(group: string): boolean {
    return this.groups.has(group);
  }

  /** Names per group (to check the index still matches its KB). */
  sizes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [g, x] of this.groups) out[g] = x.entries.length;
    return out;
  }

  /**
   * The k best distinct codes of a group for a text, best first. Each code appears once, with its best name; a name
   * with several codes gives its reported code first, then the others in sorted order. Only positive cosines count.
   */
  search(text: string, group: string, k: number): LexicalCandidate[] {
    const g = this.groups.get(group);
    if (!g) throw new SyncabelError("MARKUP_UNKNOWN_GROUP", `unknown group ${JSON.stringify(group)} (known: ${this.groupNames().join(", ")})`, { group });
    const out: LexicalCandidate[] = [];
    if (k <= 0) return out;
    const seen = new Set<string>();
    const query = this.vectorizer.transform(text);
    g.index.scan(query, (row, score) => {
      const e = g.entries[row];
      for (const code of [e.code, ...e.codes.filter((c) => c !== e.code)]) {
        if (seen.has(code)) continue;
        seen.add(code);
        out.push({ code, name: e.name, codes: e.codes, score });
        if (out.length >= k) return false;
      }
      return true;
    }, k * 2);
    return out;
  }

  /** Serialise: magic, JSON header (sizes, features, entries), then 8-byte aligned typed arrays. */
  serialize(): Uint8Array {
    const groups = [...this.groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const header = {
      magic: MAGIC,
      version: FORMAT_VERSION,
      n: this.vectorizer.n,
      features: this.vectorizer.features,
      groups: groups.map(([group, g]) => ({
        group,
        names: g.entries.map((e) => e.name),
        codes: g.entries.map((e) => (e.codes.length === 1 && e.codes[0] === e.code ? e.code : [e.code, ...e.codes])),
        nnz: g.index.indices.length,
      })),
    };
    const json = Buffer.from(JSON.stringify(header), "utf8");
    const headerBytes = 8 + Math.ceil(json.length / 8) * 8;
    const arrays: ArrayBufferView[] = [this.vectorizer.idf];
    for (const [, g] of groups) arrays.push(g.index.indptr, g.index.indices, g.index.counts, g.index.norms);
    const sizes = arrays.map((a) => Math.ceil(a.byteLength / 8) * 8);
    const out = new Uint8Array(headerBytes + sizes.reduce((a, b) => a + b, 0));
    new DataView(out.buffer).setUint32(0, json.length, true);
    out.set(json, 8);
    let at = headerBytes;
    arrays.forEach((a, i) => {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      at += sizes[i];
    });
    return out;
  }

  static deserialize(bytes: Uint8Array): LexicalIndex {
    const bad = (why: string): never => {
      throw new SyncabelError("KB_INDEX_INVALID", `lexical index artefact is corrupt or of another version: ${why}`);
    };
    if (bytes.byteLength < 8) bad("too short");
    // Typed-array views need aligned offsets: copy unless the bytes start a buffer (a large artifact does).
    let buf = bytes as Uint8Array<ArrayBuffer>;
    if (bytes.byteOffset !== 0 || !(bytes.buffer instanceof ArrayBuffer)) {
      buf = new Uint8Array(bytes.byteLength);
      buf.set(bytes);
    }
    const jsonLength = new DataView(buf.buffer).getUint32(0, true);
    if (8 + jsonLength > buf.byteLength) bad("header length out of range");
    let header: {
      magic?: string;
      version?: number;
      n?: number;
      features?: string[];
      groups?: { group: string; names: string[]; codes: (string | string[])[]; nnz: number }[];
    };
    try {
      header = JSON.parse(Buffer.from(buf.subarray(8, 8 + jsonLength)).toString("utf8"));
    } catch {
      return bad("unreadable header");
    }
    if (header.magic !== MAGIC || header.version !== FORMAT_VERSION) bad(`magic/version ${header.magic}/${header.version}`);
    const features = header.features ?? bad("no features");
    const groupsMeta = header.groups ?? bad("no groups");
    let at = 8 + Math.ceil(jsonLength / 8) * 8;
    const take = <T>(ctor: { new (b: ArrayBuffer, o: number, l: number): T; BYTES_PER_ELEMENT: number }, length: number): T => {
      const byteLength = length * ctor.BYTES_PER_ELEMENT;
      if (at + byteLength > buf.byteLength) bad("arrays truncated");
      const view = new ctor(buf.buffer, at, length);
      at += Math.ceil(byteLength / 8) * 8;
      return view;
    };
    const idf = take(Float64Array, features.length);
    const vectorizer = TfidfCharVectorizer.fromParts(header.n ?? 3, features, idf);
    const groups = new Map<string, GroupIndex>();
    for (const meta of groupsMeta) {
      const rows = meta.names.length;
      if (meta.codes.length !== rows) bad(`group ${meta.group}: ${rows} names but ${meta.codes.length} code lists`);
      const indptr = take(Int32Array, rows + 1);
      const indices = take(Int32Array, meta.nnz);
      const counts = take(Uint16Array, meta.nnz);
      const norms = take(Float64Array, rows);
      if (indptr[rows] !== meta.nnz) bad(`group ${meta.group}: row pointers do not end at nnz`);
      for (const f of indices) if (f < 0 || f >= features.length) bad(`group ${meta.group}: feature index ${f} out of range`);
      for (let r = 0; r < rows; r++) if (indptr[r] > indptr[r + 1] || !(norms[r] >= 0)) bad(`group ${meta.group}: row ${r} is malformed`);
      const entries: LexicalEntry[] = meta.names.map((name, i) => {
        const c = meta.codes[i];
        return typeof c === "string" ? { name, code: c, codes: [c] } : { name, code: c[0], codes: c.slice(1) };
      });
      groups.set(meta.group, { entries, index: new TfidfIndex(idf, indptr, indices, counts, norms) });
    }
    return new LexicalIndex(vectorizer, groups);
  }
}
