/**
 * The loader against every export layout users download (fixtures written here by the ONNX writer): a
 * mixed-length batch must give each row what it gets alone and what the independent reference forward gives,
 * at prefill and over KV-cache steps that reorder and duplicate beams.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOnnxCausalLM } from "../../src/lm/onnx-lm.js";
import type { NextTokenLogProbs } from "../../src/lm/types.js";
import { writeRandomModel, type RandomModelOnnxOptions, type RandomModelShape } from "../../src/testing/random-model.js";
import { loadReferenceLlama } from "../../src/testing/reference-llama.js";
import { logProbsOfRow } from "../../src/testing/log-softmax.js";
import { maxAbsDiff } from "../support/tiny-model.js";

// head_dim 16: ORT's CPU GroupQueryAttention needs a multiple of 16.
const SHAPE: RandomModelShape = { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocabSize: 300, seed: 9 };

const VARIANTS: { name: string; options: RandomModelOnnxOptions; tolerance: number }[] = [
  { name: "optimum (position_ids)", options: {}, tolerance: 1e-4 },
  { name: "optimum without position_ids", options: { positionIds: "from-mask" }, tolerance: 1e-4 },
  { name: "merged decoder (use_cache_branch)", options: { merged: true, modelFile: "onnx/decoder_model_merged.onnx" }, tolerance: 1e-4 },
  { name: "num_logits_to_keep", options: { logits: "num_logits_to_keep" }, tolerance: 1e-4 },
  { name: "logits_to_keep", options: { logits: "logits_to_keep" }, tolerance: 1e-4 },
  { name: "last-position logits", options: { logits: "last" }, tolerance: 1e-4 },
  { name: "float16 KV cache and logits", options: { ioDtype: "float16" }, tolerance: 3e-2 },
  { name: "GroupQueryAttention (fused rotary)", options: { attention: "gqa", gqaRotary: "fused" }, tolerance: 1e-4 },
  { name: "GroupQueryAttention (RotaryEmbedding, position_ids)", options: { attention: "gqa", gqaRotary: "separate", logits: "num_logits_to_keep" }, tolerance: 1e-4 },
  { name: "GroupQueryAttention, float16 KV cache", options: { attention: "gqa", gqaRotary: "fused", ioDtype: "float16" }, tolerance: 3e-2 },
];

// Ragged prompts (ids < vocabSize) and, per continued row, its parent prompt and the tokens it is fed.
const PROMPTS = [
  [5, 17, 42, 9, 120, 33, 7, 250],
  [11, 3],
  [200, 14, 99, 60, 1, 2, 3, 4, 5, 6, 7, 8, 280],
  [77, 18, 18, 45, 9],
];
const PLAN = [
  { parent: 2, cont: [10, 20, 30, 40] },
  { parent: 1, cont: [50, 60, 70, 80] },
  { parent: 2, cont: [11, 21, 31, 41] },
  { parent: 0, cont: [90, 91, 92, 93] },
  { parent: 1, cont: [50, 61, 71, 81] },
];

const row = (p: NextTokenLogProbs, r: number): Float32Array => logProbsOfRow(p, r);

describe("export variants: mixed-length batches are exact", () => {
  let root: string;
  const report: Record<string, { prefill_vs_reference: number; prefill_vs_alone: number; steps_vs_reference: number; steps_vs_alone: number }> = {};

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "syncabel-variants-"));
  });
  afterAll(() => {
    console.log(`max abs log-prob differences per export variant:\n${JSON.stringify(report, null, 1)}`);
    rmSync(root, { recursive: true, force: true });
  });

  for (const variant of VARIANTS) {
    it(variant.name, async () => {
      const dir = join(root, variant.name.replace(/\W+/g, "-"));
      await writeRandomModel(dir, SHAPE, variant.options);
      const lm = await loadOnnxCausalLM(dir, { threads: 1, ...(variant.options.modelFile ? { modelFile: variant.options.modelFile } : {}) });
      const ref = loadReferenceLlama(dir);
      try {
        // Every layout but the merged decoder (its lm_head sits in the If branches) computes last-position logits only.
        expect(lm.lastPositionLogits).toBe(!variant.options.merged);
        // Presents that are a Concat of past and new (standard attention outside an If) are freed layer by layer.
        expect(lm.presentsDemoted).toBe(!variant.options.merged && variant.options.attention !== "gqa");
        const figures = { prefill_vs_reference: 0, prefill_vs_alone: 0, steps_vs_reference: 0, steps_vs_alone: 0 };
        // Prefill: the batch, each row alone, the reference.
        let { state, logProbs } = await lm.prefill(PROMPTS);
        for (const [r, p] of PROMPTS.entries()) {
          const alone = await lm.prefill([p]);
          alone.state.dispose();
          figures.prefill_vs_alone = Math.max(figures.prefill_vs_alone, maxAbsDiff(row(logProbs, r), row(alone.logProbs, 0)));
          figures.prefill_vs_reference = Math.max(figures.prefill_vs_reference, maxAbsDiff(row(logProbs, r), ref.logProbs(p)[p.length - 1]));
        }
        // A logit request returns exactly those entries of the full rows (and the row's logZ).
        const tokens = PROMPTS.map((p, r) => (r === 1 ? [] : [...p, 299, 0]));
        const asked = await lm.prefill(PROMPTS, { tokens, topK: 5 });
        asked.state.dispose();
        expect(Array.from(asked.logProbs.logZ)).toEqual(Array.from(logProbs.logZ));
        PROMPTS.forEach((_, r) => {
          const full = logProbs.logits.subarray(r * 300, (r + 1) * 300);
          const { offsets, logits } = asked.logProbs.picked!;
          expect(Array.from(logits.subarray(offsets[r], offsets[r + 1]))).toEqual(tokens[r].map((t) => full[t]));
          const byLogit = Array.from(full.keys()).sort((a, b) => full[b] - full[a] || a - b).slice(0, 5);
          expect(Array.from(asked.logProbs.top!.ids.subarray(r * 5, r * 5 + 5))).toEqual(byLogit);
        });
        // Re-run the batch prefill (the alone runs consumed the model's live state).
        ({ state, logProbs } = await lm.prefill(PROMPTS));
        // plan[r], sequences[r] and batchRows[r] follow the beam in row r (rows 0 and 1 swap at odd steps).
        const plan = [...PLAN];
        const batchRows: Float32Array[][] = plan.map(() => []);
        const sequences = plan.map((p) => [...PROMPTS[p.parent]]);
        for (let t = 0; t < plan[0].cont.length; t++) {
          // The first step selects and duplicates rows; odd steps also swap rows 0 and 1.
          const swap = t % 2 === 1;
          const parents = t === 0 ? plan.map((p) => p.parent) : plan.map((_, i) => (swap && i < 2 ? 1 - i : i));
          if (swap) for (const a of [plan, sequences, batchRows] as unknown[][]) [a[0], a[1]] = [a[1], a[0]];
          ({ state, logProbs } = await lm.step(state, Int32Array.from(parents), Int32Array.from(plan.map((p) => p.cont[t]))));
          plan.forEach((p, r) => {
            sequences[r].push(p.cont[t]);
            batchRows[r].push(row(logProbs, r));
            figures.steps_vs_reference = Math.max(figures.steps_vs_reference, maxAbsDiff(row(logProbs, r), ref.logProbs(sequences[r])[sequences[r].length - 1]));
          });
        }
        state.dispose();
        // Each continued row alone: prefill its prompt, then the same tokens one step at a time.
        for (const [r, p] of plan.entries()) {
          let alone = await lm.prefill([PROMPTS[p.parent]]);
          for (let t = 0; t < p.cont.length; t++) {
            alone = await lm.step(alone.state, Int32Array.of(0), Int32Array.of(p.cont[t]));
            figures.steps_vs_alone = Math.max(figures.steps_vs_alone, maxAbsDiff(batchRows[r][t], row(alone.logProbs, 0)));
          }
          alone.state.dispose();
        }
        report[variant.name] = figures;
        for (const v of Object.values(figures)) expect(v).toBeLessThan(variant.tolerance);
      } finally {
        await lm.dispose();
      }
    });
  }

  it("without the read-out (whole rows leave the runtime) a request gets the same entries and logZ", async () => {
    const dir = join(root, "plain-rows");
    await writeRandomModel(dir, SHAPE, { logits: "all" });
    const withReadout = await loadOnnxCausalLM(dir, { threads: 1 });
    const plain = await loadOnnxCausalLM(dir, { threads: 1, logitReadout: false });
    try {
      const request = { tokens: PROMPTS.map((p) => [...p].reverse()), topK: 4 };
      const a = await withReadout.prefill(PROMPTS, request);
      const b = await plain.prefill(PROMPTS, request);
      a.state.dispose();
      b.state.dispose();
      expect(maxAbsDiff(a.logProbs.logZ, b.logProbs.logZ)).toBeLessThan(1e-5);
      expect(maxAbsDiff(a.logProbs.picked!.logits, b.logProbs.picked!.logits)).toBe(0);
      expect(Array.from(a.logProbs.top!.ids)).toEqual(Array.from(b.logProbs.top!.ids));
    } finally {
      await withReadout.dispose();
      await plain.dispose();
    }
  });
});

