import { SyncabelError } from "../errors.js";
import type { TextTokenizer } from "../lm/types.js";
import { buildPrompt, type MarkedSentence } from "../markup/index.js";

/**
 * Token ids of a mention's prompt (`{sentence}<SEP>[{mention}] {verb}`, the checkpoint's special-token rules),
 * refused with SENTENCE_TOO_LONG beyond `maxPromptTokens`: the whole prompt goes through the model at once.
 */
export function promptTokens(tokenizer: TextTokenizer, sentence: MarkedSentence, verb: string, maxPromptTokens: number): number[] {
  return checkPromptLength(tokenizer.encode(buildPrompt(sentence, verb), { addSpecialTokens: true }), maxPromptTokens);
}

/** `tokens`, or SENTENCE_TOO_LONG when there are more than `maxPromptTokens` (`what`: the prompt, the source...). */
export function checkPromptLength(tokens: number[], maxPromptTokens: number, what = "the prompt"): number[] {
  if (tokens.length > maxPromptTokens) {
    throw new SyncabelError("SENTENCE_TOO_LONG", `${what} has ${tokens.length} tokens, more than max_prompt_tokens ${maxPromptTokens}: give one sentence around the mention`, {
      tokens: tokens.length,
      max_prompt_tokens: maxPromptTokens,
    });
  }
  return tokens;
}
