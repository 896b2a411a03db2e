/**
 * Independent expectations for decoding tests on real (tiny) models: the reference forward pass (pure TypeScript)
 * driven by the restatement of transformers' generate, constrained by a prefix_allowed_tokens_fn written from the
 * names (not the search's constraint units).
 */
import { expect } from "vitest";
import type { BeamSearchOutput } from "../../src/decode/beam-search.js";
import { referenceSearch, type ReferenceHypothesis, type ReferenceSearchOptions } from "../../src/testing/reference-beam-search.js";
import type { ReferenceLlama } from "../../src/testing/reference-llama.js";

/**
 * GENRE-style prefix_allowed_tokens_fn over generated tokens: one of `names` (token ids after the verb), or with
 * `sep` several joined by it, then EOS; after EOS only EOS.
 */
export function namesPrefixFn(names: readonly (readonly number[])[], eos: number, sep?: number): (generated: readonly number[]) => number[] {
  return (generated) => {
    if (generated.length > 0 && generated[generated.length - 1] === eos) return [eos];
    const answer = generated.slice(sep === undefined ? 0 : generated.lastIndexOf(sep) + 1);
    const out = new Set<number>();
    for (const name of names) {
      if (!answer.every((t, i) => name[i] === t)) continue;
      if (name.length > answer.length) out.add(name[answer.length]);
      else if (name.length === answer.length) {
        out.add(eos);
        if (sep !== undefined) out.add(sep);
      }
    }
    return [...out];
  };
}

/** The reference forward's log-probability row after `prompt` + generated tokens, memoised per prompt. */
export type ReferenceRows = (generated: readonly number[]) => Float32Array;

const rowCaches = new WeakMap<ReferenceLlama, Map<string, Float32Array>>();

export function referenceRows(ref: ReferenceLlama, prompt: readonly number[]): ReferenceRows {
  if (!rowCaches.has(ref)) rowCaches.set(ref, new Map());
  const memo = rowCaches.get(ref)!;
  return (generated) => {
    const seq = [...prompt, ...generated];
    const key = seq.join(",");
    let row = memo.get(key);
    if (row === undefined) {
      row = ref.logProbs(seq, { from: seq.length - 1 })[0];
      memo.set(key, row);
    }
    return row;
  };
}

/** sum(log p) / length of `tokens` after the prompt, by the reference forward. */
export function referenceScore(rows: ReferenceRows, tokens: readonly number[]): number {
  return tokens.reduce((s, t, i) => s + rows(tokens.slice(0, i))[t], 0) / tokens.length;
}

/** Reference hypotheses (filler beams dropped) for one prompt. */
export function referenceHypotheses(ref: ReferenceLlama, prompt: readonly number[], options: ReferenceSearchOptions): ReferenceHypothesis[] {
  return referenceSearch(referenceRows(ref, prompt), ref.config.vocabSize, options).filter((h) => !h.filler);
}

/**
 * A search output equals the reference's hypotheses: same token sequences (end token included) in the same order,
 * scores within `tolerance`; two hypotheses whose reference scores lie within float noise (ONNX vs the reference
 * forward) may come in either order.
 */
export function expectReferenceHypotheses(got: BeamSearchOutput, want: readonly ReferenceHypothesis[], tolerance = 1e-4, label = ""): void {
  if (got.error) throw got.error;
  const ours = got.hypotheses.map((h) => ({ key: [...h.tokens, ...(h.endToken === undefined ? [] : [h.endToken])].join(" ") + (h.finished ? "" : " (cut)"), score: h.score }));
  const theirs = want.map((h) => ({ key: h.tokens.join(" ") + (h.ended ? "" : " (cut)"), score: h.score }));
  expect(ours.length, label).toBe(theirs.length);
  ours.forEach((h, i) => {
    expect(Math.abs(h.score - theirs[i].score), `${label} rank ${i}`).toBeLessThan(tolerance);
    if (h.key !== theirs[i].key) {
      const same = theirs.find((t) => t.key === h.key);
      expect(same, `${label} rank ${i}: ${h.key} is not a reference hypothesis`).toBeDefined();
      expect(Math.abs(same!.score - theirs[i].score), `${label} rank ${i}: ${h.key} vs ${theirs[i].key}`).toBeLessThan(tolerance / 10);
    }
  });
}
