/**
 * The mention model: what every Linker takes as input (`Linker.link`). A query is one mention in its sentence (the
 * marked sentence and its parts, as `parseMarkedSentence` reads it) plus what its document says about it: the long
 * form of a short form the document defines, and the texts of the document's other mentions. `documentQueries(doc)`
 * is the one place a document's mentions become queries: `link-docs`, the server's document endpoint and the page
 * all go through it, so they answer alike. Marked-sentence strings become queries only where they enter
 * (`queryOfSentence`: `sample()`, `syncabel link`, `POST /v1/link`).
 */
import { SyncabelError, asSyncabelError, type ErrorJson } from "../errors.js";
import { abbreviationMap, expansionOf } from "../lexical/abbreviations.js";
import { markedSentenceOf, parseMarkedSentence, type MarkedSentence } from "../markup/marked-sentence.js";
import { buildMarkedSentence, SegmentationCache } from "../markup/sentence-builder.js";
import type { Document, Mention } from "./types.js";

/** One mention to link. */
export interface MentionQuery extends MarkedSentence {
  /** The long form when the mention is a short form defined in its document ("BHA" -> "butylated hydroxyanisole"). */
  readonly expansion?: string;
  /**
   * The texts of every mention of the mention's document, one array shared by the queries of a document (linkers
   * that read it look it up once per document).
   */
  readonly documentMentions?: readonly string[];
}

/** A document mention with its query, or why none could be built (offsets that do not fit the text, ...). */
export interface DocumentMentionQuery {
  readonly mention: Mention;
  /** The marked sentence as built from the document (written to prediction files); undefined with `error`. */
  readonly sentence?: string;
  readonly query?: MentionQuery;
  readonly error?: ErrorJson;
}

export interface DocumentQueryOptions {
  /** Segmentation language when the document has none (default "es"). */
  readonly language?: string;
  /** Segment each document once for all its mentions (give one cache to a run over many documents). */
  readonly cache?: SegmentationCache;
}

/** The query of every mention of a document, in mention order. */
export function documentQueries(doc: Document, options: DocumentQueryOptions = {}): DocumentMentionQuery[] {
  const language = doc.language ?? options.language ?? "es";
  const cache = options.cache ?? new SegmentationCache(1);
  const abbreviations = abbreviationMap(doc.text);
  const documentMentions = documentMentionTexts(doc);
  return doc.mentions.map((mention): DocumentMentionQuery => {
    let sentence: string | undefined;
    try {
      const built = buildMarkedSentence(doc, mention, { language, cache });
      sentence = built.sentence;
      const expansion = expansionOf(abbreviations, mention.text);
      const query: MentionQuery = { ...markedSentenceOf(built.plain, built.fragments, mention.label), documentMentions, ...(expansion === undefined ? {} : { expansion }) };
      return { mention, sentence, query };
    } catch (e) {
      return { mention, ...(sentence === undefined ? {} : { sentence }), error: asSyncabelError(e, "MARKUP_BAD_OFFSETS").toJSON() };
    }
  });
}

/** A document's `documentMentions`: the text of every mention, in mention order (coded or not). */
export function documentMentionTexts(doc: Pick<Document, "mentions">): string[] {
  return doc.mentions.map((m) => m.text);
}

/** A marked sentence (`... [mention]{GROUP} ...`) as a query without document context; throws MARKUP_* errors. */
export function queryOfSentence(sentence: string): MentionQuery {
  return parseMarkedSentence(sentence);
}

/** The sentence around the mention: its text before the first fragment and after the last. */
export function mentionContext(query: Pick<MentionQuery, "plain" | "fragments">): string {
  const first = query.fragments[0];
  const last = query.fragments[query.fragments.length - 1];
  return first === undefined || last === undefined ? query.plain : `${query.plain.slice(0, first.start)} ${query.plain.slice(last.end)}`;
}

/** The error for a query whose group the linker does not know (the parser's wording, so both paths read alike). */
export function requireKnownGroup(query: Pick<MentionQuery, "group" | "marked">, known: ReadonlySet<string> | readonly string[]): void {
  const has = known instanceof Set ? known.has(query.group) : (known as readonly string[]).includes(query.group);
  if (has) return;
  const sentence = query.marked.length > 200 ? `${query.marked.slice(0, 197)}...` : query.marked;
  throw new SyncabelError("MARKUP_UNKNOWN_GROUP", `unknown group ${JSON.stringify(query.group)} (known: ${[...known].sort().join(", ")}) in sentence: ${JSON.stringify(sentence)}`, {
    sentence,
    group: query.group,
  });
}
