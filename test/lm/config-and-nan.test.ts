/**
 * Regression tests of issue 16 (models): absurd or malformed sizes in config.json fail with MODEL_CONFIG_INVALID
 * before anything is allocated (conversion and runtime), and a model whose logits turn NaN for one sentence gives
 * that sentence a MODEL_RUNTIME error while the others of its batch are linked.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { parseLlamaConfig } from "../../src/convert/llama-config.js";
import { isSyncabelError } from "../../src/errors.js";
import { openLinker } from "../../src/linker/open.js";
import { loadOnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer } from "../../src/lm/tokenizer.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";
import { makeTinyModel } from "../support/tiny-model.js";

const LLAMA = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 4096, intermediate_size: 14336, num_attention_heads: 32,
  num_hidden_layers: 32, num_key_value_heads: 8, vocab_size: 128257, max_position_embeddings: 8192, rope_theta: 500000, rms_norm_eps: 1e-5,
};

/** What `run` throws (undefined when it does not). */
async function errorOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectConfigError(e: unknown, message: RegExp): void {
  expect(isSyncabelError(e) && e.code).toBe("MODEL_CONFIG_INVALID");
  expect((e as Error).message).toMatch(message);
}

describe("config.json sizes are bounded before any allocation", () => {
  it.each([
    [{ num_hidden_layers: 1e8 }, /num_hidden_layers 100000000 is above 1024/],
    [{ vocab_size: 2 ** 40 }, /vocab_size 1099511627776 is above/],
    [{ max_position_embeddings: 1e9 }, /max_position_embeddings 1000000000 is above/],
    [{ intermediate_size: 1e9 }, /intermediate_size 1000000000 is above/],
    [{ num_key_value_heads: -1 }, /num_key_value_heads must be a positive integer, got -1/],
    [{ head_dim: -16 }, /head_dim must be a positive integer, got -16/],
    [{ pad_token_id: 0.5 }, /pad_token_id must be a token id, got 0.5/],
    [{ rope_theta: 5e-324 }, /rope_theta must be at least 1/],
  ])("model convert: %o", async (patch, message) => {
    expectConfigError(await errorOf(() => parseLlamaConfig({ ...LLAMA, ...patch }, "config.json")), message);
  });

  describe("at run time", () => {
    let dir: string;
    let cleanup: () => void;
    let original: string;
    beforeAll(async () => {
      ({ dir, cleanup } = await makeTinyModel({ layers: 1 }));
      original = readFileSync(join(dir, "config.json"), "utf8");
    });
    afterAll(() => cleanup());

    it.each([
      [{ num_key_value_heads: -1 }, /num_key_value_heads must be a positive integer, got -1/],
      [{ head_dim: -16 }, /head_dim must be a positive integer, got -16/],
      [{ pad_token_id: 0.5 }, /pad_token_id must be a token id below vocab_size/],
      [{ num_attention_heads: 3 }, /hidden_size is not a multiple of num_attention_heads/],
      [{ num_key_value_heads: 1e12 }, /num_key_value_heads 1000000000000 is above 1024/],
      [{ vocab_size: "128257" }, /vocab_size must be a positive integer/],
    ])("%o", async (patch, message) => {
      writeFileSync(join(dir, "config.json"), JSON.stringify({ ...JSON.parse(original), head_dim: undefined, ...patch }));
      const e = await errorOf(async () => (await loadOnnxCausalLM(dir, { threads: 1 })).dispose());
      writeFileSync(join(dir, "config.json"), original);
      expectConfigError(e, message);
    });
  });
});

describe("non-finite logits", () => {
  let dir: string;
  let cleanup: () => void;
  let kbPath: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTinyModel({ layers: 1 }));
    kbPath = await buildKbFromRows(dir, [["1", "fiebre", "SINTOMA"], ["2", "tos", "SINTOMA"]], join(dir, "kb.sqlite"));
    // Poison the embedding row of one token: every sentence holding it gets NaN logits, the others none.
    const tokenizer = await loadTokenizer(dir);
    const poisoned = tokenizer.encode(" zebra", { addSpecialTokens: false })[0] as number;
    const file = join(dir, "onnx", "model.onnx");
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(file));
    const embed = model.graph?.initializer?.find((t) => t.name === "model.embed_tokens.weight");
    if (!embed?.rawData) throw new Error("fixture: no embedding initializer");
    const rows = new Float32Array(Uint8Array.from(embed.rawData).buffer);
    const hidden = rows.length / 128257;
    rows.fill(Number.NaN, poisoned * hidden, (poisoned + 1) * hidden);
    embed.rawData = new Uint8Array(rows.buffer);
    writeFileSync(file, onnxProto.onnx.ModelProto.encode(model).finish());
  });
  afterAll(() => cleanup());

  it("give the sentence that triggers them a MODEL_RUNTIME error; its batch's other sentences are linked", async () => {
    const linker = await openLinker({ kb: kbPath, model: dir, threads: 1 });
    try {
      const results = await linker.sample(["Refiere [tos]{SINTOMA}.", "Una zebra con [fiebre]{SINTOMA}.", "Con [fiebre]{SINTOMA} alta."], { num_beams: 2, batch_size: 8, max_new_tokens: 8 });
      expect(results[1]?.error?.code).toBe("MODEL_RUNTIME");
      expect(results[1]?.error?.message).toMatch(/non-finite logits/);
      for (const i of [0, 2]) expect(results[i]?.beams?.length, `sentence ${i}`).toBeGreaterThan(0);
    } finally {
      await linker.close();
    }
    const c = captureIO();
    expect(await main(["link", "--kb", kbPath, "--model", dir, "--beams", "2", "--max-new-tokens", "8", "--threads", "1", "Una zebra con [fiebre]{SINTOMA}."], c.io)).toBe(1);
    expect(JSON.parse(c.out()).error.code).toBe("MODEL_RUNTIME");
  });
});
