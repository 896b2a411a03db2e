/**
 * The marked sentence of a mention (conventions, section 1): the document text is cleaned, split into
 * sentences (src/markup/segment.ts: line breaks end sentences), the sentence(s) covering the mention are
 * taken together (a mention is never split across sentences), and the markup `[...]{GROUP}` is inserted
 * at the mention's offsets.
 */
import { SyncabelError } from "../errors.js";
import { cleanText } from "./clean.js";
import { markSentence, type Span } from "./marked-sentence.js";
import { segmentSentences, segmentSentencesAsync } from "./segment.js";

/** What the builder needs of a document and a mention (the src/data model satisfies it). */
export interface SentenceSource {
  readonly id: string;
  readonly text: string;
  readonly language?: string;
}
export interface MentionOffsets {
  readonly label: string;
  readonly fragments: readonly Span[];
}

export interface BuiltSentence {
  /** The marked sentence, e.g. `El paciente con [embolia]{ENFERMEDAD} ...`. */
  readonly sentence: string;
  /** The sentence's [start, end) in the document text. */
  readonly start: number;
  readonly end: number;
  /** The cleaned mention text (fragments joined by one space). */
  readonly mention: string;
  /** The sentence without markup (cleaned document text) and the mention's fragments in it. */
  readonly plain: string;
  readonly fragments: readonly Span[];
}

export interface BuildOptions {
  /** Segmentation language; default the document's, else "es". */
  readonly language?: string;
  readonly cache?: SegmentationCache;
}

interface Segmented {
  readonly cleaned: string;
  readonly sentences: readonly Span[];
}

/** Segmentations made ahead of time (`prepareSegmentation`), for the document object they were made for. */
const prepared = new WeakMap<SentenceSource, { text: string; language: string; value: Segmented }>();

/**
 * Segment a document without holding the event loop (a server's long document: `/health` and other requests keep
 * being answered), for the marked sentences built next from this same document object.
 */
export async function prepareSegmentation(doc: SentenceSource, language = doc.language ?? "es"): Promise<void> {
  const cleaned = cleanText(doc.text);
  prepared.set(doc, { text: doc.text, language, value: { cleaned, sentences: await segmentSentencesAsync(cleaned, language) } });
}

/** Cleaned text + sentences per document, so a document with many mentions is segmented once. */
export class SegmentationCache {
  private readonly entries = new Map<string, { text: string; language: string; value: Segmented }>();
  constructor(private readonly maxDocuments = 64) {}

  get(doc: SentenceSource, language: string): Segmented {
    const ready = prepared.get(doc);
    if (ready !== undefined && ready.text === doc.text && ready.language === language) return ready.value;
    const hit = this.entries.get(doc.id);
    if (hit !== undefined && hit.text === doc.text && hit.language === language) return hit.value;
    const cleaned = cleanText(doc.text);
    const value = { cleaned, sentences: segmentSentences(cleaned, language) };
    if (this.entries.size >= this.maxDocuments) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(doc.id, { text: doc.text, language, value });
    return value;
  }
}

const defaultCache = new SegmentationCache();

/** Index of the first sentence whose end is past `offset` (sentences sorted and disjoint). */
function firstEndingAfter(sentences: readonly Span[], offset: number): number {
  let lo = 0;
  let hi = sentences.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sentences[mid] as Span).end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function buildMarkedSentence(doc: SentenceSource, mention: MentionOffsets, options: BuildOptions = {}): BuiltSentence {
  const language = options.language ?? doc.language ?? "es";
  const { cleaned, sentences } = (options.cache ?? defaultCache).get(doc, language);
  const frags = mention.fragments;
  const first = frags[0];
  const last = frags[frags.length - 1];
  if (first === undefined || last === undefined || first.start < 0 || last.end > cleaned.length || first.start >= last.end) {
    throw new SyncabelError("MARKUP_BAD_OFFSETS", `mention offsets ${frags.map((f) => `${f.start}-${f.end}`).join(",") || "(none)"} do not fit document ${doc.id} (${cleaned.length} characters)`, {
      document: doc.id,
    });
  }
  // Union of every sentence that overlaps the mention; a mention between sentences takes its own span.
  // Sentences are sorted and disjoint: the first that ends after the mention's start is found by bisection.
  let start = first.start;
  let end = last.end;
  for (let k = firstEndingAfter(sentences, first.start); k < sentences.length; k++) {
    const s = sentences[k] as Span;
    if (s.start >= last.end) break;
    start = Math.min(start, s.start);
    end = Math.max(end, s.end);
  }
  const plain = cleaned.slice(start, end);
  const local = frags.map((f) => ({ start: f.start - start, end: f.end - start }));
  return {
    sentence: markSentence(plain, local, mention.label),
    start,
    end,
    mention: frags.map((f) => cleaned.slice(f.start, f.end)).join(" "),
    plain,
    fragments: local,
  };
}
