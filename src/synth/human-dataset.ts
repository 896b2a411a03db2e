import type { Dataset, Mention } from "../data/types.js";
import { asSyncabelError } from "../errors.js";
import { SegmentationCache, buildMarkedSentence } from "../markup/sentence-builder.js";
import type { HumanExampleInput } from "./human-examples.js";

/** One human mention with its marked sentence. */
export interface MarkedHumanMention {
  readonly documentId: string;
  readonly mention: Mention;
  /** `...[mention]{GROUP}...` */
  readonly marked: string;
  /** The cleaned mention text as in the prompt's `[{mention}]`. */
  readonly mentionText: string;
}

export interface MarkedHumanMentions {
  readonly items: MarkedHumanMention[];
  /** Mentions whose sentence could not be built, with why (the batch goes on without them). */
  readonly problems: { readonly documentId: string; readonly mentionId: string; readonly message: string }[];
}

/** Marked sentences of every mention of a dataset (conventions, section 1). */
export function markHumanMentions(dataset: Dataset, language: string): MarkedHumanMentions {
  const cache = new SegmentationCache(4);
  const items: MarkedHumanMention[] = [];
  const problems: MarkedHumanMentions["problems"] = [];
  for (const doc of dataset.documents) {
    for (const mention of doc.mentions) {
      try {
        const built = buildMarkedSentence(doc, mention, { language: doc.language ?? language, cache });
        items.push({ documentId: doc.id, mention, marked: built.sentence, mentionText: built.mention });
      } catch (e) {
        problems.push({ documentId: doc.id, mentionId: mention.id, message: asSyncabelError(e).message });
      }
    }
  }
  return { items, problems };
}

/** Style-example view: the mention in `[brackets]` without the `{GROUP}` the LLM is not asked to write. */
export function asStyleExample(item: MarkedHumanMention): HumanExampleInput {
  const tag = `]{${item.mention.label}}`;
  const at = item.marked.lastIndexOf(tag);
  const sentence = at < 0 ? item.marked : item.marked.slice(0, at + 1) + item.marked.slice(at + tag.length);
  return { sentence, group: item.mention.label, mention: item.mentionText, codes: item.mention.codes };
}
