/**
 * Random-weight Llama test models: a complete Hugging Face model folder (config.json, generation_config.json,
 * the real Llama-3 tokenizer plus `<SEP>`, model.safetensors) and its ONNX export with KV cache
 * (onnx/model.onnx). Weights come from a seeded PRNG, so the same shape and seed give the same files.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import { parseLlamaConfig, type LlamaConfig } from "../convert/llama-config.js";
import { writeLlamaOnnx, type WriteOnnxOptions, type WriteOnnxResult } from "../convert/onnx-llama-graph.js";
import { mulberry32 } from "../util/random.js";
import { writeSafetensors, type Float32Tensor } from "../convert/safetensors.js";
import { LLAMA3_BOS_ID, LLAMA3_EOS_ID, LLAMA3_PAD_ID, TEST_TOKENIZER_VOCAB_SIZE, writeTestTokenizer } from "./test-tokenizer.js";

export interface RandomModelShape {
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly intermediate: number;
  /** PRNG seed (default 0). */
  readonly seed?: number;
  /** Rows of the embedding / lm_head (default: the test tokenizer's 128257). */
  readonly vocabSize?: number;
  /** config.json tie_word_embeddings (no lm_head.weight in the checkpoint). Default false. */
  readonly tieWordEmbeddings?: boolean;
  /** config.json rope_scaling, e.g. Llama-3.1's {rope_type: "llama3", factor: 8, ...}. Default null. */
  readonly ropeScaling?: Readonly<Record<string, unknown>> | null;
}

/** Which ONNX export of the random model to write (writer options plus the file inside the folder). */
export interface RandomModelOnnxOptions extends WriteOnnxOptions {
  /** Path of the ONNX file inside the model folder. Default "onnx/model.onnx". */
  readonly modelFile?: string;
}

export interface RandomModelInfo {
  readonly config: LlamaConfig;
  readonly parameterCount: number;
  /** Paths of the files written, relative to the model folder. */
  readonly files: readonly string[];
  readonly onnx: WriteOnnxResult;
}

/** Uniform values with mean `mean` and standard deviation `std`. */
function randomTensor(shape: number[], rand: () => number, std: number, mean = 0): Float32Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const half = Math.sqrt(3) * std; // uniform(-a, a) has std a / sqrt(3)
  for (let i = 0; i < n; i++) data[i] = mean + (2 * rand() - 1) * half;
  return { shape, data };
}

/** The HF config.json object for a random Llama of `shape`. */
export function randomModelConfigJson(shape: RandomModelShape): Record<string, unknown> {
  for (const key of ["layers", "hidden", "heads", "kvHeads", "intermediate"] as const) {
    if (!Number.isSafeInteger(shape[key]) || shape[key] <= 0) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `random model: ${key} must be a positive integer, got ${shape[key]}`);
    }
  }
  if (shape.hidden % shape.heads !== 0) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `random model: hidden (${shape.hidden}) must be a multiple of heads (${shape.heads})`);
  }
  const vocabSize = shape.vocabSize ?? TEST_TOKENIZER_VOCAB_SIZE;
  // A vocabulary smaller than the tokenizer's (only for tiny numeric tests) cannot hold the special ids.
  const special = (id: number): number | null => (id < vocabSize ? id : null);
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: special(LLAMA3_BOS_ID),
    eos_token_id: special(LLAMA3_EOS_ID),
    pad_token_id: special(LLAMA3_PAD_ID),
    hidden_act: "silu",
    hidden_size: shape.hidden,
    head_dim: shape.hidden / shape.heads,
    initializer_range: 0.02,
    intermediate_size: shape.intermediate,
    max_position_embeddings: 8192,
    mlp_bias: false,
    num_attention_heads: shape.heads,
    num_hidden_layers: shape.layers,
    num_key_value_heads: shape.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: shape.ropeScaling ?? null,
    rope_theta: 500000.0,
    tie_word_embeddings: shape.tieWordEmbeddings ?? false,
    torch_dtype: "float32",
    use_cache: true,
    vocab_size: vocabSize,
  };
}

/**
 * Random weights by HF tensor name. Linear weights are uniform with std gain/sqrt(fan_in) so activations keep
 * their scale through the layers (attention scores of order 1, not uniform); lm_head uses gain 2 so the
 * next-token distribution is neither flat nor one-hot; norm weights are 1 +- 0.1.
 */
export function randomLlamaWeights(config: LlamaConfig, seed: number): Map<string, Float32Tensor> {
  const rand = mulberry32(seed);
  const H = config.hiddenSize;
  const D = config.headDim;
  const I = config.intermediateSize;
  const w = new Map<string, Float32Tensor>();
  const linear = (name: string, out: number, inp: number, gain = 1): void => {
    w.set(name, randomTensor([out, inp], rand, gain / Math.sqrt(inp)));
  };
  const norm = (name: string): void => {
    w.set(name, randomTensor([H], rand, 0.1, 1));
  };
  w.set("model.embed_tokens.weight", randomTensor([config.vocabSize, H], rand, 0.5));
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`);
    linear(`${p}.self_attn.q_proj.weight`, config.numAttentionHeads * D, H);
    linear(`${p}.self_attn.k_proj.weight`, config.numKeyValueHeads * D, H);
    linear(`${p}.self_attn.v_proj.weight`, config.numKeyValueHeads * D, H);
    linear(`${p}.self_attn.o_proj.weight`, H, config.numAttentionHeads * D);
    norm(`${p}.post_attention_layernorm.weight`);
    linear(`${p}.mlp.gate_proj.weight`, I, H);
    linear(`${p}.mlp.up_proj.weight`, I, H);
    linear(`${p}.mlp.down_proj.weight`, H, I);
  }
  norm("model.norm.weight");
  if (!config.tieWordEmbeddings) linear("lm_head.weight", config.vocabSize, H, 2);
  return w;
}

/**
 * Write a random-weight Llama model folder into `dir` (created if needed): config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json, model.safetensors,
 * onnx/model.onnx (plus onnx/model.onnx_data above ~1.5 GB of weights).
 */
export async function writeRandomModel(
  dir: string,
  shape: RandomModelShape,
  options: RandomModelOnnxOptions = {},
): Promise<RandomModelInfo> {
  const configJson = randomModelConfigJson(shape);
  const config = parseLlamaConfig(configJson, join(dir, "config.json"));
  mkdirSync(join(dir, "onnx"), { recursive: true });

  const weights = randomLlamaWeights(config, shape.seed ?? 0);
  let parameterCount = 0;
  for (const t of weights.values()) parameterCount += t.data.length;

  writeTestTokenizer(dir);
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(configJson, null, 2) + "\n");
  const generationConfig = {
    bos_token_id: LLAMA3_BOS_ID,
    eos_token_id: LLAMA3_EOS_ID,
    pad_token_id: LLAMA3_PAD_ID,
    do_sample: false,
  };
  writeFileAtomic(join(dir, "generation_config.json"), JSON.stringify(generationConfig, null, 2) + "\n");
  writeSafetensors(join(dir, "model.safetensors"), weights, { format: "pt" });
  const { modelFile = "onnx/model.onnx", ...writerOptions } = options;
  const onnx = await writeLlamaOnnx(
    config,
    (name) => {
      const t = weights.get(name);
      if (t === undefined) throw new SyncabelError("MODEL_FILE_MISSING", `random model: no weight ${name}`);
      return t;
    },
    join(dir, modelFile),
    writerOptions,
  );
  const files = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "model.safetensors",
    modelFile,
    ...(onnx.externalDataPath !== null ? [`${modelFile}_data`] : []),
  ];
  return { config, parameterCount, files, onnx };
}
