import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as modelCli } from "../../src/cli/commands/model.js";
import { convertCheckpoint } from "../../src/convert/convert.js";
import { openSeq2SeqCheckpoint } from "../../src/convert/mbart-checkpoint.js";
import { parseSeq2SeqConfig } from "../../src/convert/mbart-config.js";
import { OnnxSeq2SeqLM } from "../../src/lm/onnx-seq2seq-lm.js";
import { writeRandomSeq2SeqCheckpoint, seq2seqConfigJson } from "../../src/testing/random-seq2seq.js";
import { loadReferenceSeq2Seq } from "../../src/testing/reference-mbart.js";
import { captureIO } from "../support/cli-io.js";
import { maxDiffToReference, referenceLogProbs } from "../support/seq2seq.js";

const SHAPE = { arch: "mbart" as const, layers: 2, dModel: 32, heads: 4, ffn: 64 };

let root: string;
let n = 0;
const fresh = (name: string): string => join(root, `${name}-${n++}`);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "convert-s2s-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("mBART / BART config.json", () => {
  const base = seq2seqConfigJson(SHAPE, 900);
  const parse = (patch: Record<string, unknown>) => parseSeq2SeqConfig({ ...base, ...patch }, "config.json");

  it("reads the published fields (mBART defaults: scale_embedding, tied embeddings, GELU)", () => {
    const c = parse({});
    expect(c).toMatchObject({ family: "mbart", dModel: 32, encoderLayers: 2, decoderHeads: 4, vocabSize: 900, maxPositionEmbeddings: 128, scaleEmbedding: true, tieWordEmbeddings: true, activation: "gelu", decoderStartTokenId: 2 });
  });

  it("refuses what the graphs do not implement, naming the field", () => {
    expect(() => parse({ model_type: "t5" })).toThrow(/model_type is "t5"/);
    expect(() => parse({ architectures: ["MBartForSequenceClassification"] })).toThrow(/MBartForConditionalGeneration/);
    expect(() => parse({ d_model: 30 })).toThrow(/not a multiple of encoder_attention_heads/);
    expect(() => parse({ activation_function: "swiglu" })).toThrow(/activation_function/);
    expect(() => parse({ decoder_start_token_id: 900 })).toThrow(/decoder_start_token_id/);
    expect(() => parse({ scale_embedding: "yes" })).toThrow(/scale_embedding must be a boolean/);
  });

  it("bounds every size before anything is allocated from it (issue 16's limits)", () => {
    for (const key of ["encoder_layers", "decoder_layers", "d_model", "encoder_ffn_dim", "decoder_ffn_dim", "vocab_size", "max_position_embeddings"]) {
      expect(() => parse({ [key]: 1e8 }), key).toThrow(new RegExp(`${key} 100000000 is above`));
    }
    expect(() => parse({ decoder_attention_heads: 2048, d_model: 2048 })).toThrow(/decoder_attention_heads 2048 is above 1024/);
    expect(() => parse({ encoder_layers: -1 })).toThrow(/encoder_layers must be a positive integer/);
  });
});

describe("convert an mBART checkpoint", () => {
  let ckpt: string;
  beforeAll(async () => {
    // The layouts save_pretrained writes: bf16 shards with an index, the tied embedding saved once under one of its
    // aliases (older files keep model.encoder.embed_tokens.weight), no final_logits_bias (transformers then uses 0).
    ckpt = fresh("hf");
    await writeRandomSeq2SeqCheckpoint(ckpt, { shape: SHAPE, seed: 4, dtype: "BF16", maxShardBytes: 60_000, sharedName: "model.encoder.embed_tokens.weight", finalLogitsBias: false });
  });

  it("reads every tensor once located, the alias as model.shared.weight and a missing final_logits_bias as zeros", () => {
    expect(readdirSync(ckpt).filter((f) => f.endsWith(".safetensors")).length).toBeGreaterThan(2);
    const c = openSeq2SeqCheckpoint(ckpt);
    try {
      expect(c.tensors.has("model.shared.weight")).toBe(true);
      expect(c.tensors.has("lm_head.weight")).toBe(false);
      expect([...c.weight("final_logits_bias").data].every((v) => v === 0)).toBe(true);
    } finally {
      c.close();
    }
  });

  it("fp32: the converted folder loads and equals the reference forward of the checkpoint within 1e-4", async () => {
    const out = fresh("fp32");
    const result = await convertCheckpoint(ckpt, out, {});
    expect(result.files).toEqual(expect.arrayContaining(["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "onnx/encoder_model.onnx", "onnx/encoder_model.onnx_data", "onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx_data"]));
    const lm = await OnnxSeq2SeqLM.load(out, { threads: 1 });
    try {
      const want = referenceLogProbs(loadReferenceSeq2Seq(ckpt));
      const rows = [
        { source: [100, 101, 102, 2], decoder: [2, 103, 104] },
        { source: [105, 2], decoder: [2, 106] },
      ];
      const { logProbs, state } = await lm.prefill(rows.map((r) => r.decoder), undefined, rows.map((r) => r.source));
      expect(maxDiffToReference(logProbs, rows, want)).toBeLessThan(1e-4);
      state.dispose();
    } finally {
      await lm.dispose();
    }
  });

  it("fp16, int8 / int4 (MatMulNBits): the converted models run and stay close to the float model", async () => {
    const want = referenceLogProbs(loadReferenceSeq2Seq(ckpt));
    const rows = [{ source: [100, 101, 102, 2], decoder: [2, 103, 104] }];
    for (const [dtype, bound] of [["fp16", 0.01], ["int8", 0.25], ["int4", 1.5]] as const) {
      const out = fresh(dtype);
      await convertCheckpoint(ckpt, out, { dtype, blockSize: 16 });
      const lm = await OnnxSeq2SeqLM.load(out, { threads: 1 });
      try {
        const { logProbs, state } = await lm.prefill(rows.map((r) => r.decoder), undefined, rows.map((r) => r.source));
        const diff = maxDiffToReference(logProbs, rows, want);
        expect(Number.isFinite(diff)).toBe(true);
        console.log(`${dtype}: max |log p - float reference| = ${diff.toFixed(3)}`);
        expect(diff).toBeLessThan(bound);
        state.dispose();
      } finally {
        await lm.dispose();
      }
    }
  });

  it("--decoder-start lang stores the target language code in generation_config.json; a bad value is a usage error", async () => {
    const out = fresh("lang");
    const cli = captureIO();
    expect(await modelCli(["convert", ckpt, "-o", out, "--decoder-start", "lang"], cli.io)).toBe(0);
    const esId = (JSON.parse(readFileSync(join(out, "tokenizer.json"), "utf8")).added_tokens as { id: number; content: string }[]).find((t) => t.content === "es_XX")!.id;
    expect(JSON.parse(readFileSync(join(out, "generation_config.json"), "utf8")).decoder_start_token_id).toBe(esId);
    expect(JSON.parse(readFileSync(join(ckpt, "generation_config.json"), "utf8")).decoder_start_token_id).toBe(2); // the input is untouched
    await expect(modelCli(["convert", ckpt, "-o", fresh("bad"), "--decoder-start", "first"], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
  });

  it("an aborted conversion leaves no output folder", async () => {
    const out = fresh("aborted");
    const controller = new AbortController();
    const pending = convertCheckpoint(ckpt, out, { signal: controller.signal, throttleMs: 5 });
    setTimeout(() => controller.abort(), 30);
    await expect(pending).rejects.toMatchObject({ code: "CONVERT_INTERRUPTED" });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(root).filter((f) => f.includes(".partial-"))).toEqual([]);
  });

  it("names a missing tensor and a shape that contradicts config.json", async () => {
    const broken = fresh("broken");
    await writeRandomSeq2SeqCheckpoint(broken, { shape: SHAPE, seed: 4 });
    const config = JSON.parse(readFileSync(join(broken, "config.json"), "utf8"));
    writeFileSync(join(broken, "config.json"), JSON.stringify({ ...config, encoder_ffn_dim: 48 }));
    await expect(convertCheckpoint(broken, fresh("out"))).rejects.toThrow(/model\.encoder\.layers\.0\.fc1\.weight has shape \[64,32\], config\.json implies \[48,32\]/);
    writeFileSync(join(broken, "config.json"), JSON.stringify({ ...config, encoder_layers: 3 }));
    await expect(convertCheckpoint(broken, fresh("out"))).rejects.toMatchObject({ code: "MODEL_FILE_MISSING", message: expect.stringContaining("model.encoder.layers.2.") });
  });
});

describe("syncabel model random --arch", () => {
  it("writes an mBART or BART folder in the HF layout that the seq2seq runtime loads", async () => {
    for (const arch of ["mbart", "bart"]) {
      const dir = fresh(`random-${arch}`);
      const cli = captureIO();
      expect(await modelCli(["random", "--arch", arch, "-o", dir, "--layers", "1", "--hidden", "16", "--heads", "2", "--intermediate", "32"], cli.io)).toBe(0);
      expect(cli.out()).toMatch(new RegExp(`wrote random ${arch === "mbart" ? "mBART" : "BART"} model`));
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      expect(config).toMatchObject({ model_type: arch, d_model: 16, encoder_layers: 1, tie_word_embeddings: true });
      const lm = await OnnxSeq2SeqLM.load(dir, { threads: 1 });
      const { logProbs, state } = await lm.prefill([[2, 3]], undefined, [[4, 2]]);
      expect(Number.isFinite(logProbs.logZ[0])).toBe(true);
      state.dispose();
      await lm.dispose();
    }
    await expect(modelCli(["random", "--arch", "t5", "-o", fresh("x")], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
  });
});
