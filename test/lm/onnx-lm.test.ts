import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { logProbsOfRow } from "../../src/testing/log-softmax.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { makeTinyModel, maxAbsDiff } from "../support/tiny-model.js";

describe("ONNX Runtime backend vs the reference forward pass", () => {
  let model: { dir: string; cleanup: () => void };
  let lm: OnnxCausalLM;
  let ref: ReferenceLlama;
  let tok: HfTokenizer;
  let prompts: number[][];

  beforeAll(async () => {
    model = await makeTinyModel({ hidden: 64, intermediate: 128, seed: 5 });
    lm = await loadOnnxCausalLM(model.dir, { threads: 1 });
    ref = loadReferenceLlama(model.dir);
    tok = await loadTokenizer(model.dir);
    prompts = [
      "Fiebre alta y [cefalea]{SINTOMA} desde ayer.<SEP>[cefalea] es",
      "[Tos]{SINTOMA}<SEP>[Tos] es",
      "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó disnea.<SEP>[embolia pulmonar masiva] es",
    ].map((s) => tok.encode(s));
  });
  afterAll(async () => {
    await lm?.dispose();
    model?.cleanup();
  });

  it("tokenizes the prompt with the checkpoint's BOS and one <SEP> id", () => {
    expect(new Set(prompts.map((p) => p.length)).size).toBe(3); // ragged
    for (const p of prompts) {
      if (tok.bosTokenId !== null) expect(p[0]).toBe(tok.bosTokenId);
      expect(p.filter((id) => id === tok.sepTokenId)).toHaveLength(1);
    }
  });

  it("prefill of left-padded ragged prompts equals the reference at each prompt's last position", async () => {
    const { state, logProbs } = await lm.prefill(prompts);
    expect(logProbs.rows).toBe(3);
    prompts.forEach((p, r) => {
      const expected = ref.logProbs(p, { from: p.length - 1 })[0];
      const got = logProbsOfRow(logProbs, r);
      expect(maxAbsDiff(got, expected)).toBeLessThan(1e-4);
    });
    state.dispose();
  });

  it("KV-cache steps (teacher forcing, with beam reordering) equal the reference", async () => {
    const continuation = [tok.encode(" dolor de cabeza", { addSpecialTokens: false }), tok.encode(" tos seca", { addSpecialTokens: false })];
    let { state, logProbs } = await lm.prefill(prompts);
    // Rows after reordering: [prompt2 + c0, prompt0 + c1, prompt2 + c1] - a row may be duplicated or dropped.
    const plan = [
      { parent: 2, cont: continuation[0] },
      { parent: 0, cont: continuation[1] },
      { parent: 2, cont: continuation[1] },
    ];
    const steps = Math.min(...plan.map((p) => p.cont.length));
    const sequences = plan.map((p) => [...prompts[p.parent]]);
    for (let t = 0; t < steps; t++) {
      const parents = Int32Array.from(t === 0 ? plan.map((p) => p.parent) : plan.map((_, i) => i));
      const tokens = Int32Array.from(plan.map((p) => p.cont[t]));
      ({ state, logProbs } = await lm.step(state, parents, tokens));
      plan.forEach((p, r) => {
        sequences[r].push(p.cont[t]);
        const expected = ref.logProbs(sequences[r], { from: sequences[r].length - 1 })[0];
        const got = logProbsOfRow(logProbs, r);
        expect(maxAbsDiff(got, expected)).toBeLessThan(1e-4);
      });
    }
    state.dispose();
    expect(lm.forwardMs).toBeGreaterThan(0);
  });

  it("names the missing file of an incomplete model folder", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-incomplete-"));
    try {
      await expect(loadOnnxCausalLM(dir)).rejects.toMatchObject({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("config.json") });
      writeFileSync(join(dir, "config.json"), JSON.stringify({ num_attention_heads: 4, hidden_size: 32, vocab_size: 10 }));
      await expect(loadOnnxCausalLM(dir)).rejects.toMatchObject({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("model.onnx") });
      await expect(loadTokenizer(dir)).rejects.toMatchObject({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("tokenizer.json") });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("half-precision boundaries (float16 KV cache and logits, as in fp16 exports)", () => {
  let model: { dir: string; cleanup: () => void };
  let lm: OnnxCausalLM;
  let ref: ReferenceLlama;
  let tok: HfTokenizer;

  beforeAll(async () => {
    model = await makeTinyModel({ hidden: 64, intermediate: 128, seed: 5 }, { ioDtype: "float16" });
    lm = await loadOnnxCausalLM(model.dir, { threads: 1 });
    ref = loadReferenceLlama(model.dir);
    tok = await loadTokenizer(model.dir);
  });
  afterAll(async () => {
    await lm?.dispose();
    model?.cleanup();
  });

  it("prefill and KV-cache steps stay within float16 rounding of the reference", async () => {
    const prompts = ["[Tos]{SINTOMA}<SEP>[Tos] es", "El paciente con [embolia pulmonar]{ENFERMEDAD}.<SEP>[embolia pulmonar] es"].map((s) => tok.encode(s));
    let { state, logProbs } = await lm.prefill(prompts);
    prompts.forEach((p, r) => expect(maxAbsDiff(logProbsOfRow(logProbs, r), ref.logProbs(p, { from: p.length - 1 })[0])).toBeLessThan(2e-2));
    const cont = tok.encode(" tos seca", { addSpecialTokens: false });
    const seqs = prompts.map((p) => [...p]);
    for (const t of cont) {
      ({ state, logProbs } = await lm.step(state, Int32Array.from([1, 0]), Int32Array.from([t, t])));
      seqs.reverse();
      seqs.forEach((s, r) => {
        s.push(t);
        expect(maxAbsDiff(logProbsOfRow(logProbs, r), ref.logProbs(s, { from: s.length - 1 })[0])).toBeLessThan(2e-2);
      });
    }
    state.dispose();
  });
});
