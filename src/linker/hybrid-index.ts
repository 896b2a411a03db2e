/**
 * The candidate index of the hybrid linker, per group: every KB name and every training mention (the training
 * memory) as a name of its concept, searched three ways (character 3-gram TF-IDF cosine, word BM25 over Snowball
 * stems, exact memory look-up of the folded text and of the word-order-free stem key), plus the statistics the
 * reranker's features need (code counts, memory consistency, learned acronyms, sentence contexts).
 */
import type { TrainingMention } from "../kb/mentions.js";
import { Bm25Index } from "../lexical/bm25.js";
import { foldText, Normalizer, stripSemanticTag, trailingAcronym, type NormalizedText } from "../lexical/normalize.js";
import type { SparseVector } from "../lexical/sparse.js";
import { DotAccumulator } from "../lexical/score-accumulator.js";
import { TfidfCharVectorizer } from "../lexical/tfidf-vectorizer.js";
import { mentionContext } from "../data/mention-queries.js";
import { parseMarkedSentence } from "../markup/marked-sentence.js";

/** A KB name as the index takes it. */
export interface KbName {
  readonly name: string;
  readonly group: string;
  /** Every code of the name. */
  readonly codes: readonly string[];
}

/** One retrievable name of one code in a group. */
export interface HybridEntry {
  readonly name: string;
  readonly folded: string;
  readonly stems: readonly string[];
  /** Distinct stems without stop words. */
  readonly content: readonly string[];
  readonly key: string;
  /** Its numbers, sorted and joined by spaces ("" when none). */
  readonly numbers: string;
  readonly code: string;
  /** A KB name (else a training mention only). */
  readonly kb: boolean;
  /** Codes sharing this KB name (1 for memory-only names). */
  readonly ambiguity: number;
}

type Counts = Map<string, number>;

export interface GroupIndex {
  readonly group: string;
  readonly entries: readonly HybridEntry[];
  readonly byCode: ReadonlyMap<string, readonly number[]>;
  /** The KB-name rows of each code (a code may also have hundreds of training-mention rows). */
  readonly kbRows: ReadonlyMap<string, readonly number[]>;
  /** Distinct codes of the group; `codeOf[row]` is the entry's index in it. */
  readonly codes: readonly string[];
  readonly codeOf: Int32Array;
  readonly codeId: ReadonlyMap<string, number>;
  /** Rows per folded text and per stem key (exact look-ups). */
  readonly byFolded: ReadonlyMap<string, readonly number[]>;
  readonly byKey: ReadonlyMap<string, readonly number[]>;
  readonly tfidf: DotAccumulator;
  readonly bm25: Bm25Index;
  /** folded mention text -> code -> training count. */
  readonly memExact: ReadonlyMap<string, Counts>;
  /** word-order-free stem key -> code -> training count. */
  readonly memKey: ReadonlyMap<string, Counts>;
  readonly codeCount: Counts;
  readonly mentions: number;
  /** code -> L2-normalised idf-weighted bag of context stems of its training sentences. */
  readonly contexts: ReadonlyMap<string, SparseVector>;
  /** Training mentions with exactly this entry's folded text and code (0 for KB-only names). */
  readonly entryMemCount: Float64Array;
  /** Per entry: 1 for a KB name; its number of content stems; the id of its head stem in `heads`. */
  readonly entryKb: Uint8Array;
  readonly entryContentLength: Float64Array;
  readonly entryHead: Int32Array;
  readonly heads: ReadonlyMap<string, number>;
  /** A display name per code: its first KB name, else its most frequent training mention. */
  readonly display: ReadonlyMap<string, string>;
}

export interface HybridIndexOptions {
  readonly language?: string;
  /**
   * Keep only training codes whose every part is a KB code (default true): the linker answers with KB concepts,
   * and a training code missing from the KB (another release) cannot be right.
   */
  readonly restrictToKb?: boolean;
}

/** Parsed query text. */
export interface QueryText {
  readonly n: NormalizedText;
  readonly content: readonly string[];
  readonly vector: SparseVector;
}

function bump(map: Map<string, Counts>, key: string, code: string): void {
  let c = map.get(key);
  if (c === undefined) map.set(key, (c = new Map()));
  c.set(code, (c.get(code) ?? 0) + 1);
}

/** A single token written in capitals (`HTA`, `IAM`, `TC`), the usual shape of a clinical acronym. */
export function looksLikeAcronym(text: string): boolean {
  const t = text.trim();
  return /^[\p{Lu}\p{N}-]{2,8}s?$/u.test(t) && (t.match(/\p{Lu}/gu)?.length ?? 0) >= 2;
}

/** Whether the letters of an acronym appear in order in a name, the first one starting the name (Schwartz-Hearst). */
export function acronymFits(acronym: string, nameFolded: string): boolean {
  const a = foldText(acronym).replace(/[^a-z0-9]/g, "");
  if (a.length < 2 || nameFolded === "" || nameFolded[0] !== a[0]) return false;
  let j = 0;
  for (const ch of nameFolded) if (ch === a[j]) j++;
  return j >= a.length && nameFolded.split(" ").length >= 2;
}

export class HybridIndex {
  readonly normalizer: Normalizer;
  readonly vectorizer: TfidfCharVectorizer;
  /** Folded acronym -> folded expansion, learned from training pairs and from KB names `long form (ACR)`. */
  readonly expansions: ReadonlyMap<string, string>;
  /** idf of context stems over training sentences. */
  readonly contextIdf: ReadonlyMap<string, number>;
  private readonly groupMap: ReadonlyMap<string, GroupIndex>;
  private readonly contextIds: ReadonlyMap<string, number>;

  /** Dice association of KB-name stems with mention stems over training pairs: name stem -> mention stem -> dice. */
  readonly associations: ReadonlyMap<string, ReadonlyMap<string, number>>;

  private constructor(normalizer: Normalizer, vectorizer: TfidfCharVectorizer, groups: Map<string, GroupIndex>, expansions: Map<string, string>, contextIdf: Map<string, number>, contextIds: Map<string, number>, associations: Map<string, Map<string, number>>) {
    this.normalizer = normalizer;
    this.associations = associations;
    this.contextIds = contextIds;
    this.vectorizer = vectorizer;
    this.groupMap = groups;
    this.expansions = expansions;
    this.contextIdf = contextIdf;
  }

  groups(): string[] {
    return [...this.groupMap.keys()].sort();
  }

  group(group: string): GroupIndex | undefined {
    return this.groupMap.get(group);
  }

  static build(kbNames: Iterable<KbName>, mentions: readonly TrainingMention[], options: HybridIndexOptions = {}): HybridIndex {
    const normalizer = new Normalizer(options.language ?? "es");
    const kbCodes = new Set<string>();
    const draft = new Map<string, { entries: Map<string, HybridEntry>; display: Map<string, string> }>();
    const groupDraft = (g: string) => {
      let d = draft.get(g);
      if (d === undefined) draft.set(g, (d = { entries: new Map(), display: new Map() }));
      return d;
    };
    const expansions = new Map<string, Counts>();
    const makeEntry = (name: string, code: string, kb: boolean, ambiguity: number): HybridEntry => {
      const n = normalizer.normalize(name);
      const content = [...new Set(n.stems.filter((_, i) => !normalizer.isStopword(n.tokens[i] as string)))];
      return { name, folded: n.folded, stems: n.stems, content, key: n.key, numbers: numbersOf(n.tokens.join(" ")), code, kb, ambiguity };
    };
    for (const kn of kbNames) {
      const d = groupDraft(kn.group);
      const stripped = stripSemanticTag(kn.name);
      const acronym = trailingAcronym(kn.name);
      for (const code of kn.codes) {
        kbCodes.add(code);
        const e = makeEntry(stripped, code, true, kn.codes.length);
        if (e.folded === "") continue;
        d.entries.set(`${e.folded}\u0000${code}`, e);
        if (!d.display.has(code)) d.display.set(code, kn.name);
        if (acronym !== undefined) {
          const long = foldText(stripped.slice(0, stripped.lastIndexOf("(")));
          if (long !== "") bump(expansions, foldText(acronym), long);
        }
      }
    }
    const restrict = options.restrictToKb ?? true;
    const usable = mentions.filter((m) => !restrict || m.code.split("+").every((c) => kbCodes.has(c)));
    // Memory statistics and memory names.
    const memory = new Map<string, { memExact: Map<string, Counts>; memKey: Map<string, Counts>; codeCount: Counts; mentions: number; ctx: Map<string, Counts> }>();
    const contextDf = new Map<string, number>();
    const contextBags: { group: string; code: string; stems: string[] }[] = [];
    for (const m of usable) {
      const d = groupDraft(m.group);
      let mem = memory.get(m.group);
      if (mem === undefined) memory.set(m.group, (mem = { memExact: new Map(), memKey: new Map(), codeCount: new Map(), mentions: 0, ctx: new Map() }));
      const e = makeEntry(m.text, m.code, false, 1);
      if (e.folded === "") continue;
      const id = `${e.folded}\u0000${m.code}`;
      if (!d.entries.has(id)) d.entries.set(id, e);
      if (!d.display.has(m.code)) d.display.set(m.code, m.text);
      bump(mem.memExact, e.folded, m.code);
      bump(mem.memKey, e.key, m.code);
      mem.codeCount.set(m.code, (mem.codeCount.get(m.code) ?? 0) + 1);
      mem.mentions++;
      const stems = contextStems(normalizer, contextOfMarked(m.sentence));
      contextBags.push({ group: m.group, code: m.code, stems });
      for (const s of stems) contextDf.set(s, (contextDf.get(s) ?? 0) + 1);
    }
    // Acronyms seen in training whose code has a name that spells them out.
    const byCodeNames = new Map<string, string[]>();
    for (const d of draft.values()) for (const e of d.entries.values()) if (!looksLikeAcronym(e.name)) push(byCodeNames, e.code, e.folded);
    for (const m of usable) {
      if (!looksLikeAcronym(m.text)) continue;
      const long = (byCodeNames.get(m.code) ?? []).find((n) => acronymFits(m.text, n));
      if (long !== undefined) bump(expansions, foldText(m.text), long);
    }
    const contextIdf = new Map<string, number>();
    for (const [s, df] of contextDf) contextIdf.set(s, Math.log((1 + contextBags.length) / (1 + df)) + 1);
    const contextIds = new Map([...contextIdf.keys()].map((s, i) => [s, i]));
    for (const bag of contextBags) {
      const ctx = memory.get(bag.group)!.ctx;
      let c = ctx.get(bag.code);
      if (c === undefined) ctx.set(bag.code, (c = new Map()));
      for (const s of bag.stems) c.set(s, (c.get(s) ?? 0) + (contextIdf.get(s) ?? 0));
    }

    const allFolded = new Set<string>();
    for (const d of draft.values()) for (const e of d.entries.values()) allFolded.add(e.folded);
    const vectorizer = TfidfCharVectorizer.fit(allFolded, { n: 3 });
    const groups = new Map<string, GroupIndex>();
    for (const [group, d] of [...draft.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const entries = [...d.entries.values()];
      const byCode = new Map<string, number[]>();
      const kbRows = new Map<string, number[]>();
      const byFolded = new Map<string, number[]>();
      const byKey = new Map<string, number[]>();
      entries.forEach((e, i) => {
        push(byCode, e.code, i);
        if (e.kb) push(kbRows, e.code, i);
        push(byFolded, e.folded, i);
        if (e.key !== "") push(byKey, e.key, i);
      });
      const codes = [...byCode.keys()];
      const heads = new Map<string, number>();
      const codeId = new Map(codes.map((c, i) => [c, i]));
      const mem = memory.get(group);
      const contexts = new Map<string, SparseVector>();
      for (const [code, bag] of mem?.ctx ?? []) contexts.set(code, toSparse(l2(bag), contextIds));
      groups.set(group, {
        group,
        entries,
        byCode,
        kbRows,
        codes,
        codeOf: Int32Array.from(entries, (e) => codeId.get(e.code) as number),
        entryMemCount: Float64Array.from(entries, (e) => mem?.memExact.get(e.folded)?.get(e.code) ?? 0),
        entryKb: Uint8Array.from(entries, (e) => (e.kb ? 1 : 0)),
        entryContentLength: Float64Array.from(entries, (e) => e.content.length),
        entryHead: Int32Array.from(entries, (e) => {
          const h = headOf(e.content, normalizer.language !== "en");
          if (h === undefined) return -1;
          if (!heads.has(h)) heads.set(h, heads.size);
          return heads.get(h) as number;
        }),
        heads,
        codeId,
        byFolded,
        byKey,
        tfidf: new DotAccumulator(vectorizer.vocabularySize, entries.map((e) => vectorizer.transform(e.folded))),
        bm25: new Bm25Index(entries.map((e) => e.content)),
        memExact: mem?.memExact ?? new Map(),
        memKey: mem?.memKey ?? new Map(),
        codeCount: mem?.codeCount ?? new Map(),
        mentions: mem?.mentions ?? 0,
        contexts,
        display: d.display,
      });
    }
    const bestExpansion = new Map<string, string>();
    for (const [a, counts] of expansions) bestExpansion.set(a, topKey(counts));
    return new HybridIndex(normalizer, vectorizer, groups, bestExpansion, contextIdf, contextIds, learnAssociations(draft, usable, normalizer));
  }

  /** Normalised text, content stems and TF-IDF vector of a query text. */
  query(text: string): QueryText {
    const n = this.normalizer.normalize(text);
    const content = [...new Set(n.stems.filter((_, i) => !this.normalizer.isStopword(n.tokens[i] as string)))];
    return { n, content: content.length > 0 ? content : n.stems, vector: this.vectorizer.transform(n.folded) };
  }

  /** Content stems of a text as `query` gives them, without the TF-IDF vector (a tenth of a query's cost). */
  contentStems(text: string): string[] {
    const n = this.normalizer.normalize(text);
    const content = [...new Set(n.stems.filter((_, i) => !this.normalizer.isStopword(n.tokens[i] as string)))];
    return content.length > 0 ? content : [...n.stems];
  }

  /** The mention with each capitalised acronym token replaced by its learned expansion, when it has one. */
  expand(mention: string): string | undefined {
    let changed = false;
    const out = mention.split(/(\s+)/).map((tok) => {
      const bare = tok.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
      if (!looksLikeAcronym(bare)) return tok;
      const long = this.expansions.get(foldText(bare)) ?? (bare.endsWith("s") ? this.expansions.get(foldText(bare.slice(0, -1))) : undefined);
      if (long === undefined) return tok;
      changed = true;
      return tok.replace(bare, long);
    });
    return changed ? out.join("") : undefined;
  }

  /** Idf-weighted, L2-normalised bag of the context stems of a mention's context (src/data/mention-queries.ts). */
  contextVector(context: string): SparseVector {
    const bag = new Map<string, number>();
    for (const s of contextStems(this.normalizer, context)) if (this.contextIdf.has(s)) bag.set(s, this.contextIdf.get(s) as number);
    return toSparse(l2(bag), this.contextIds);
  }
}

/** The context of a stored training mention's marked sentence ("" when it has none or it does not parse). */
function contextOfMarked(sentence: string): string {
  if (sentence === "") return "";
  try {
    return mentionContext(parseMarkedSentence(sentence));
  } catch {
    return "";
  }
}

/** Content stems of the words around a mention (stop words, digits and one-letter tokens left out). */
export function contextStems(normalizer: Normalizer, context: string): string[] {
  const out = new Set<string>();
  for (const t of normalizer.tokens(context)) {
    if (t.length < 3 || /^\p{N}+$/u.test(t) || normalizer.isStopword(t)) continue;
    out.add(normalizer.stem(t));
  }
  return [...out];
}

function l2(bag: Map<string, number>): Map<string, number> {
  let s = 0;
  for (const v of bag.values()) s += v * v;
  if (s === 0) return bag;
  const norm = Math.sqrt(s);
  const out = new Map<string, number>();
  for (const [k, v] of bag) out.set(k, v / norm);
  return out;
}

function topKey(counts: Counts): string {
  let best = "";
  let n = -1;
  for (const [k, c] of counts) if (c > n || (c === n && k < best)) [best, n] = [k, c];
  return best;
}

/** The head word of a phrase's content stems: the first in Spanish and French, the last in English. */
export function headOf(content: readonly string[], headFirst: boolean): string | undefined {
  return headFirst ? content[0] : content[content.length - 1];
}

/** Pairs seen fewer times than this carry no association (one annotation is noise). */
const MIN_PAIR_COUNT = 2;

/**
 * Word associations between training mentions and the KB names of their gold code (`deambulacion` ~ `marcha`):
 * Dice coefficient 2 c(m, n) / (c(m) + c(n)) over training pairs, counting each stem once per pair.
 */
function learnAssociations(draft: ReadonlyMap<string, { entries: ReadonlyMap<string, HybridEntry> }>, mentions: readonly TrainingMention[], normalizer: Normalizer): Map<string, Map<string, number>> {
  const nameStems = new Map<string, Set<string>>();
  for (const [group, d] of draft) {
    for (const e of d.entries.values()) {
      if (!e.kb) continue;
      const key = `${group}\u0000${e.code}`;
      let set = nameStems.get(key);
      if (set === undefined) nameStems.set(key, (set = new Set()));
      for (const st of e.content) set.add(st);
    }
  }
  const pair = new Map<string, number>();
  const left = new Map<string, number>();
  const right = new Map<string, number>();
  for (const m of mentions) {
    const names = nameStems.get(`${m.group}\u0000${m.code}`);
    if (names === undefined) continue;
    const n = normalizer.normalize(m.text);
    const stems = new Set(n.stems.filter((_, i) => !normalizer.isStopword(n.tokens[i] as string)));
    for (const a of stems) left.set(a, (left.get(a) ?? 0) + 1);
    for (const b of names) right.set(b, (right.get(b) ?? 0) + 1);
    for (const a of stems) for (const b of names) if (a !== b) pair.set(`${a}\u0000${b}`, (pair.get(`${a}\u0000${b}`) ?? 0) + 1);
  }
  const out = new Map<string, Map<string, number>>();
  for (const [k, c] of pair) {
    if (c < MIN_PAIR_COUNT) continue;
    const [a, b] = k.split("\u0000") as [string, string];
    let inner = out.get(b);
    if (inner === undefined) out.set(b, (inner = new Map()));
    inner.set(a, (2 * c) / ((left.get(a) ?? 0) + (right.get(b) ?? 0)));
  }
  return out;
}

/** A bag as a sparse vector over stem ids (stems without an id are dropped). */
function toSparse(bag: ReadonlyMap<string, number>, ids: ReadonlyMap<string, number>): SparseVector {
  const pairs: [number, number][] = [];
  for (const [k, v] of bag) {
    const id = ids.get(k);
    if (id !== undefined) pairs.push([id, v]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  return { indices: Int32Array.from(pairs, (p) => p[0]), values: Float64Array.from(pairs, (p) => p[1]) };
}

/** The numbers of a folded text, sorted and joined by spaces. */
export function numbersOf(folded: string): string {
  return (folded.match(/\p{N}+/gu) ?? []).sort().join(" ");
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
