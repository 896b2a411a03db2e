/**
 * The marked sentence of a mention (conventions, section 1): the document text is cleaned, split into
 * sentences (src/markup/segment.ts: line breaks end sentences), the sentence(s) covering the mention are
 * taken together (a mention is never split across sentences), and the markup `[...]{GROUP}` is inserted
 * at the mention's offsets.
 */
import { SyncabelError } from "../errors.js";
import { cleanText } from "./clean.js";
import { markSentence, type Span } from "./marked-sentence.js";
import { segmentSentences } from "./segment.js";

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

/** Cleaned text + sentences per document, so a document with many mentions is segmented once. */
export class SegmentationCache {
  private readonly entries = new Map<string, { text: string; language: string; value: Segmented }>();
  constructor(private readonly maxDocuments = 64) {}

  get(doc: SentenceSource, language: string): Segmented {
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
  let start = first.start;
  let end = last.end;
  for (const s of sentences) {
    if (s.end <= first.start) continue;
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
