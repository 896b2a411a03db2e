/**
 * Which linker answers, in words, for `link` (stderr), `serve` and the page (`/v1/info`): the hybrid linker says
 * what it was trained on; the TF-IDF linker says whether the KB holds a trained linker it could use instead.
 */
import type { KnowledgeBase } from "../kb/types.js";
import { readHybridModel } from "./hybrid-linker.js";

export function describeLinker(kind: string, kb: KnowledgeBase | undefined, model?: string): string {
  let stored: ReturnType<typeof readHybridModel>;
  try {
    stored = kb === undefined ? undefined : readHybridModel(kb);
  } catch {
    stored = undefined; // an unreadable model is reported by the commands that need it
  }
  if (kind === "hybrid") {
    return stored === undefined
      ? "hybrid linker"
      : `hybrid linker trained on ${stored.training.mentions} mentions of ${stored.training.documents} documents (stored in the KB index)`;
  }
  if (kind === "tfidf") {
    return stored === undefined
      ? "TF-IDF linker (the KB index holds no trained linker: 'syncabel train-linker' trains the hybrid one)"
      : "TF-IDF linker (asked for; the KB index also holds a trained hybrid linker)";
  }
  return model === undefined ? `${kind} linker` : `${kind} linker (model ${model})`;
}
