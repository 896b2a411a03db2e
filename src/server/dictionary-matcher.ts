/**
 * Dictionary matching of KB names in a text, for mention suggestions: a word-level trie of every (lower-cased, NFC)
 * name, scanned leftmost-longest at word boundaries, so "tos seca" wins over "tos" and matches never overlap.
 * Work per text is (words x longest name in words); building is one pass over the KB's names.
 */
import type { KnowledgeBase } from "../kb/types.js";

interface Node {
  readonly next: Map<string, Node>;
  /** (group, code) of the names ending here, first seen first. */
  hits?: { group: string; code: string; name: string }[];
}

export interface DictionaryMatch {
  /** [start, end) in the text (UTF-16 offsets). */
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** Every KB (group, code, name) with this name; the first is the suggestion. */
  readonly entries: readonly { readonly group: string; readonly code: string; readonly name: string }[];
}

interface Word {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

// Letters with their combining marks (decomposed accents), digits.
const WORD = /[\p{L}\p{M}\p{N}]+/gu;

/**
 * Words with offsets into `text` as given. Each word's key is the separator before it (runs of white space as one
 * space; none for the first word) and the word, in NFC lower case: "embolia, pulmonar" is not "embolia pulmonar",
 * "covid-19" matches "COVID-19".
 */
function words(text: string): Word[] {
  const out: Word[] = [];
  let prevEnd = -1;
  for (const m of text.matchAll(WORD)) {
    const sep = prevEnd < 0 ? "" : text.slice(prevEnd, m.index).replace(/\s+/g, " ");
    out.push({ text: `${sep}${m[0]}`.normalize("NFC").toLowerCase(), start: m.index, end: m.index + m[0].length });
    prevEnd = m.index + m[0].length;
  }
  return out;
}

export interface DictionaryMatcherOptions {
  /** Names shorter than this (in characters) are left out: they match everywhere (default 3). */
  readonly minNameChars?: number;
  /** Entries kept per name (default 5). */
  readonly maxEntriesPerName?: number;
}

export class DictionaryMatcher {
  private readonly root: Node = { next: new Map() };
  private names = 0;

  /** Every name of every group of the KB. */
  static fromKnowledgeBase(kb: KnowledgeBase, options: DictionaryMatcherOptions = {}): DictionaryMatcher {
    const m = new DictionaryMatcher(options);
    for (const group of kb.groups()) for (const e of kb.entriesOfGroup(group)) m.add(e.name, group, e.code);
    return m;
  }

  constructor(private readonly options: DictionaryMatcherOptions = {}) {}

  get size(): number {
    return this.names;
  }

  add(name: string, group: string, code: string): void {
    if (name.trim().length < (this.options.minNameChars ?? 3)) return;
    const ws = words(name);
    if (ws.length === 0) return;
    let node = this.root;
    for (const w of ws) {
      let child = node.next.get(w.text);
      if (child === undefined) {
        child = { next: new Map() };
        node.next.set(w.text, child);
      }
      node = child;
    }
    node.hits ??= [];
    if (node.hits.length < (this.options.maxEntriesPerName ?? 5)) node.hits.push({ group, code, name });
    this.names++;
  }

  /** Leftmost-longest, non-overlapping matches, in text order. Offsets refer to `text` as given. */
  match(text: string): DictionaryMatch[] {
    const ws = words(text);
    const out: DictionaryMatch[] = [];
    let i = 0;
    while (i < ws.length) {
      let node: Node | undefined = this.root;
      let best: { end: number; hits: NonNullable<Node["hits"]> } | undefined;
      for (let j = i; j < ws.length && node !== undefined; j++) {
        // A match starts at word i whatever came before it.
        node = node.next.get(j === i ? bare(text, ws[j]) : ws[j].text);
        if (node?.hits !== undefined) best = { end: j, hits: node.hits };
      }
      if (best === undefined) {
        i++;
        continue;
      }
      const start = ws[i].start;
      const end = ws[best.end].end;
      out.push({ start, end, text: text.slice(start, end), entries: best.hits });
      i = best.end + 1;
    }
    return out;
  }
}

/** A word's key without its separator. */
function bare(text: string, w: Word): string {
  return text.slice(w.start, w.end).normalize("NFC").toLowerCase();
}
