import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hfWeightsFromOnnx } from "../../src/testing/onnx-weights.js";
import { loadReferenceLlama } from "../../src/testing/reference-llama.js";
import type { RandomModelOnnxOptions, RandomModelShape } from "../../src/testing/random-model.js";
import {
  emptyCache,
  forward,
  logSoftmaxRow,
  maxAbsDiff,
  prefillAndStepError,
  referenceOnWeights,
  TINY,
  writeVariant,
  type Variant,
} from "./onnx-writer-harness.js";

const PROMPT = [1, 17, 299, 42, 7, 150, 3, 88];
const FP32_TOL = 1e-4;

const pastNames = (layers: number, prefix: string): string[] =>
  Array.from({ length: layers }, (_, l) => [`${prefix}.${l}.key`, `${prefix}.${l}.value`]).flat();
const PAST = pastNames(2, "past_key_values");
const PRESENT = pastNames(2, "present");

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "syncabel-onnx-writer-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Case {
  readonly name: string;
  readonly options: RandomModelOnnxOptions;
  readonly inputs: readonly string[];
  /** Compare against the reference on the weights read back from the ONNX file (float16 storage). */
  readonly readBack?: boolean;
  readonly tolerance?: number;
  /** GroupQueryAttention with rotary needs head_dim a multiple of 16. */
  readonly shape?: Partial<RandomModelShape>;
}

const GQA_SHAPE = { hidden: 64, heads: 4, kvHeads: 2 };

const CASES: Case[] = [
  { name: "optimum", options: {}, inputs: ["input_ids", "attention_mask", "position_ids", ...PAST] },
  { name: "no-position-ids", options: { positionIds: "from-mask" }, inputs: ["input_ids", "attention_mask", ...PAST] },
  {
    name: "merged",
    options: { merged: true, modelFile: "onnx/decoder_model_merged.onnx" },
    inputs: ["input_ids", "attention_mask", "position_ids", ...PAST, "use_cache_branch"],
  },
  { name: "last-logits", options: { logits: "last" }, inputs: ["input_ids", "attention_mask", "position_ids", ...PAST] },
  { name: "num-logits-to-keep", options: { logits: "num_logits_to_keep" }, inputs: ["input_ids", "attention_mask", "position_ids", ...PAST, "num_logits_to_keep"] },
  { name: "logits-to-keep", options: { logits: "logits_to_keep" }, inputs: ["input_ids", "attention_mask", "position_ids", ...PAST, "logits_to_keep"] },
  { name: "gqa-fused", options: { attention: "gqa" }, inputs: ["input_ids", "attention_mask", ...PAST], shape: GQA_SHAPE },
  { name: "gqa-separate-rotary", options: { attention: "gqa", gqaRotary: "separate" }, inputs: ["input_ids", "attention_mask", "position_ids", ...PAST], shape: GQA_SHAPE },
  { name: "fp16-io", options: { ioDtype: "float16" }, inputs: ["input_ids", "attention_mask", "position_ids", ...PAST], tolerance: 2e-2 },
  { name: "gqa-fp16-io", options: { attention: "gqa", ioDtype: "float16" }, inputs: ["input_ids", "attention_mask", ...PAST], tolerance: 3e-2, shape: GQA_SHAPE },
  { name: "fp16-weights", options: { weightDtype: "fp16" }, inputs: ["input_ids", "attention_mask", "position_ids", ...PAST], readBack: true },
  {
    name: "merged-no-position-ids-keep",
    options: { merged: true, positionIds: "from-mask", logits: "num_logits_to_keep", modelFile: "onnx/decoder_model_merged.onnx" },
    inputs: ["input_ids", "attention_mask", ...PAST, "num_logits_to_keep", "use_cache_branch"],
  },
];

describe("ONNX writer export variants vs the reference forward", () => {
  for (const c of CASES) {
    it(`${c.name}: declared IO and single-row logits (prefill + cached step)`, async () => {
      const v = await writeVariant(root, c.name, c.options, c.shape);
      try {
        expect(v.session.inputNames).toEqual(c.inputs);
        expect(v.session.outputNames).toEqual(["logits", ...PRESENT]);
        const reference = c.readBack
          ? referenceOnWeights(root, `${c.name}-ref`, { ...TINY, ...c.shape }, hfWeightsFromOnnx(v.modelPath, v.config))
          : loadReferenceLlama(v.dir);
        const error = await prefillAndStepError(v, reference, PROMPT);
        console.log(`[onnx-writer] ${c.name}: max abs log-prob diff ${error.toExponential(2)}`);
        expect(error).toBeLessThan(c.tolerance ?? FP32_TOL);
      } finally {
        await v.session.release();
      }
    }, 60_000);
  }
});

describe("logits selection", () => {
  let keep: Variant;
  let last: Variant;
  beforeAll(async () => {
    keep = await writeVariant(root, "keep", { logits: "logits_to_keep" });
    last = await writeVariant(root, "last", { logits: "last" });
  }, 60_000);
  afterAll(async () => {
    await keep?.session.release();
    await last?.session.release();
  });

  it("logits_to_keep N returns the last N positions, 0 returns all, and they equal the reference", async () => {
    const reference = loadReferenceLlama(keep.dir);
    const expected = reference.logProbs(PROMPT);
    const n = PROMPT.length;
    const V = keep.config.vocabSize;
    for (const k of [0, 1, 3]) {
      const out = await forward(keep, [PROMPT], [Array(n).fill(1)], emptyCache(keep.session, keep.config, 1), k);
      const rows = k === 0 ? n : k;
      expect(out.dims).toEqual([1, rows, V]);
      for (let r = 0; r < rows; r++) expect(maxAbsDiff(logSoftmaxRow(out.logits, r, V), expected[n - rows + r])).toBeLessThan(FP32_TOL);
    }
  });

  it('"last" returns [batch, 1, vocab] for a left-padded batch, each row equal to its prompt alone', async () => {
    const reference = loadReferenceLlama(last.dir);
    const prompts = [PROMPT, PROMPT.slice(2, 6)];
    const width = PROMPT.length;
    const ids = prompts.map((p) => [...Array(width - p.length).fill(0), ...p]);
    const mask = prompts.map((p) => [...Array(width - p.length).fill(0), ...Array(p.length).fill(1)]);
    const out = await forward(last, ids, mask, emptyCache(last.session, last.config, 2));
    const V = last.config.vocabSize;
    expect(out.dims).toEqual([2, 1, V]);
    prompts.forEach((p, b) => expect(maxAbsDiff(logSoftmaxRow(out.logits, b, V), reference.logProbs(p).at(-1)!)).toBeLessThan(FP32_TOL));
  });
});

describe("position ids derived from the attention mask", () => {
  it("a left-padded batch without a position_ids input matches each prompt alone", async () => {
    const v = await writeVariant(root, "mask-positions", { positionIds: "from-mask" });
    try {
      const reference = loadReferenceLlama(v.dir);
      const prompts = [PROMPT, PROMPT.slice(3)];
      const width = PROMPT.length;
      const ids = prompts.map((p) => [...Array(width - p.length).fill(0), ...p]);
      const mask = prompts.map((p) => [...Array(width - p.length).fill(0), ...Array(p.length).fill(1)]);
      const out = await forward(v, ids, mask, emptyCache(v.session, v.config, 2));
      const V = v.config.vocabSize;
      prompts.forEach((p, b) => {
        const expected = reference.logProbs(p);
        const pad = width - p.length;
        for (let t = 0; t < p.length; t++) expect(maxAbsDiff(logSoftmaxRow(out.logits, b * width + pad + t, V), expected[t])).toBeLessThan(FP32_TOL);
      });
      // One cached step: the new token's position is the row's real length.
      const step = await forward(v, [[5], [6]], mask.map((m) => [...m, 1]), out.cache);
      prompts.forEach((p, b) => expect(maxAbsDiff(logSoftmaxRow(step.logits, b, V), reference.logProbs([...p, [5, 6][b]]).at(-1)!)).toBeLessThan(FP32_TOL));
    } finally {
      await v.session.release();
    }
  }, 60_000);
});
