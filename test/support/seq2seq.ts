import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WriteSeq2SeqOptions } from "../../src/convert/onnx-seq2seq-graph.js";
import type { CausalLM, NextTokenLogProbs } from "../../src/lm/types.js";
import { writeRandomSeq2SeqModel, type RandomSeq2SeqModelInfo, type RandomSeq2SeqShape } from "../../src/testing/random-seq2seq.js";
import type { ReferenceSeq2Seq } from "../../src/testing/reference-mbart.js";

/** A tiny random mBART / BART model folder (HF checkpoint + ONNX) in a fresh temp folder. */
export async function makeTinySeq2Seq(
  arch: "mbart" | "bart",
  onnx: WriteSeq2SeqOptions = {},
  seed = 7,
  shape: Partial<RandomSeq2SeqShape> = {},
): Promise<{ dir: string; info: RandomSeq2SeqModelInfo; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), `syncabel-test-${arch}-`));
  const info = await writeRandomSeq2SeqModel(dir, { arch, layers: 2, dModel: 16, heads: 2, ffn: 32, ...shape }, { seed, onnx });
  return { dir, info, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reference log-probability of `token` after `decoder` for `source`, memoised per prefix. */
export function referenceLogProbs(ref: ReferenceSeq2Seq): (source: readonly number[], decoder: readonly number[]) => Float32Array {
  const memo = new Map<string, Float32Array>();
  return (source, decoder) => {
    const key = `${source.join(",")}|${decoder.join(",")}`;
    let row = memo.get(key);
    if (row === undefined) memo.set(key, (row = ref.logProbs(source, decoder, { from: decoder.length - 1 })[0]));
    return row;
  };
}

/** Largest |log p(model) - log p(reference)| over the entries a result holds for each of its rows. */
export function maxDiffToReference(lp: NextTokenLogProbs, rows: readonly { source: readonly number[]; decoder: readonly number[] }[], want: (source: readonly number[], decoder: readonly number[]) => Float32Array, tokens?: readonly (readonly number[])[]): number {
  let max = 0;
  rows.forEach((r, i) => {
    const ref = want(r.source, r.decoder);
    if (lp.picked && tokens) {
      tokens[i].forEach((t, j) => (max = Math.max(max, Math.abs(lp.picked!.logits[lp.picked!.offsets[i] + j] - lp.logZ[i] - ref[t]))));
    } else if (lp.top) {
      for (let j = 0; j < lp.top.k; j++) max = Math.max(max, Math.abs(lp.top.logits[i * lp.top.k + j] - lp.logZ[i] - ref[lp.top.ids[i * lp.top.k + j]]));
    } else {
      for (let t = 0; t < lp.vocabSize; t++) max = Math.max(max, Math.abs(lp.logits[i * lp.vocabSize + t] - lp.logZ[i] - ref[t]));
    }
  });
  return max;
}

/**
 * Prefill three sentences of different source and decoder-prompt lengths, then steps that fan out to up to three
 * beams per sentence from changing parents (reordering), give one sentence fewer beams than the others, and drop a
 * sentence: every row's log-probs (whole rows, trie-style picks or top-k, alternating) against the reference.
 */
export async function runBeamScenario(lm: CausalLM, want: (source: readonly number[], decoder: readonly number[]) => Float32Array, ids: { lang: number; eos: number; start: number }): Promise<number> {
  const { lang, eos, start } = ids;
  const sources = [
    [lang, 30, 31, 32, 33, eos],
    [lang, 40, eos],
    [lang, 50, 51, 52, 53, 54, 55, 56, eos],
  ];
  const prompts = [[start, lang, 60], [start, lang, 61, 62, 63, 64], [start, lang, 65, 66]];
  const first = await lm.prefill(prompts, undefined, sources);
  let rows = prompts.map((p, i) => ({ source: sources[i], decoder: p }));
  let max = maxDiffToReference(first.logProbs, rows, want);
  let state = first.state;
  for (let step = 0; step < 4; step++) {
    const parents: number[] = [];
    const tokens: number[] = [];
    const next: typeof rows = [];
    for (const [s, source] of sources.entries()) {
      const own = rows.map((r, i) => (r.source === source ? i : -1)).filter((i) => i >= 0);
      if (own.length === 0 || (step >= 2 && s === 1)) continue; // sentence 1 finishes after two steps
      const fan = s === 2 && step === 1 ? 2 : 3; // sentence 2 keeps fewer beams for a step
      for (let k = 0; k < fan; k++) {
        const p = own[(k * 2 + step) % own.length];
        const token = 5 + ((k * 7 + step * 3 + p) % 60);
        parents.push(p);
        tokens.push(token);
        next.push({ source, decoder: [...rows[p].decoder, token] });
      }
    }
    const picks = next.map((_, i) => [3 + i, 10 + ((i * 13) % 50), eos]);
    const request = step % 3 === 0 ? { tokens: picks } : step % 3 === 1 ? { topK: 4 } : undefined;
    const r = await lm.step(state, Int32Array.from(parents), Int32Array.from(tokens), request);
    rows = next;
    max = Math.max(max, maxDiffToReference(r.logProbs, rows, want, request && "tokens" in request ? picks : undefined));
    state = r.state;
  }
  state.dispose();
  return max;
}
