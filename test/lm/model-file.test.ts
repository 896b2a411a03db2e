/**
 * Choosing the ONNX file of a model folder as transformers.js does (dtype suffixes, explicit file, the only
 * variant), and the external data files beside it, on real files written by the ONNX writer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { DTYPE_SUFFIXES, listOnnxFiles, resolveModelFile } from "../../src/lm/model-file.js";
import { scanOnnxModel } from "../../src/lm/onnx-scan.js";
import { writeRandomModel, type RandomModelShape } from "../../src/testing/random-model.js";
import { loadReferenceLlama } from "../../src/testing/reference-llama.js";
import { logProbsOfRow } from "../../src/testing/log-softmax.js";
import { maxAbsDiff } from "../support/tiny-model.js";
import { buildKbFromRows } from "../support/kb.js";
import { Linker } from "../../src/linker/open.js";
import { linkerOptionsFromArgs } from "../../src/cli/linker-args.js";

const SHAPE: RandomModelShape = { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocabSize: 200, seed: 3 };
const PROMPTS = [[1, 2, 3, 4, 5, 6], [7, 8]];

describe("model file choice", () => {
  let root: string;
  let variants: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "syncabel-model-file-"));
    // An onnx-community style folder: no model.onnx, a q4 and an fp16 file (external data for the fp16 one).
    variants = join(root, "community");
    await writeRandomModel(variants, SHAPE, { modelFile: "onnx/model_q4.onnx", weightDtype: "int4" });
    await writeRandomModel(variants, SHAPE, { modelFile: "onnx/model_fp16.onnx", weightDtype: "fp16", externalDataThreshold: 0 });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("maps every transformers.js dtype to its file suffix", () => {
    expect(DTYPE_SUFFIXES).toMatchObject({ fp32: "", fp16: "_fp16", q8: "_quantized", int8: "_int8", uint8: "_uint8", q4: "_q4", q4f16: "_q4f16", bnb4: "_bnb4", quantized: "_quantized" });
  });

  it("without model.onnx and with several variants, names the files present and the options", () => {
    expect(listOnnxFiles(variants)).toEqual(["onnx/model_fp16.onnx", "onnx/model_q4.onnx"]);
    expect(() => resolveModelFile(variants)).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING", message: expect.stringMatching(/model_fp16\.onnx, onnx\/model_q4\.onnx.*by dtype.*by model file/) }));
  });

  it("--dtype picks onnx/model{suffix}.onnx; an unknown or absent dtype is a clear error", () => {
    expect(resolveModelFile(variants, { dtype: "q4" })).toBe(join(variants, "onnx/model_q4.onnx"));
    expect(resolveModelFile(variants, { dtype: "fp16" })).toBe(join(variants, "onnx/model_fp16.onnx"));
    expect(() => resolveModelFile(variants, { dtype: "q8" })).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("model_quantized.onnx") }));
    expect(() => resolveModelFile(variants, { dtype: "int3" })).toThrow(expect.objectContaining({ code: "MODEL_CONFIG_INVALID" }));
    expect(() => resolveModelFile(variants, { modelFile: "onnx/nope.onnx" })).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("model_q4.onnx") }));
  });

  it("loads the chosen file (the q4 and fp16 files give different logits), with its external data beside it", async () => {
    const q4 = await loadOnnxCausalLM(variants, { dtype: "q4", threads: 1 });
    const fp16 = await loadOnnxCausalLM(variants, { modelFile: "onnx/model_fp16.onnx", threads: 1 });
    try {
      expect(q4.modelFile).toBe(join(variants, "onnx/model_q4.onnx"));
      expect(fp16.modelFile).toBe(join(variants, "onnx/model_fp16.onnx"));
      expect([...scanOnnxModel(fp16.modelFile).externalData]).toEqual(["model_fp16.onnx_data"]);
      expect([...scanOnnxModel(q4.modelFile).ops]).toContain("com.microsoft:MatMulNBits");
      const a = await q4.prefill(PROMPTS);
      const b = await fp16.prefill(PROMPTS);
      expect(maxAbsDiff(logProbsOfRow(a.logProbs, 0), logProbsOfRow(b.logProbs, 0))).toBeGreaterThan(1e-4);
    } finally {
      await q4.dispose();
      await fp16.dispose();
    }
  });

  it("the only variant present is taken by default; a missing external data file is named", async () => {
    const single = join(root, "single");
    await writeRandomModel(single, SHAPE, { modelFile: "onnx/model_quantized.onnx", externalDataThreshold: 0 });
    expect(resolveModelFile(single)).toBe(join(single, "onnx/model_quantized.onnx"));
    const lm = await loadOnnxCausalLM(single, { threads: 1 });
    const ref = loadReferenceLlama(single);
    const { logProbs, state } = await lm.prefill(PROMPTS);
    state.dispose();
    await lm.dispose();
    PROMPTS.forEach((p, r) => expect(maxAbsDiff(logProbsOfRow(logProbs, r), ref.logProbs(p)[p.length - 1])).toBeLessThan(1e-4));
    renameSync(join(single, "onnx/model_quantized.onnx_data"), join(single, "onnx/moved"));
    await expect(loadOnnxCausalLM(single)).rejects.toMatchObject({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("model_quantized.onnx_data") });
    // model.onnx, when present, wins over variants.
    copyFileSync(join(variants, "onnx/model_q4.onnx"), join(single, "onnx/model.onnx"));
    expect(resolveModelFile(single)).toBe(join(single, "onnx/model.onnx"));
  });

  it("Linker.open and the CLI options pass the choice through (full-vocabulary q4 and fp16 exports)", async () => {
    const dir = join(root, "linkable");
    const shape = { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, seed: 4 };
    await writeRandomModel(dir, shape, { modelFile: "onnx/model_q4.onnx", weightDtype: "int4" });
    await writeRandomModel(dir, shape, { modelFile: "onnx/model_fp16.onnx", weightDtype: "fp16" });
    const kb = await buildKbFromRows(root, [["1", "fiebre", "SINTOMA"], ["2", "tos", "SINTOMA"], ["3", "cefalea", "SINTOMA"]]);
    const sentence = "Refiere [fiebre alta]{SINTOMA} desde ayer.";
    await expect(Linker.open({ kb, model: dir })).rejects.toMatchObject({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("by dtype (") });
    const scores: number[][] = [];
    for (const choice of [{ dtype: "q4" as const }, { modelFile: "onnx/model_fp16.onnx" }]) {
      const linker = await Linker.open({ kb, model: dir, threads: 1, ...choice });
      const [r] = await linker.sample([sentence], { num_beams: 3 });
      await linker.close();
      expect(r.beams?.map((b) => b.pred_concept_name).sort()).toEqual(["cefalea", "fiebre", "tos"]);
      scores.push(r.beams!.map((b) => b.beam_score));
    }
    expect(scores[0]).not.toEqual(scores[1]);
    const usage = "usage";
    expect(linkerOptionsFromArgs({ kb, model: dir, dtype: "q4f16" }, usage)).toMatchObject({ dtype: "q4f16" });
    expect(linkerOptionsFromArgs({ kb, model: dir, "model-file": "onnx/model_q4.onnx" }, usage)).toMatchObject({ modelFile: "onnx/model_q4.onnx" });
    expect(() => linkerOptionsFromArgs({ kb, dtype: "int3" }, usage)).toThrow(expect.objectContaining({ code: "CLI_USAGE" }));
    expect(() => linkerOptionsFromArgs({ kb, dtype: "q4", "model-file": "x.onnx" }, usage)).toThrow(expect.objectContaining({ code: "CLI_USAGE" }));
  });
});
