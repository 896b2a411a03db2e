import { buildCompletionText, buildPrompt } from "../markup/prompt.js";
import type { KnowledgeBase } from "../kb/types.js";
import { candidateNames, type TargetNameSelector } from "./target-name.js";

/** One fine-tuning example (TRL prompt-completion format). */
export interface SftPair {
  readonly prompt: string;
  readonly completion: string;
}

/** A mention to turn into a pair: its marked sentence, mention text, group and gold codes. */
export interface TrainingMention {
  readonly marked: string;
  readonly mention: string;
  readonly group: string;
  readonly codes: readonly string[];
}

export type SkipReason = "no_code" | "code_not_in_kb";
export type Outcome<P> = { readonly pair: P } | { readonly skipped: SkipReason };
export type PairOutcome = Outcome<SftPair>;

/** The target name of each gold code (the KB name closest to the mention), or why the mention is skipped. */
export function targetNames(m: TrainingMention, kb: KnowledgeBase, selector: TargetNameSelector): { readonly names: string[] } | { readonly skipped: SkipReason } {
  if (m.codes.length === 0) return { skipped: "no_code" };
  const names: string[] = [];
  for (const code of m.codes) {
    const best = selector.select(m.mention, candidateNames(kb, code, m.group));
    if (best === undefined) return { skipped: "code_not_in_kb" };
    names.push(best.name);
  }
  return { names };
}

/**
 * `{marked}<SEP>[{mention}] {verb}` -> ` {name}` (composite codes: names joined with `<SEP>`).
 * The tokenizer's EOS is appended by the trainer (TRL appends eos_token to completions), or by `eos`.
 */
export function buildSftPair(m: TrainingMention, kb: KnowledgeBase, selector: TargetNameSelector, verb: string, eos = ""): PairOutcome {
  const t = targetNames(m, kb, selector);
  if ("skipped" in t) return t;
  return { pair: { prompt: buildPrompt({ marked: m.marked, mention: m.mention }, verb), completion: buildCompletionText(t.names) + eos } };
}
