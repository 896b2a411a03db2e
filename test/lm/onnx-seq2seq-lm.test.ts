import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import { writeSeq2SeqOnnx, type WriteSeq2SeqOptions } from "../../src/convert/onnx-seq2seq-graph.js";
import { openSeq2SeqCheckpoint } from "../../src/convert/mbart-checkpoint.js";
import { OnnxSeq2SeqLM } from "../../src/lm/onnx-seq2seq-lm.js";
import { resolveSeq2SeqFiles } from "../../src/lm/seq2seq-files.js";
import { loadReferenceSeq2Seq, type ReferenceSeq2Seq } from "../../src/testing/reference-mbart.js";
import { makeTinySeq2Seq, maxDiffToReference, referenceLogProbs, runBeamScenario } from "../support/seq2seq.js";

const VARIANTS: { name: string; onnx: WriteSeq2SeqOptions }[] = [
  { name: "syncabel merged", onnx: {} },
  { name: "syncabel split", onnx: { decoder: "split" } },
  { name: "Optimum merged", onnx: { layout: "optimum" } },
  { name: "Optimum split", onnx: { layout: "optimum", decoder: "split" } },
];

for (const arch of ["mbart", "bart"] as const) {
  describe(`OnnxSeq2SeqLM (${arch}) against the reference forward`, () => {
    let model: Awaited<ReturnType<typeof makeTinySeq2Seq>>;
    let ref: ReferenceSeq2Seq;
    let want: ReturnType<typeof referenceLogProbs>;
    let ids: { lang: number; eos: number; start: number };

    beforeAll(async () => {
      model = await makeTinySeq2Seq(arch);
      ref = loadReferenceSeq2Seq(model.dir);
      want = referenceLogProbs(ref);
      ids = { lang: arch === "mbart" ? model.info.tokenizer.languageIds.es_XX : 0, eos: 2, start: 2 };
      // The other exports of the same weights, each in its own onnx folder of the same model folder.
      const checkpoint = openSeq2SeqCheckpoint(model.dir);
      try {
        for (const v of VARIANTS.slice(1)) await writeSeq2SeqOnnx(checkpoint.config, (n) => checkpoint.weight(n), join(model.dir, v.name.replace(" ", "-")), v.onnx);
      } finally {
        checkpoint.close();
      }
    });
    afterAll(() => model?.cleanup());

    const load = (variant: string, threads = 1): Promise<OnnxSeq2SeqLM> =>
      OnnxSeq2SeqLM.load(model.dir, variant === "syncabel merged" ? { threads } : { threads, modelFile: join(variant.replace(" ", "-"), variant.endsWith("merged") ? "decoder_model_merged.onnx" : "decoder_model.onnx") });

    for (const v of VARIANTS) {
      it(`${v.name}: prefill and cached steps with beam reordering, uneven beams, a finished sentence and mixed lengths equal the reference within 1e-4`, async () => {
        const lm = await load(v.name);
        try {
          expect(lm.groupedCrossAttention).toBe(v.name.startsWith("syncabel"));
          const max = await runBeamScenario(lm, want, ids);
          console.log(`${arch} ${v.name}: max |log p - reference| = ${max.toExponential(2)}`);
          expect(max).toBeLessThan(1e-4);
          // One encoder pass per sentence: the steps never run the encoder again.
          expect(lm.encoderStats.sentences).toBe(3);
        } finally {
          await lm.dispose();
        }
      });
    }

    it("cross-attention tensors are never copied when beams reorder, only when a sentence leaves (grouped) or the rows' sentences change (per row)", async () => {
      for (const variant of ["syncabel merged", "Optimum merged"]) {
        const lm = await load(variant);
        try {
          const sources = [[ids.lang, 30, 31, ids.eos], [ids.lang, 40, ids.eos]];
          const { state } = await lm.prefill([[2, ids.lang, 60], [2, ids.lang, 61]], undefined, sources);
          // Both sentences fan out to 3 beams, then reorder for three steps: the rows' sentences stay [0,0,0,1,1,1].
          let s = (await lm.step(state, Int32Array.from([0, 0, 0, 1, 1, 1]), Int32Array.from([5, 6, 7, 8, 9, 10]))).state;
          const afterFanOut = lm.encoderStats.crossCopies;
          for (const parents of [[2, 0, 1, 5, 3, 4], [1, 1, 2, 4, 4, 3], [0, 2, 2, 3, 5, 5]]) s = (await lm.step(s, Int32Array.from(parents), Int32Array.from([11, 12, 13, 14, 15, 16]))).state;
          expect(lm.encoderStats.crossCopies).toBe(afterFanOut);
          expect(afterFanOut).toBe(variant.startsWith("syncabel") ? 0 : 1); // per-row graphs expand once
          s = (await lm.step(s, Int32Array.from([0, 1, 2]), Int32Array.from([20, 21, 22]))).state; // sentence 1 finished
          expect(lm.encoderStats.crossCopies).toBe(afterFanOut + 1);
          s.dispose();
        } finally {
          await lm.dispose();
        }
      }
    });

    it("continuous batching: prompts added by extend() to a running batch compute what they would alone", async () => {
      const lm = await load("syncabel merged");
      try {
        const a = { source: [ids.lang, 30, 31, 32, ids.eos], decoder: [2, ids.lang, 60, 61] };
        const b = { source: [ids.lang, 40, ids.eos], decoder: [2, ids.lang, 62] };
        const first = await lm.prefill([a.decoder], undefined, [a.source]);
        const stepped = await lm.step(first.state, Int32Array.from([0, 0]), Int32Array.from([7, 8]));
        const extended = await lm.extend(stepped.state, [b.decoder], undefined, [b.source]);
        let max = maxDiffToReference(extended.logProbs, [b], want);
        const rows = [{ ...a, decoder: [...a.decoder, 7, 9] }, { ...a, decoder: [...a.decoder, 8, 9] }, { ...b, decoder: [...b.decoder, 9] }];
        const last = await lm.step(extended.state, Int32Array.from([0, 1, 2]), Int32Array.from([9, 9, 9]));
        max = Math.max(max, maxDiffToReference(last.logProbs, rows, want));
        expect(max).toBeLessThan(1e-4);
        last.state.dispose();
      } finally {
        await lm.dispose();
      }
    });
  });
}

describe("seq2seq model files", () => {
  let model: Awaited<ReturnType<typeof makeTinySeq2Seq>>;
  beforeAll(async () => {
    model = await makeTinySeq2Seq("mbart", { decoder: "split" });
  });
  afterAll(() => model?.cleanup());

  it("the with-past decoder never reads the encoder output: cross-attention keys and values come from the cache", async () => {
    const session = await ort.InferenceSession.create(join(model.dir, "onnx", "decoder_with_past_model.onnx"));
    expect(session.inputNames).not.toContain("encoder_hidden_states");
    expect(session.inputNames).toContain("past_key_values.0.encoder.key");
    expect(session.outputNames.filter((n) => n.includes(".encoder."))).toEqual([]);
    await session.release();
  });

  it("picks files by transformers.js dtype suffix, split decoders when there is no merged one, and names what is missing", () => {
    const onnx = join(model.dir, "onnx");
    const files = resolveSeq2SeqFiles(model.dir);
    expect(files.decoderWithPast).toBe(join(onnx, "decoder_with_past_model.onnx"));
    mkdirSync(join(model.dir, "q"), { recursive: true });
    for (const f of ["encoder_model", "decoder_model", "decoder_with_past_model"]) renameSync(join(onnx, `${f}.onnx`), join(onnx, `${f}_q4.onnx`));
    expect(resolveSeq2SeqFiles(model.dir, { dtype: "q4" }).encoder).toBe(join(onnx, "encoder_model_q4.onnx"));
    expect(() => resolveSeq2SeqFiles(model.dir)).toThrow(/encoder_model_q4\.onnx/);
    rmSync(join(onnx, "decoder_with_past_model_q4.onnx"));
    expect(() => resolveSeq2SeqFiles(model.dir, { dtype: "q4" })).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING" }));
    expect(existsSync(join(onnx, "decoder_model_q4.onnx"))).toBe(true);
  });

  it("steps a decoder sequence up to max_position_embeddings tokens and refuses the one past it", async () => {
    const small = await makeTinySeq2Seq("mbart", {}, 7, { maxPositions: 8 });
    const lm = await OnnxSeq2SeqLM.load(small.dir, { threads: 1 });
    try {
      // Prompts of 3 and 5 tokens (left-padded together): each step adds one token to both.
      let { state } = await lm.prefill([[2, 30, 31], [2, 30, 31, 32, 33]], undefined, [[40, 2], [41, 2]]);
      for (let length = 6; length <= 8; length++) state = (await lm.step(state, Int32Array.from([0, 1]), Int32Array.from([50, 51]))).state;
      await expect(lm.step(state, Int32Array.from([0, 1]), Int32Array.from([50, 51]))).rejects.toMatchObject({ code: "DECODE_INVALID_OPTIONS", details: { tokens: 9 } });
    } finally {
      await lm.dispose();
      small.cleanup();
    }
  });

  it("refuses a prefill without one source per prompt", async () => {
    const other = await makeTinySeq2Seq("mbart");
    const lm = await OnnxSeq2SeqLM.load(other.dir, { threads: 1 });
    try {
      await expect(lm.prefill([[2, 3]])).rejects.toMatchObject({ code: "DECODE_INVALID_OPTIONS" });
      await expect(lm.prefill([[2, 3]], undefined, [[]])).rejects.toMatchObject({ code: "DECODE_INVALID_OPTIONS" });
    } finally {
      await lm.dispose();
      other.cleanup();
    }
  });
});
