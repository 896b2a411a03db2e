import { SyncabelError } from "../errors.js";
import type { MarkedSentence } from "./marked-sentence.js";

import { SEP_TOKEN } from "../constants.js";
export { SEP_TOKEN };

/** The languages of the published checkpoints: each has its prompt verb. */
export type PromptLanguage = "es" | "fr" | "en";

/** The copula that ends the prompt and roots every trie (conventions, section 2). */
export const VERB_BY_LANGUAGE: Readonly<Record<PromptLanguage, string>> = { es: "es", fr: "est", en: "is" };

export function isPromptLanguage(value: string): value is PromptLanguage {
  return Object.hasOwn(VERB_BY_LANGUAGE, value);
}

export function verbFor(language: string, override?: string): string {
  if (override !== undefined && override !== "") return override;
  const verb = isPromptLanguage(language) ? VERB_BY_LANGUAGE[language] : undefined;
  if (verb === undefined) {
    throw new SyncabelError("LINKER_INVALID_OPTIONS", `no verb known for language ${JSON.stringify(language)}: use es, fr or en, or give the verb`, { language });
  }
  return verb;
}

/** `{marked sentence}<SEP>[{mention}] {verb}` — no chat template. */
export function buildPrompt(sentence: Pick<MarkedSentence, "marked" | "mention">, verb: string): string {
  return `${sentence.marked}${SEP_TOKEN}[${sentence.mention}] ${verb}`;
}

/** The training completion for one or several (composite) target names, without the EOS token. */
export function buildCompletionText(names: readonly string[]): string {
  return names.map((n) => ` ${n}`).join(SEP_TOKEN);
}
