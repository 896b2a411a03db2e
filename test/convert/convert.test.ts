import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertCheckpoint, type ConvertDtype } from "../../src/convert/convert.js";
import { openLlamaCheckpoint } from "../../src/convert/checkpoint.js";
import type { LlamaConfig } from "../../src/convert/llama-config.js";
import { loadTokenizer } from "../../src/lm/tokenizer.js";
import { Linker } from "../../src/index.js";
import { writeRandomCheckpoint, type RandomCheckpointOptions } from "../../src/testing/random-checkpoint.js";
import { loadReferenceLlama } from "../../src/testing/reference-llama.js";
import { LLAMA3_SEP_ID } from "../../src/testing/test-tokenizer.js";
import { buildKbFromRows } from "../support/kb.js";
import { maxAbsDiff } from "../support/tiny-model.js";

const SHAPE = { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 3 } as const;
// Shards of at most 8 MB: the 8.2 MB bf16 embedding alone, then the layers, then lm_head (3 shards, as HF splits).
const SHARD_BYTES = 8e6;
// Real Llama-3 ids of "<|begin_of_text|>El paciente con [embolia]{ENFERMEDAD} tose.<SEP>[embolia] es".
const PROMPT = [128000, 6719, 73512, 390, 510, 9034, 39260, 15731, 965, 26165, 76206, 1846, 92, 128256, 58, 1560];
const LLAMA3_ROPE = { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: "llama3" };

let root: string;
let counter = 0;
const fresh = (name: string): string => join(root, `${name}-${counter++}`);

async function checkpoint(options: Partial<RandomCheckpointOptions> = {}): Promise<string> {
  const dir = fresh("ckpt");
  await writeRandomCheckpoint(dir, { shape: SHAPE, maxShardBytes: SHARD_BYTES, ...options });
  return dir;
}

/** Log-softmax rows of the converted ONNX model at every prompt position (num_logits_to_keep 0 = all). */
async function onnxLogProbs(modelDir: string, config: LlamaConfig, ids: readonly number[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(join(modelDir, "onnx", "model.onnx"));
  const n = ids.length;
  const i64 = (values: number[], dims: number[]): ort.Tensor => new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64([...ids], [1, n]),
    attention_mask: i64(ids.map(() => 1), [1, n]),
    position_ids: i64(ids.map((_, i) => i), [1, n]),
  };
  if (session.inputNames.includes("num_logits_to_keep")) feeds.num_logits_to_keep = i64([0], []);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    for (const kind of ["key", "value"]) {
      feeds[`past_key_values.${l}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [1, config.numKeyValueHeads, 0, config.headDim]);
    }
  }
  const out = await session.run(feeds);
  await session.release();
  const logits = out.logits.data as Float32Array;
  const V = config.vocabSize;
  expect(out.logits.dims).toEqual([1, n, V]);
  return Array.from({ length: n }, (_, t) => {
    const row = logits.subarray(t * V, (t + 1) * V);
    // Indexed loops: 16 rows of a 128k vocabulary.
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (row[i] > max) max = row[i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(row[i] - max);
    const logZ = max + Math.log(sum);
    const out = new Float32Array(V);
    for (let i = 0; i < V; i++) out[i] = row[i] - logZ;
    return out;
  });
}

async function expectMatchesReference(source: string, out: string): Promise<void> {
  const reference = loadReferenceLlama(source);
  const expected = reference.logProbs(PROMPT);
  const got = await onnxLogProbs(out, reference.config, PROMPT);
  for (let t = 0; t < PROMPT.length; t++) expect(maxAbsDiff(got[t], expected[t]), `position ${t}`).toBeLessThan(2e-4);
}

async function errorOf(p: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error("expected an error");
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "syncabel-convert-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("convertCheckpoint", () => {
  it("converts a sharded bf16 checkpoint into a folder whose ONNX logits equal the reference forward", async () => {
    const source = await checkpoint();
    expect(readdirSync(source).filter((f) => f.endsWith(".safetensors"))).toEqual([
      "model-00001-of-00003.safetensors",
      "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors",
    ]);
    const out = fresh("out");
    const progress: number[] = [];
    const result = await convertCheckpoint(source, out, { onProgress: (p) => progress.push(p.bytesDone / p.bytesTotal) });
    expect(readdirSync(join(out, "onnx")).sort()).toEqual(["model.onnx", "model.onnx_data"]);
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]) {
      expect(readFileSync(join(out, f)).equals(readFileSync(join(source, f))), f).toBe(true);
    }
    expect(progress.at(-1)).toBe(1);
    expect(progress.every((p, i) => i === 0 || p >= progress[i - 1])).toBe(true);
    // Every stored byte was read once; fp32 ONNX weights are twice the bf16 bytes (plus small constants).
    const index = JSON.parse(readFileSync(join(source, "model.safetensors.index.json"), "utf8")) as { metadata: { total_size: number } };
    expect(result.inputBytes).toBe(index.metadata.total_size);
    expect(result.onnxBytes).toBeGreaterThan(2 * index.metadata.total_size);
    expect(readdirSync(root).filter((f) => f.includes(".partial-"))).toEqual([]);
    await expectMatchesReference(source, out);
  }, 60_000);

  it.each(["F16", "F32"] as const)("reads %s checkpoints exactly", async (dtype) => {
    const source = await checkpoint({ dtype, maxShardBytes: dtype === "F32" ? 20e6 : SHARD_BYTES });
    const out = fresh("out");
    await convertCheckpoint(source, out);
    await expectMatchesReference(source, out);
  }, 60_000);

  it("handles tied embeddings and llama3 rope scaling (the Llama-3.2 layout) and keeps <SEP>", async () => {
    const source = await checkpoint({ shape: { ...SHAPE, tieWordEmbeddings: true, ropeScaling: LLAMA3_ROPE } });
    const ckpt = openLlamaCheckpoint(source);
    expect(ckpt.tensors.has("lm_head.weight")).toBe(false); // tied: not stored, as transformers saves it
    ckpt.close();
    const out = fresh("out");
    await convertCheckpoint(source, out);
    await expectMatchesReference(source, out);
    const tokenizer = await loadTokenizer(out);
    expect(tokenizer.encode("dolor<SEP>[dolor] es", { addSpecialTokens: false })).toContain(LLAMA3_SEP_ID);
    expect(tokenizer.sepTokenId).toBe(LLAMA3_SEP_ID);
    expect(JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")).sep_token).toBe("<SEP>");
  }, 60_000);

  it("writes fp16, int8 and int4 models that run and are smaller than fp32", async () => {
    const source = await checkpoint({ shape: { ...SHAPE, layers: 1 } });
    const fp32 = await convertCheckpoint(source, fresh("fp32"));
    const reference = loadReferenceLlama(source);
    for (const dtype of ["fp16", "int8", "int4"] as ConvertDtype[]) {
      const out = fresh(dtype);
      const result = await convertCheckpoint(source, out, { dtype, blockSize: 32 });
      expect(result.onnxBytes, dtype).toBeLessThan(fp32.onnxBytes * 0.6);
      const got = await onnxLogProbs(out, reference.config, PROMPT);
      expect(got.every((row) => row.every(Number.isFinite)), dtype).toBe(true);
    }
  }, 60_000);

  it("links a sentence through Linker.open on the converted folder", async () => {
    const source = await checkpoint();
    const out = fresh("out");
    await convertCheckpoint(source, out, { dtype: "int4" });
    const dir = fresh("kb");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(dir);
    const kb = await buildKbFromRows(dir, [
      ["59282003", "embolia pulmonar", "ENFERMEDAD"],
      ["38341003", "hipertensión arterial", "ENFERMEDAD"],
      ["22298006", "infarto de miocardio", "ENFERMEDAD"],
    ]);
    const linker = await Linker.open({ kb, model: out, language: "es", threads: 1 });
    try {
      const [result] = await linker.sample(["El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó disnea."], { num_beams: 3 });
      expect(result.beams?.length).toBe(3);
      const codes = (result.beams ?? []).map((b) => b.pred_concept_code).sort();
      expect(codes).toEqual(["22298006", "38341003", "59282003"]);
    } finally {
      await linker.close();
    }
  }, 60_000);
});

describe("convertCheckpoint errors", () => {
  let good: string;
  beforeAll(async () => {
    good = await checkpoint({ shape: { ...SHAPE, layers: 1 } });
  });

  /** A copy of the good checkpoint, changed by `edit`. */
  async function broken(edit: (dir: string) => void): Promise<string> {
    const dir = await checkpoint({ shape: { ...SHAPE, layers: 1 } });
    edit(dir);
    return dir;
  }
  const editJson = (path: string, change: (j: Record<string, unknown>) => void): void => {
    const j = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    change(j);
    writeFileSync(path, JSON.stringify(j));
  };

  it.each([
    ["mistral", { model_type: "mistral", architectures: ["MistralForCausalLM"] }, /model_type is "mistral" \(architectures MistralForCausalLM\)/],
    ["a llama classifier", { architectures: ["LlamaForSequenceClassification"] }, /architectures \["LlamaForSequenceClassification"\] is not supported/],
    ["an unknown rope scaling", { rope_scaling: { rope_type: "yarn", factor: 4 } }, /rope_scaling.rope_type "yarn" is not supported/],
  ])("rejects %s naming it", async (_name, patch, message) => {
    const dir = await broken((d) => editJson(join(d, "config.json"), (j) => Object.assign(j, patch)));
    const e = await errorOf(convertCheckpoint(dir, fresh("out")));
    expect(e).toMatchObject({ code: "MODEL_CONFIG_INVALID" });
    expect(e.message).toMatch(message);
    expect(e.message).toContain(join(dir, "config.json"));
  });

  it("names a missing shard", async () => {
    const dir = await broken((d) => rmSync(join(d, "model-00002-of-00003.safetensors")));
    const e = await errorOf(convertCheckpoint(dir, fresh("out")));
    expect(e).toMatchObject({ code: "MODEL_FILE_MISSING" });
    expect(e.message).toContain(join(dir, "model-00002-of-00003.safetensors"));
    expect(e.message).toMatch(/listed in .*model\.safetensors\.index\.json is missing/);
  });

  it("names a truncated shard", async () => {
    const shard = "model-00003-of-00003.safetensors";
    const dir = await broken((d) => truncateSync(join(d, shard), statSync(join(d, shard)).size - 100));
    const e = await errorOf(convertCheckpoint(dir, fresh("out")));
    expect(e).toMatchObject({ code: "MODEL_CONFIG_INVALID" });
    expect(e.message).toContain(join(dir, shard));
    expect(e.message).toMatch(/past the end of the file \(truncated\?\)/);
  });

  it("rejects a header whose offsets overlap", async () => {
    const shard = "model-00002-of-00003.safetensors";
    const dir = await broken((d) => {
      // Point one tensor at the bytes of another of the same size, keeping the header length.
      const bytes = readFileSync(join(d, shard));
      const n = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<string, { data_offsets: number[] }>;
      header["model.layers.0.mlp.up_proj.weight"].data_offsets = [...header["model.layers.0.mlp.gate_proj.weight"].data_offsets];
      const json = Buffer.from(JSON.stringify(header).padEnd(n, " "));
      expect(json.length).toBe(n);
      json.copy(bytes, 8);
      writeFileSync(join(d, shard), bytes);
    });
    const e = await errorOf(convertCheckpoint(dir, fresh("out")));
    expect(e).toMatchObject({ code: "MODEL_CONFIG_INVALID" });
    expect(e.message).toContain(join(dir, shard));
    expect(e.message).toMatch(/overlap tensor model\.layers\.0\.mlp\.(gate|up)_proj\.weight/);
  });

  it("names missing tensors and shapes that contradict config.json", async () => {
    const missing = await broken((d) =>
      editJson(join(d, "model.safetensors.index.json"), (j) => delete (j.weight_map as Record<string, string>)["model.layers.0.self_attn.k_proj.weight"]),
    );
    const e1 = await errorOf(convertCheckpoint(missing, fresh("out")));
    expect(e1).toMatchObject({ code: "MODEL_FILE_MISSING" });
    expect(e1.message).toContain("model.layers.0.self_attn.k_proj.weight");

    const shape = await broken((d) => editJson(join(d, "config.json"), (j) => (j.intermediate_size = 128)));
    const e2 = await errorOf(convertCheckpoint(shape, fresh("out")));
    expect(e2).toMatchObject({ code: "MODEL_CONFIG_INVALID" });
    expect(e2.message).toMatch(/model-0000\d-of-00003\.safetensors: tensor model\.layers\.0\.mlp\.\w+_proj\.weight has shape \[\d+,\d+\], config.json implies/);

    const escape = await broken((d) =>
      editJson(join(d, "model.safetensors.index.json"), (j) => ((j.weight_map as Record<string, string>)["model.norm.weight"] = "../elsewhere.safetensors")),
    );
    expect(await errorOf(convertCheckpoint(escape, fresh("out")))).toMatchObject({ code: "MODEL_CONFIG_INVALID", message: expect.stringMatching(/not a .safetensors file name in the folder/) });
  });

  it("rejects a tokenizer whose added tokens lie outside the embedding", async () => {
    // The base Llama-3 vocabulary (128256) without the resize for <SEP> (id 128256).
    const small = fresh("ckpt");
    await writeRandomCheckpoint(small, { shape: { ...SHAPE, layers: 1, vocabSize: 128256 }, maxShardBytes: SHARD_BYTES });
    const e = await errorOf(convertCheckpoint(small, fresh("out")));
    expect(e).toMatchObject({ code: "MODEL_CONFIG_INVALID" });
    expect(e.message).toMatch(/added token "<SEP>" has id 128256, outside the embedding/);
  });

  it("refuses an existing output (unless force), the input itself and folders inside it", async () => {
    const out = fresh("out");
    const fp32 = await convertCheckpoint(good, out);
    const before = statSync(join(out, "onnx", "model.onnx_data")).mtimeMs;
    expect(await errorOf(convertCheckpoint(good, out))).toMatchObject({ code: "CONVERT_OUTPUT_INVALID", message: expect.stringMatching(/exists: remove it or pass --force/) });
    expect(statSync(join(out, "onnx", "model.onnx_data")).mtimeMs).toBe(before);
    for (const target of [good, join(good, "onnx"), join(good, ".")]) {
      expect(await errorOf(convertCheckpoint(good, target, { force: true }))).toMatchObject({ code: "CONVERT_OUTPUT_INVALID" });
    }
    expect(await errorOf(convertCheckpoint(good, root, { force: true }))).toMatchObject({ code: "CONVERT_OUTPUT_INVALID", message: expect.stringMatching(/contains the checkpoint/) });
    expect(existsSync(join(good, "config.json"))).toBe(true);
    await convertCheckpoint(good, out, { force: true, dtype: "int4" });
    expect(statSync(join(out, "onnx", "model.onnx_data")).size).toBeLessThan(fp32.onnxBytes / 2); // the int4 model replaced the fp32 one
    expect(readdirSync(root).filter((f) => f.includes(".old-") || f.includes(".partial-"))).toEqual([]);
  }, 60_000);

  it("removes the partial output when aborted", async () => {
    const out = fresh("out");
    const controller = new AbortController();
    const e = await errorOf(
      convertCheckpoint(good, out, { onProgress: (p) => p.bytesDone > p.bytesTotal / 3 && controller.abort(), signal: controller.signal }),
    );
    expect(e).toMatchObject({ code: "CONVERT_INTERRUPTED" });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(root).filter((f) => f.includes(".partial-"))).toEqual([]);
  });
});
