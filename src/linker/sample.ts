/**
 * `sample(sentences, options)`, the authors' API, for every linker: marked-sentence strings are parsed into
 * queries here (where they enter), the parsable ones linked with `Linker.link`, and each result carries its input
 * sentence; a sentence that cannot be parsed gets its own error.
 */
import { queryOfSentence, type MentionQuery } from "../data/mention-queries.js";
import { errorResult } from "./sentence-results.js";
import { linkOptionsOf, type Linker, type LinkResult, type SampleOptions, type SampleResult } from "./types.js";

export async function sampleSentences(linker: Pick<Linker, "link">, sentences: readonly string[], options: SampleOptions = {}): Promise<SampleResult[]> {
  const results: SampleResult[] = new Array(sentences.length);
  const queries: MentionQuery[] = [];
  const at: number[] = [];
  sentences.forEach((sentence, i) => {
    try {
      queries.push(queryOfSentence(sentence));
      at.push(i);
    } catch (e) {
      results[i] = errorResult(sentence, e);
      options.onSentenceDone?.();
    }
  });
  // Called even with no query left: the linker checks the options and rejects bad ones.
  const linked = await linker.link(queries, linkOptionsOf(options));
  at.forEach((i, k) => (results[i] = { sentence: sentences[i] as string, ...(linked[k] as LinkResult) }));
  return results;
}
