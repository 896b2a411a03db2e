/**
 * `sample(sentences, options)`, the authors' API, for every linker: marked-sentence strings are parsed into
 * queries here (where they enter), the parsable ones linked with `Linker.link`, and each result carries its input
 * sentence; a sentence that cannot be parsed gets its own error.
 */
import { queryOfSentence, type MentionQuery } from "../data/mention-queries.js";
import { asSyncabelError, type ErrorJson } from "../errors.js";
import { linkOptionsOf, type Linker, type LinkResult, type SampleOptions, type SampleResult } from "./types.js";

export async function sampleSentences(linker: Pick<Linker, "link">, sentences: readonly string[], options: SampleOptions = {}): Promise<SampleResult[]> {
  const results: SampleResult[] = new Array(sentences.length);
  const { queries, at } = queriesOfSentences(sentences, (i, error) => {
    results[i] = { sentence: sentences[i] as string, error };
    options.onSentenceDone?.();
  });
  // Called even with no query left: the linker checks the options and rejects bad ones.
  const linked = await linker.link(queries, linkOptionsOf(options));
  at.forEach((i, k) => (results[i] = { sentence: sentences[i] as string, ...(linked[k] as LinkResult) }));
  return results;
}

/** The queries of the sentences that parse and their indices; `failed` gets each other one's index and error. */
export function queriesOfSentences(sentences: readonly string[], failed: (index: number, error: ErrorJson) => void): { queries: MentionQuery[]; at: number[] } {
  const queries: MentionQuery[] = [];
  const at: number[] = [];
  sentences.forEach((sentence, i) => {
    try {
      queries.push(queryOfSentence(sentence));
      at.push(i);
    } catch (e) {
      failed(i, asSyncabelError(e, "MARKUP_NO_BRACKETS").toJSON());
    }
  });
  return { queries, at };
}
