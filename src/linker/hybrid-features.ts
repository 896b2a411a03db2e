/**
 * Candidate generation and features of the hybrid linker: the union of the TF-IDF, BM25 and memory candidates of
 * a mention (and of its acronym-expanded form), each code described by the features the reranker weighs.
 */
import { coordinationReadings } from "../lexical/coordination.js";
import { topRows } from "../lexical/score-accumulator.js";
import { sparseDot, type SparseVector } from "../lexical/sparse.js";
import { mentionContext, type MentionQuery } from "../data/mention-queries.js";
import { documentEntries, documentEvidence } from "./hybrid-document.js";
import { acronymFits, headOf, looksLikeAcronym, numbersOf, type GroupIndex, type HybridEntry, type HybridIndex, type QueryText } from "./hybrid-index.js";

export const FEATURE_NAMES = [
  "tfidf", "tfidf_kb", "tfidf_rank", "bm25", "bm25_rel", "bm25_rank",
  "exact", "exact_kb", "key_match", "mem_count", "mem_consistency", "key_count", "key_consistency",
  "prior", "seen", "jaccard", "query_cover", "name_cover", "edit_sim", "length_ratio",
  "number_conflict", "acronym", "acronym_fit", "context", "composite", "has_kb_name", "best_is_kb", "ambiguity",
  "expanded", "mem_only_exact", "knn_vote", "knn_share", "name_cover_max", "query_cover_max", "head_match", "assoc_cover",
  "doc_expanded", "doc_exact", "doc_mem_consistency",
  "doc_support", "doc_contained",
  "coordination", "coord_min_score", "coord_pieces", "coord_cover",
] as const;

export type FeatureName = (typeof FEATURE_NAMES)[number];
export const FEATURE_COUNT = FEATURE_NAMES.length;
const F = Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, i])) as Record<FeatureName, number>;

export interface Candidate {
  readonly code: string;
  /** The code's name that matched best. */
  readonly matched: string;
  /** Display name: the code's first KB name, else its most frequent training mention. */
  readonly name: string;
  /** A view into one buffer shared by the query's candidates: `slice()` it to keep it apart from the others. */
  readonly features: Float64Array;
}

/**
 * What the hybrid linker reads of a mention query (src/data/mention-queries.ts): the mention and its group, the
 * sentence around it (context feature; absent for a bare mention), the document's long form of a short form and
 * the document's mention texts (document-level features, src/linker/hybrid-document.ts).
 */
export type HybridQuery = Pick<MentionQuery, "mention" | "group" | "expansion" | "documentMentions"> & Partial<Pick<MentionQuery, "plain" | "fragments">>;

/** How many codes each retriever contributes before the union. */
export interface CandidateOptions {
  readonly perRetriever?: number;
  /** Also offer the union of the codes of a coordinated mention's pieces (default true). */
  readonly coordination?: boolean;
}

const EDIT_MIN_COSINE = 0.4;
/** Rows below this cosine, or below this share of the best BM25 score, are not folded into candidates. */
const MIN_COSINE = 0.15;
const MIN_BM25_SHARE = 0.2;

/** Row buffers of `levenshtein`, reused across calls (inputs are cut at 80 characters). */
let levPrev = new Int32Array(81);
let levCur = new Int32Array(81);

function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  if (levPrev.length <= b.length) [levPrev, levCur] = [new Int32Array(b.length + 1), new Int32Array(b.length + 1)];
  let prev = levPrev;
  let cur = levCur;
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1] + (ca === b.charCodeAt(j - 1) ? 0 : 1);
      const del = prev[j] + 1;
      const ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : del < ins ? del : ins;
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** 1 - normalised Levenshtein distance of two strings (cut at 80 characters: names rarely differ further on). */
export function editSimilarity(a: string, b: string): number {
  const x = a.slice(0, 80);
  const y = b.slice(0, 80);
  const m = Math.max(x.length, y.length);
  return m === 0 ? 1 : 1 - levenshtein(x, y) / m;
}


/**
 * How well the mention's words explain a KB name's words: the mean over name stems of 1 when the mention has the
 * stem, else the best learned association of a mention stem with it.
 */
function associationCover(index: HybridIndex, mention: readonly string[], mentionSet: ReadonlySet<string>, name: readonly string[], memo: Map<string, number>): number {
  if (name.length === 0 || mention.length === 0) return 0;
  let total = 0;
  for (const n of name) {
    if (mentionSet.has(n)) {
      total += 1;
      continue;
    }
    // The best association of a name stem depends only on the query: computed once per query.
    let best = memo.get(n);
    if (best === undefined) {
      best = 0;
      const inner = index.associations.get(n);
      if (inner !== undefined) for (const m of mention) best = Math.max(best, inner.get(m) ?? 0);
      memo.set(n, best);
    }
    total += best;
  }
  return total / name.length;
}

/** A fixed score that orders candidates before reranking (to keep the hardest negatives for training). */
export function firstStageScore(x: Float64Array): number {
  // coord_cover: a composite made of pieces has no similarity of its own but must compete as a hard negative too.
  return Math.max(x[F.tfidf] as number, x[F.bm25_rel] as number, x[F.coord_cover] as number) + (x[F.mem_consistency] as number) + 0.5 * (x[F.key_consistency] as number) + (x[F.exact] as number);
}

/** Per-code best scores of one query, in scratch arrays reused across queries of a group. */
class CodeScratch {
  readonly tf: Float64Array;
  readonly tfKb: Float64Array;
  readonly tfRow: Int32Array;
  readonly tfVariant: Int32Array;
  readonly bm: Float64Array;
  readonly vote: Float64Array;
  readonly nameCover: Float64Array;
  readonly queryCover: Float64Array;
  readonly head: Uint8Array;
  readonly mark: Uint8Array;
  readonly touched: Int32Array;
  count = 0;

  constructor(codes: number) {
    this.tf = new Float64Array(codes);
    this.tfKb = new Float64Array(codes);
    this.tfRow = new Int32Array(codes).fill(-1);
    this.tfVariant = new Int32Array(codes);
    this.bm = new Float64Array(codes);
    this.vote = new Float64Array(codes);
    this.nameCover = new Float64Array(codes);
    this.queryCover = new Float64Array(codes);
    this.head = new Uint8Array(codes);
    this.mark = new Uint8Array(codes);
    this.touched = new Int32Array(codes);
  }

  touch(c: number): void {
    if (this.mark[c] === 0) {
      this.mark[c] = 1;
      this.touched[this.count++] = c;
    }
  }

  clear(): void {
    for (let i = 0; i < this.count; i++) {
      const c = this.touched[i];
      this.tf[c] = 0;
      this.tfKb[c] = 0;
      this.tfRow[c] = -1;
      this.tfVariant[c] = 0;
      this.bm[c] = 0;
      this.vote[c] = 0;
      this.nameCover[c] = 0;
      this.queryCover[c] = 0;
      this.head[c] = 0;
      this.mark[c] = 0;
    }
    this.count = 0;
  }
}

const scratchOf = new WeakMap<GroupIndex, CodeScratch>();

/** Per-code look-ups of a group as arrays by code id, built once: Map look-ups by code string were a hot spot. */
interface CodeTables {
  readonly firstRow: Int32Array;
  readonly kbRows: readonly (readonly number[])[];
  readonly prior: Float64Array;
  readonly context: readonly (SparseVector | undefined)[];
  readonly display: readonly (string | undefined)[];
}

const tablesOf = new WeakMap<GroupIndex, CodeTables>();

function codeTables(g: GroupIndex): CodeTables {
  let t = tablesOf.get(g);
  if (t === undefined) {
    const none: readonly number[] = [];
    t = {
      firstRow: Int32Array.from(g.codes, (code) => g.byCode.get(code)?.[0] ?? -1),
      kbRows: g.codes.map((code) => g.kbRows.get(code) ?? none),
      prior: Float64Array.from(g.codes, (code) => g.codeCount.get(code) ?? 0),
      context: g.codes.map((code) => g.contexts.get(code)),
      display: g.codes.map((code) => g.display.get(code)),
    };
    tablesOf.set(g, t);
  }
  return t;
}

/** The k touched codes with the highest positive value, best first (ties: lower code id). */
function topCodes(s: CodeScratch, values: Float64Array, k: number): number[] {
  return topRows({ scores: values, touched: s.touched, count: s.count }, k);
}

/** Every candidate code of a mention with its features, in no particular order. */
export function candidatesOf(index: HybridIndex, q: HybridQuery, options: CandidateOptions = {}): Candidate[] {
  const g = index.group(q.group);
  if (g === undefined) return [];
  const k = options.perRetriever ?? 64;
  const expandedText = index.expand(q.mention);
  const variants: QueryText[] = [index.query(q.mention)];
  if (expandedText !== undefined) variants.push(index.query(expandedText));
  // The document's own long form: always the last variant (doc_* features).
  if (q.expansion !== undefined && q.expansion.trim() !== "") variants.push(index.query(q.expansion));
  const base = variants[0] as QueryText;
  let s = scratchOf.get(g);
  if (s === undefined) scratchOf.set(g, (s = new CodeScratch(g.codes.length)));
  let out: Candidate[];
  try {
    out = scoreCandidates(index, g, s, q, variants, base, k);
  } finally {
    s.clear();
  }
  if (options.coordination !== false) addCoordinated(index, g, q, base, out);
  return out;
}

/**
 * Composite candidates of a coordinated mention (src/lexical/coordination.ts): each reading's pieces are linked
 * alone (best code by first-stage score), and the union of their codes, when it has 2 or more, is a candidate
 * (`a+b`) with the element-wise minimum of the pieces' features: as good as its worst-matched piece.
 */
const PIECE_RETRIEVER_TOP = 8;

/**
 * A piece that is exactly a name of the group (KB name or training mention): its first-stage winner without any
 * retrieval. An exact code scores at least 2 (cosine 1 + exact), any other at most 1.5, so the winner is the
 * exact code the memory gives most often (then the lowest code), with the score firstStageScore would give it.
 */
export function exactPiece(index: HybridIndex, g: GroupIndex, piece: string): { c: Candidate; score: number } | undefined {
  const n = index.normalizer.normalize(piece);
  const rows = g.byFolded.get(n.folded);
  if (rows === undefined || rows.length === 0) return undefined;
  const exact = g.memExact.get(n.folded);
  const keyed = g.memKey.get(n.key);
  const exactTotal = sum(exact);
  const keyTotal = sum(keyed);
  let best: { row: number; score: number } | undefined;
  for (const r of rows) {
    const code = g.codes[g.codeOf[r] as number] as string;
    const score = 2 + (exactTotal > 0 ? (exact?.get(code) ?? 0) / exactTotal : 0) + 0.5 * (keyTotal > 0 ? (keyed?.get(code) ?? 0) / keyTotal : 0);
    if (best === undefined || score > best.score || (score === best.score && code < (g.entries[best.row] as HybridEntry).code)) best = { row: r, score };
  }
  if (best === undefined) return undefined;
  const e = g.entries[best.row] as HybridEntry;
  return { c: { code: e.code, matched: e.name, name: g.display.get(e.code) ?? e.name, features: new Float64Array(FEATURE_COUNT) }, score: best.score };
}
/** Best code of each piece text per group index (pieces such as `radiografía de tórax` recur); emptied when full. */
const pieceCache = new WeakMap<GroupIndex, Map<string, { c: Candidate; score: number } | undefined>>();
const PIECE_CACHE_SIZE = 50_000;

function addCoordinated(index: HybridIndex, g: GroupIndex, q: HybridQuery, base: QueryText, out: Candidate[]): void {
  const mention = base.content;
  const readings = coordinationReadings(q.mention, index.normalizer.language);
  if (readings.length === 0) return;
  let best = pieceCache.get(g);
  if (best === undefined || best.size > PIECE_CACHE_SIZE) pieceCache.set(g, (best = new Map()));
  const cache = best;
  const pieceBest = (piece: string) => {
    if (!cache.has(piece)) {
      let top: { c: Candidate; score: number } | undefined = exactPiece(index, g, piece);
      // The first-stage score uses neither context nor document: a piece is a bare query, and its best code is
      // among the first few of each retriever.
      if (top === undefined) {
        for (const c of candidatesOf(index, { mention: piece, group: q.group }, { perRetriever: PIECE_RETRIEVER_TOP, coordination: false })) {
          const score = firstStageScore(c.features);
          if (top === undefined || score > top.score || (score === top.score && c.code < top.c.code)) top = { c, score };
        }
      }
      cache.set(piece, top === undefined ? undefined : { c: { ...top.c, features: top.c.features.slice() }, score: top.score });
    }
    return cache.get(piece);
  };
  const byCode = new Map(out.map((c) => [c.code, c]));
  for (const reading of readings) {
    const pieces = reading.map(pieceBest);
    if (pieces.some((p) => p === undefined)) continue;
    const parts = pieces as { c: Candidate; score: number }[];
    const codes = [...new Set(parts.flatMap((p) => p.c.code.split("+")))].sort();
    if (codes.length < 2) continue;
    const code = codes.join("+");
    const minScore = Math.min(...parts.map((p) => p.score));
    let cand = byCode.get(code);
    if (cand === undefined) {
      // Only what describes the composite as a whole: the pieces' own similarities say nothing of the others.
      const x = new Float64Array(FEATURE_COUNT);
      const prior = g.codeCount.get(code) ?? 0;
      x[F.prior] = Math.log1p(prior);
      x[F.seen] = prior > 0 ? 1 : 0;
      x[F.composite] = 1;
      x[F.has_kb_name] = 1;
      cand = { code, matched: parts.map((p) => p.c.matched).join(" + "), name: g.display.get(code) ?? parts.map((p) => p.c.name).join(" + "), features: x };
      out.push(cand);
      byCode.set(code, cand);
    }
    // Share of the mention's content words found in the pieces' matched names.
    const covered = new Set(parts.flatMap((p) => index.contentStems(p.c.matched)));
    const cover = mention.length === 0 ? 0 : mention.filter((w) => covered.has(w)).length / mention.length;
    cand.features[F.coord_cover] = Math.max(cand.features[F.coord_cover] as number, cover);
    const x = cand.features;
    x[F.coordination] = 1;
    x[F.coord_min_score] = Math.max(x[F.coord_min_score] as number, minScore);
    x[F.coord_pieces] = Math.max(x[F.coord_pieces] as number, Math.log(parts.length));
  }
}

function scoreCandidates(index: HybridIndex, g: GroupIndex, s: CodeScratch, q: HybridQuery, variants: readonly QueryText[], base: QueryText, k: number): Candidate[] {
  // 1. Fold row scores of every variant into per-code maxima (rows far below the best ones cannot matter).
  const headFirst = index.normalizer.language !== "en";
  const queryHeadStem = headOf(base.content, headFirst);
  const queryHead = queryHeadStem === undefined ? -2 : (g.heads.get(queryHeadStem) ?? -2);
  let bm25Top = 0;
  variants.forEach((v, vi) => {
    const cos = g.tfidf.accumulate(v.vector);
    for (let i = 0; i < cos.count; i++) {
      const r = cos.touched[i] as number;
      const score = cos.scores[r] as number;
      if (score < MIN_COSINE) continue;
      const c = g.codeOf[r] as number;
      s.touch(c);
      if (score > s.tf[c]) {
        s.tf[c] = score;
        s.tfRow[c] = r;
        s.tfVariant[c] = vi;
      }
      if (g.entryKb[r] === 1 && score > s.tfKb[c]) s.tfKb[c] = score;
      // k-nearest-neighbour vote of the training mentions, sharpened so near-duplicates dominate.
      const mem = g.entryMemCount[r] as number;
      if (mem > 0 && vi === 0) s.vote[c] += mem * score ** 4;
    }
    const bm = g.bm25.accumulate(v.content);
    let top = 0;
    for (let i = 0; i < bm.count; i++) top = Math.max(top, bm.scores[bm.touched[i] as number] as number);
    bm25Top = Math.max(bm25Top, top);
    const floor = top * MIN_BM25_SHARE;
    const queryLength = v.content.length;
    for (let i = 0; i < bm.count; i++) {
      const r = bm.touched[i] as number;
      const score = bm.scores[r] as number;
      if (score < floor) continue;
      const c = g.codeOf[r] as number;
      s.touch(c);
      if (score > s.bm[c]) s.bm[c] = score;
      const matched = bm.matches[r] as number;
      const length = g.entryContentLength[r] as number;
      if (length > 0 && matched / length > s.nameCover[c]) s.nameCover[c] = matched / length;
      if (queryLength > 0 && matched / queryLength > s.queryCover[c]) s.queryCover[c] = matched / queryLength;
      if (g.entryHead[r] === queryHead) s.head[c] = 1;
    }
  });
  // 2. Candidates: the k best codes of each retriever, and the memory's answers.
  const tfidfTop = topCodes(s, s.tf, k);
  const bm25List = topCodes(s, s.bm, k);
  const tfidfRank = new Map(tfidfTop.map((c, i) => [c, i]));
  const bm25Rank = new Map(bm25List.map((c, i) => [c, i]));
  const exact = g.memExact.get(base.n.folded);
  const keyed = g.memKey.get(base.n.key);
  const candidates = new Set<number>([...tfidfTop, ...bm25List]);
  const doc = q.expansion !== undefined && variants.length > 1 ? docLongForm(g, variants[variants.length - 1] as QueryText) : undefined;
  for (const code of [...(exact?.keys() ?? []), ...(keyed?.keys() ?? []), ...(doc?.mem.keys() ?? [])]) {
    const c = g.codeId.get(code);
    if (c !== undefined) candidates.add(c);
  }
  const queryAcronym = looksLikeAcronym(q.mention) ? q.mention.trim() : undefined;
  const discourse = q.documentMentions === undefined ? undefined : documentEvidence(documentEntries(index, g, q.documentMentions), base, queryAcronym);
  for (const c of discourse?.contained ?? []) candidates.add(c);
  const exactCodes = new Set<number>();
  const exactKbCodes = new Set<number>();
  for (const r of g.byFolded.get(base.n.folded) ?? []) {
    exactCodes.add(g.codeOf[r] as number);
    if ((g.entries[r] as HybridEntry).kb) exactKbCodes.add(g.codeOf[r] as number);
  }
  const keyCodes = new Set<number>((g.byKey.get(base.n.key) ?? []).map((r) => g.codeOf[r] as number));
  const exactTotal = sum(exact);
  const keyTotal = sum(keyed);
  const context = q.plain !== undefined && q.fragments !== undefined ? index.contextVector(mentionContext({ plain: q.plain, fragments: q.fragments })) : undefined;
  const queryNumbers = numbersOf(base.n.tokens.join(" "));
  const queryContent = new Set(base.content);

  let voteTotal = 0;
  for (let i = 0; i < s.count; i++) voteTotal += s.vote[s.touched[i] as number] as number;
  // 3. Features per candidate code.
  const tables = codeTables(g);
  const assocMemo = new Map<string, number>();
  const out: Candidate[] = [];
  // One buffer for every candidate's features (a typed array each was a tenth of linking time).
  const rows = new Float64Array(candidates.size * FEATURE_COUNT);
  for (const c of candidates) {
    const code = g.codes[c] as string;
    const bestRow = s.tfRow[c] as number;
    const b: HybridEntry = g.entries[bestRow >= 0 ? bestRow : (tables.firstRow[c] as number)] as HybridEntry;
    const x = rows.subarray(out.length * FEATURE_COUNT, (out.length + 1) * FEATURE_COUNT);
    x[F.tfidf] = s.tf[c] as number;
    x[F.tfidf_kb] = s.tfKb[c] as number;
    const tr = tfidfRank.get(c);
    x[F.tfidf_rank] = tr === undefined ? 0 : 1 / (1 + tr);
    const bestBm25 = s.bm[c] as number;
    x[F.bm25] = Math.log1p(bestBm25);
    x[F.bm25_rel] = bm25Top > 0 ? bestBm25 / bm25Top : 0;
    const br = bm25Rank.get(c);
    x[F.bm25_rank] = br === undefined ? 0 : 1 / (1 + br);
    x[F.exact] = exactCodes.has(c) ? 1 : 0;
    x[F.exact_kb] = exactKbCodes.has(c) ? 1 : 0;
    x[F.key_match] = keyCodes.has(c) ? 1 : 0;
    const memCount = exact?.get(code) ?? 0;
    x[F.mem_count] = Math.log1p(memCount);
    x[F.mem_consistency] = exactTotal > 0 ? memCount / exactTotal : 0;
    const keyCount = keyed?.get(code) ?? 0;
    x[F.key_count] = Math.log1p(keyCount);
    x[F.key_consistency] = keyTotal > 0 ? keyCount / keyTotal : 0;
    const prior = tables.prior[c] as number;
    x[F.prior] = Math.log1p(prior);
    x[F.seen] = prior > 0 ? 1 : 0;
    let both = 0;
    for (const st of b.content) if (queryContent.has(st)) both++;
    const union = queryContent.size + b.content.length - both;
    x[F.jaccard] = union === 0 ? 0 : both / union;
    x[F.query_cover] = queryContent.size === 0 ? 0 : both / queryContent.size;
    x[F.name_cover] = b.content.length === 0 ? 0 : both / b.content.length;
    // Edit distance is the costliest feature: only for names that already look alike.
    x[F.edit_sim] = x[F.tfidf] >= EDIT_MIN_COSINE ? editSimilarity(base.n.folded, b.folded) : 0;
    x[F.length_ratio] = Math.abs(Math.log((b.stems.length + 1) / (base.n.stems.length + 1)));
    const bn = b.numbers;
    x[F.number_conflict] = queryNumbers !== bn && (queryNumbers !== "" || bn !== "") ? 1 : 0;
    x[F.acronym] = queryAcronym !== undefined ? 1 : 0;
    const kbRows = tables.kbRows[c] as readonly number[];
    const hasKb = kbRows.length > 0;
    for (const r of kbRows) {
      const e = g.entries[r] as HybridEntry;
      if (queryAcronym !== undefined && acronymFits(queryAcronym, e.folded)) x[F.acronym_fit] = 1;
      const cover = associationCover(index, base.content, queryContent, e.content, assocMemo);
      if (cover > x[F.assoc_cover]) x[F.assoc_cover] = cover;
    }
    const ctx = tables.context[c];
    x[F.context] = ctx === undefined || context === undefined ? 0 : sparseDot(context, ctx);
    x[F.composite] = code.includes("+") ? 1 : 0;
    x[F.has_kb_name] = hasKb ? 1 : 0;
    x[F.best_is_kb] = b.kb ? 1 : 0;
    x[F.ambiguity] = Math.log(b.ambiguity);
    x[F.expanded] = (s.tfVariant[c] as number) > 0 ? 1 : 0;
    x[F.mem_only_exact] = x[F.exact] === 1 && x[F.exact_kb] === 0 ? 1 : 0;
    x[F.knn_vote] = Math.log1p(s.vote[c] as number);
    x[F.knn_share] = voteTotal > 0 ? (s.vote[c] as number) / voteTotal : 0;
    x[F.name_cover_max] = s.nameCover[c] as number;
    x[F.query_cover_max] = s.queryCover[c] as number;
    x[F.head_match] = s.head[c] as number;
    if (doc !== undefined) {
      x[F.doc_expanded] = (s.tfVariant[c] as number) === variants.length - 1 ? 1 : 0;
      x[F.doc_exact] = doc.exactCodes.has(c) ? 1 : 0;
      x[F.doc_mem_consistency] = doc.memTotal > 0 ? (doc.mem.get(code) ?? 0) / doc.memTotal : 0;
    }
    if (discourse !== undefined) {
      x[F.doc_support] = Math.log1p(discourse.support.get(c) ?? 0);
      x[F.doc_contained] = discourse.contained.has(c) ? 1 : 0;
    }
    out.push({ code, matched: b.name, name: tables.display[c] ?? b.name, features: x });
  }
  return out;
}

/** Exact matches of a document long form: codes with that name, and the training memory's codes for it. */
function docLongForm(g: GroupIndex, v: QueryText): { exactCodes: Set<number>; mem: ReadonlyMap<string, number>; memTotal: number } {
  const mem = g.memExact.get(v.n.folded) ?? new Map<string, number>();
  return { exactCodes: new Set((g.byFolded.get(v.n.folded) ?? []).map((r) => g.codeOf[r] as number)), mem, memTotal: sum(mem) };
}

function sum(m: ReadonlyMap<string, number> | undefined): number {
  let s = 0;
  for (const v of m?.values() ?? []) s += v;
  return s;
}
