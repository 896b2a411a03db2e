import { SyncabelError } from "../errors.js";
import type { TextTokenizer } from "../lm/types.js";
import { buildPrompt, type MarkedSentence } from "../markup/index.js";

/**
 * Token ids of a mention's prompt (`{sentence}<SEP>[{mention}] {verb}`, the checkpoint's special-token rules),
 * refused with SENTENCE_TOO_LONG beyond `maxPromptTokens`: the whole prompt goes through the model at once.
 */
export function promptTokens(tokenizer: TextTokenizer, sentence: MarkedSentence, verb: string, maxPromptTokens: number): number[] {
  const prompt = tokenizer.encode(buildPrompt(sentence, verb), { addSpecialTokens: true });
  if (prompt.length > maxPromptTokens) {
    throw new SyncabelError("SENTENCE_TOO_LONG", `the prompt has ${prompt.length} tokens, more than max_prompt_tokens ${maxPromptTokens}: give one sentence around the mention`, {
      tokens: prompt.length,
      max_prompt_tokens: maxPromptTokens,
    });
  }
  return prompt;
}
