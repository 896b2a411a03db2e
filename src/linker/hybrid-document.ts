/**
 * Document-level evidence of the hybrid linker ("one sense per discourse"): the other mentions of a mention's
 * document, each looked up exactly (training memory, KB name, word-order-free key), give the codes the document
 * is about. A candidate code named by other mentions of the document is more likely; a mention that is a shorter
 * form of another mention (`the tumor` after `breast tumor`, `ALF` after `acute liver failure`, with no
 * parenthesised definition) most likely means that mention's concept, which also makes the code a candidate.
 * Only map look-ups: no reranker is needed, so training (out of fold) and linking compute the same thing.
 */
import type { GroupIndex, HybridIndex, QueryText } from "./hybrid-index.js";

/** One distinct text among a document's mentions, with the codes its exact look-ups give. */
export interface DocumentEntry {
  readonly folded: string;
  /** Word-order-free stem key: a mention with the same key is the same text, not other evidence. */
  readonly key: string;
  readonly content: ReadonlySet<string>;
  /** Code ids in the group. */
  readonly codes: readonly number[];
}

/** Document evidence for one query: per code id, how many other texts name it and whether one contains the query. */
export interface DocumentEvidence {
  readonly support: ReadonlyMap<number, number>;
  readonly contained: ReadonlySet<number>;
}

/** Only mentions of at most this many content words are read as a shorter form of a longer one (`the tumor`). */
const SHORT_MENTION = 2;
/** A look-up naming more codes than this is ambiguous and gives no evidence. */
const MAX_CODES_PER_TEXT = 3;
/** The memory's answer for a text counts when at least this share of its training mentions agree. */
const MIN_MEMORY_CONSISTENCY = 0.5;

/** A document's distinct mention texts, normalised once; and its entries per group, built once for all its mentions. */
interface DocumentCache {
  readonly texts: readonly { readonly folded: string; readonly key: string; readonly content: readonly string[] }[];
  readonly byGroup: Map<string, readonly DocumentEntry[]>;
}

const documentCache = new WeakMap<readonly string[], DocumentCache>();

/** The distinct mention texts of a document with the codes their exact look-ups give in a group. */
export function documentEntries(index: HybridIndex, g: GroupIndex, texts: readonly string[]): readonly DocumentEntry[] {
  let cache = documentCache.get(texts);
  if (cache === undefined) {
    const seen = new Set<string>();
    const parsed: DocumentCache["texts"][number][] = [];
    for (const text of texts) {
      const n = index.normalizer.normalize(text);
      if (n.folded === "" || seen.has(n.folded)) continue;
      seen.add(n.folded);
      const content = n.stems.filter((_, i) => !index.normalizer.isStopword(n.tokens[i] as string));
      parsed.push({ folded: n.folded, key: n.key, content: content.length > 0 ? content : n.stems });
    }
    documentCache.set(texts, (cache = { texts: parsed, byGroup: new Map() }));
  }
  const cached = cache.byGroup.get(g.group);
  if (cached !== undefined) return cached;
  const out: DocumentEntry[] = [];
  for (const t of cache.texts) {
    const codes = exactCodes(g, t.folded, t.key);
    if (codes.length > 0) out.push({ folded: t.folded, key: t.key, content: new Set(t.content), codes });
  }
  cache.byGroup.set(g.group, out);
  return out;
}

/** Codes of a text by exact look-up: the memory's consistent answer, else KB names, else the stem key. */
function exactCodes(g: GroupIndex, folded: string, key: string): number[] {
  const out = new Set<number>();
  const mem = g.memExact.get(folded);
  if (mem !== undefined) {
    let total = 0;
    for (const n of mem.values()) total += n;
    for (const [code, n] of mem) {
      const c = g.codeId.get(code);
      if (c !== undefined && n / total >= MIN_MEMORY_CONSISTENCY) out.add(c);
    }
  }
  if (out.size === 0) for (const r of g.byFolded.get(folded) ?? []) if (g.entryKb[r] === 1) out.add(g.codeOf[r] as number);
  if (out.size === 0 && key !== "") for (const r of g.byKey.get(key) ?? []) out.add(g.codeOf[r] as number);
  return out.size > MAX_CODES_PER_TEXT ? [] : [...out];
}

/**
 * Whether a short form's letters spell a longer text: same first letter, every letter in order (looser than
 * acronymFits: `PG` -> `prostaglandin`, one word, is allowed, as the text is a mention of the same document).
 */
export function spellsOut(short: string, longFolded: string): boolean {
  const a = short.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (a.length < 2 || longFolded.length <= a.length || longFolded[0] !== a[0]) return false;
  let j = 0;
  for (const ch of longFolded) if (ch === a[j]) j++;
  return j >= a.length;
}

/** The evidence the document's other mentions give a query (texts equal to the query's, or with its key, are left out). */
export function documentEvidence(entries: readonly DocumentEntry[], base: QueryText, acronym: string | undefined): DocumentEvidence {
  const support = new Map<number, number>();
  const contained = new Set<number>();
  for (const e of entries) {
    if (e.folded === base.n.folded || (e.key !== "" && e.key === base.n.key)) continue;
    for (const c of e.codes) support.set(c, (support.get(c) ?? 0) + 1);
    let contains = base.content.length > 0 && base.content.length <= SHORT_MENTION && e.content.size > base.content.length && base.content.every((s) => e.content.has(s));
    if (!contains && acronym !== undefined) contains = spellsOut(acronym, e.folded);
    if (contains) for (const c of e.codes) contained.add(c);
  }
  return { support, contained };
}
