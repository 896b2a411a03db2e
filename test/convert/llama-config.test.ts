import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isPlainRope, loadLlamaConfig, parseLlamaConfig } from "../../src/convert/llama-config.js";

// The published Meta-Llama-3-8B config.json (architecture fields), plus the <SEP> row of the fine-tunes.
const LLAMA3_8B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: 128001,
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 8192,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 128257,
};

describe("parseLlamaConfig", () => {
  it("reads the Llama-3-8B configuration", () => {
    const c = parseLlamaConfig(LLAMA3_8B, "config.json");
    expect(c).toEqual({
      hiddenSize: 4096,
      intermediateSize: 14336,
      numHiddenLayers: 32,
      numAttentionHeads: 32,
      numKeyValueHeads: 8,
      vocabSize: 128257,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      maxPositionEmbeddings: 8192,
      headDim: 128,
      bosTokenId: 128000,
      eosTokenIds: [128001],
      padTokenId: null,
      tieWordEmbeddings: false,
      ropeScaling: null,
    });
    expect(isPlainRope(c)).toBe(true);
  });

  it("accepts an eos list, explicit head_dim and defaults kv heads to attention heads", () => {
    const { num_key_value_heads: _kv, ...noKv } = LLAMA3_8B;
    const c = parseLlamaConfig({ ...noKv, eos_token_id: [128001, 128009], head_dim: 64 }, "x");
    expect(c.eosTokenIds).toEqual([128001, 128009]);
    expect(c.headDim).toBe(64);
    expect(c.numKeyValueHeads).toBe(32);
    const llama31 = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    expect(isPlainRope(parseLlamaConfig({ ...LLAMA3_8B, rope_scaling: llama31 }, "x"))).toBe(false);
  });

  it.each([
    [{ model_type: "mistral" }, /model_type is "mistral"/],
    [{ hidden_size: 0 }, /hidden_size must be a positive integer/],
    [{ hidden_size: "4096" }, /hidden_size must be a positive integer/],
    [{ num_key_value_heads: 5 }, /not a multiple of num_key_value_heads/],
    [{ hidden_size: 4095 }, /hidden_size \(4095\) is not a multiple of num_attention_heads/],
    [{ head_dim: 7 }, /head_dim \(7\) must be even/],
    [{ eos_token_id: 200000 }, /eos_token_id 200000 is outside the vocabulary/],
    [{ eos_token_id: [128001, -1] }, /eos_token_id\[1\] must be a token id/],
    [{ rms_norm_eps: -1 }, /rms_norm_eps must be a positive number/],
    [{ tie_word_embeddings: "no" }, /tie_word_embeddings must be a boolean/],
    [{ hidden_act: "gelu" }, /hidden_act "gelu" is not supported/],
    [{ intermediate_size: undefined }, /intermediate_size must be a positive integer/],
    [{ architectures: ["LlamaForSequenceClassification"] }, /architectures \["LlamaForSequenceClassification"\] is not supported/],
    [{ model_type: "qwen2", architectures: ["Qwen2ForCausalLM"] }, /model_type is "qwen2" \(architectures Qwen2ForCausalLM\)/],
    [{ attention_bias: true }, /attention_bias true is not supported/],
    [{ rope_scaling: { rope_type: "llama3", factor: 8 } }, /rope_scaling\.low_freq_factor must be a positive number/],
    [{ rope_scaling: { rope_type: "dynamic", factor: 2 } }, /rope_scaling\.rope_type "dynamic" is not supported/],
  ])("rejects %o", (patch, message) => {
    const source = "/models/x/config.json";
    let error: unknown;
    try {
      parseLlamaConfig({ ...LLAMA3_8B, ...patch }, source);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "MODEL_CONFIG_INVALID", details: { file: source } });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message.startsWith(source)).toBe(true);
  });

  it("loadLlamaConfig names missing and malformed files", () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-config-"));
    try {
      expect(() => loadLlamaConfig(dir)).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING" }));
      writeFileSync(join(dir, "config.json"), "{ not json");
      expect(() => loadLlamaConfig(dir)).toThrow(/config\.json: not valid JSON/);
      writeFileSync(join(dir, "config.json"), JSON.stringify(LLAMA3_8B));
      expect(loadLlamaConfig(dir).numHiddenLayers).toBe(32);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
