/**
 * Random-weight Llama checkpoints in the layout Hugging Face publishes: config.json, generation_config.json, the
 * Llama-3 tokenizer resized with `<SEP>` (128257 ids), and the weights as BF16 safetensors shards
 * `model-00001-of-0000N.safetensors` listed by `model.safetensors.index.json` (`metadata.total_size`,
 * `weight_map`), split like `save_pretrained(max_shard_size="5GB")`; a single shard is `model.safetensors`.
 *
 * Written as a stream: one piece of one tensor is generated and written at a time, so an 8B checkpoint (16 GB)
 * needs a few MB of memory. Same options and seed give the same bytes.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import { llamaTensorSpecs, SINGLE_WEIGHTS_FILE, WEIGHTS_INDEX_FILE, type LlamaTensorSpec } from "../convert/checkpoint.js";
import { parseLlamaConfig, type LlamaConfig } from "../convert/llama-config.js";
import { storedBytes, writeSafetensorsStreaming, type SafetensorsDtype, type SafetensorsTensorSpec, type TensorSink } from "../convert/safetensors.js";
import { hashString } from "../util/random.js";
import { randomModelConfigJson, type RandomModelShape } from "./random-model.js";
import { LLAMA3_BOS_ID, LLAMA3_EOS_ID, TEST_TOKENIZER_VOCAB_SIZE, writeTestTokenizer } from "./test-tokenizer.js";

/** Published Meta configurations whose shapes the capacity benchmark reproduces. */
export type CheckpointPreset = "llama-3.2-1b" | "llama-3-8b";

const LLAMA3_COMMON = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: LLAMA3_BOS_ID,
  eos_token_id: LLAMA3_EOS_ID,
  hidden_act: "silu",
  initializer_range: 0.02,
  mlp_bias: false,
  model_type: "llama",
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_theta: 500000.0,
  torch_dtype: "bfloat16",
  use_cache: true,
} as const;

/**
 * config.json of meta-llama/Llama-3.2-1B and meta-llama/Meta-Llama-3-8B, with vocab_size 128257: the embedding
 * (and lm_head) resized for `<SEP>` as the SynCABEL fine-tunes are.
 */
export function presetConfigJson(preset: CheckpointPreset): Record<string, unknown> {
  if (preset === "llama-3.2-1b") {
    return {
      ...LLAMA3_COMMON,
      head_dim: 64,
      hidden_size: 2048,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      num_attention_heads: 32,
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
      tie_word_embeddings: true,
      vocab_size: TEST_TOKENIZER_VOCAB_SIZE,
    };
  }
  return {
    ...LLAMA3_COMMON,
    hidden_size: 4096,
    intermediate_size: 14336,
    max_position_embeddings: 8192,
    num_attention_heads: 32,
    num_hidden_layers: 32,
    num_key_value_heads: 8,
    rope_scaling: null,
    tie_word_embeddings: false,
    vocab_size: TEST_TOKENIZER_VOCAB_SIZE,
  };
}

export interface RandomCheckpointOptions {
  /** A published shape, or `shape` for a small custom one (exactly one of the two). */
  readonly preset?: CheckpointPreset;
  readonly shape?: RandomModelShape & {
    readonly tieWordEmbeddings?: boolean;
    readonly ropeScaling?: Readonly<Record<string, unknown>> | null;
  };
  /** PRNG seed (default 0). */
  readonly seed?: number;
  /** Stored element type (default BF16, as published). */
  readonly dtype?: SafetensorsDtype;
  /** Largest shard in bytes, as `max_shard_size` (default 5e9, Hugging Face's "5GB"). */
  readonly maxShardBytes?: number;
  /** Called after each tensor with the bytes written so far and in all. */
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export interface RandomCheckpointInfo extends ShardsWritten {
  readonly config: LlamaConfig;
}

/** Split tensors into shards the way transformers does: a new shard when the next tensor would overflow this one. */
export function planShards<T extends { readonly bytes: number }>(tensors: readonly T[], maxShardBytes: number): T[][] {
  const shards: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const t of tensors) {
    if (current.length > 0 && size + t.bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(t);
    size += t.bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

export function shardFileName(index: number, count: number): string {
  const pad = (n: number): string => String(n).padStart(5, "0");
  return count === 1 ? SINGLE_WEIGHTS_FILE : `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/** Mean and standard deviation of a tensor's uniform values (the scales of src/testing/random-model.ts). */
function initScale(spec: LlamaTensorSpec): { mean: number; std: number } {
  if (spec.shape.length === 1) return { mean: 1, std: 0.1 }; // RMSNorm weights
  if (spec.name === "model.embed_tokens.weight") return { mean: 0, std: 0.5 };
  const gain = spec.name === "lm_head.weight" ? 2 : 1;
  return { mean: 0, std: gain / Math.sqrt(spec.shape[1]) };
}

const PIECE = 1 << 20;

/** Stream a tensor's uniform values in pieces, from a mulberry32 stream seeded by (seed, tensor name). */
function fillUniform(spec: LlamaTensorSpec, seed: number, sink: TensorSink): void {
  const { mean, std } = initScale(spec);
  fillUniformValues(spec, mean, std, seed, sink);
}

/** Uniform values of mean `mean` and standard deviation `std` for a tensor, streamed in pieces (same seed, same bytes). */
export function fillUniformValues(spec: { readonly name: string; readonly shape: readonly number[] }, mean: number, std: number, seed: number, sink: TensorSink): void {
  const half = Math.sqrt(3) * std; // uniform(-a, a) has std a / sqrt(3)
  const total = spec.shape.reduce((a, b) => a * b, 1);
  let state = (hashString(spec.name) ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  const piece = new Float32Array(Math.min(PIECE, total));
  for (let done = 0; done < total; done += piece.length) {
    const n = Math.min(piece.length, total - done);
    for (let i = 0; i < n; i++) {
      // mulberry32, inlined: this loop runs 8e9 times for an 8B checkpoint.
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      piece[i] = mean + (((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1) * half;
    }
    sink(n === piece.length ? piece : piece.subarray(0, n));
  }
}

function configJsonFor(options: RandomCheckpointOptions, dtype: SafetensorsDtype): Record<string, unknown> {
  if ((options.preset === undefined) === (options.shape === undefined)) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", "random checkpoint: give exactly one of preset and shape");
  }
  if (options.preset !== undefined) return presetConfigJson(options.preset);
  const shape = options.shape as NonNullable<RandomCheckpointOptions["shape"]>;
  return {
    ...randomModelConfigJson(shape),
    tie_word_embeddings: shape.tieWordEmbeddings ?? false,
    rope_scaling: shape.ropeScaling ?? null,
    torch_dtype: { BF16: "bfloat16", F16: "float16", F32: "float32" }[dtype],
  };
}

/** Write a random checkpoint folder into `dir` (created if needed). */
export async function writeRandomCheckpoint(dir: string, options: RandomCheckpointOptions): Promise<RandomCheckpointInfo> {
  const dtype = options.dtype ?? "BF16";
  const seed = options.seed ?? 0;
  const configJson = configJsonFor(options, dtype);
  const config = parseLlamaConfig(configJson, join(dir, "config.json"));
  mkdirSync(dir, { recursive: true });
  writeTestTokenizer(dir);
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(configJson, null, 2) + "\n");
  const generation = { bos_token_id: LLAMA3_BOS_ID, do_sample: true, eos_token_id: LLAMA3_EOS_ID, temperature: 0.6, top_p: 0.9 };
  writeFileAtomic(join(dir, "generation_config.json"), JSON.stringify(generation, null, 2) + "\n");

  const written = await writeRandomShards(dir, llamaTensorSpecs(config), dtype, options.maxShardBytes ?? 5e9, (spec, sink) => fillUniform(spec, seed, sink), options.onProgress);
  return { config, ...written };
}

/** What writeRandomShards wrote. */
export interface ShardsWritten {
  readonly parameterCount: number;
  /** Bytes of tensor data (the index's metadata.total_size). */
  readonly totalBytes: number;
  /** Weight files written, relative to the folder. */
  readonly weightFiles: readonly string[];
}

/**
 * Write `specs` (each under its `name`) as safetensors shards split like save_pretrained (`model.safetensors`, or
 * `model-0000i-of-0000N.safetensors` + `model.safetensors.index.json`), each tensor's values streamed by `fill`.
 */
export async function writeRandomShards<S extends { readonly name: string; readonly shape: readonly number[] }>(
  dir: string,
  specs: readonly S[],
  dtype: SafetensorsDtype,
  maxShardBytes: number,
  fill: (spec: S, sink: TensorSink) => void,
  onProgress?: (bytesDone: number, bytesTotal: number) => void,
): Promise<ShardsWritten> {
  const tensors = specs.map((s) => ({ spec: s, name: s.name, shape: s.shape, dtype, bytes: storedBytes({ dtype, shape: s.shape }) }));
  const totalBytes = tensors.reduce((n, t) => n + t.bytes, 0);
  const shards = planShards(tensors, maxShardBytes);
  const weightMap: Record<string, string> = {};
  let done = 0;
  for (const [i, shard] of shards.entries()) {
    const file = shardFileName(i, shards.length);
    const byName = new Map(shard.map((t) => [t.name, t]));
    // Inside a file the safetensors library orders tensors by name.
    const ordered: SafetensorsTensorSpec[] = [...shard].sort((a, b) => (a.name < b.name ? -1 : 1)).map((t) => ({ name: t.name, dtype, shape: t.shape }));
    writeSafetensorsStreaming(join(dir, file), ordered, { format: "pt" }, (spec, sink) => {
      const t = byName.get(spec.name)!;
      fill(t.spec, sink);
      done += t.bytes;
      onProgress?.(done, totalBytes);
    });
    for (const t of shard) weightMap[t.name] = file;
    await new Promise<void>((resolve) => setImmediate(resolve)); // let timers and signals run between shards
  }
  if (shards.length > 1) {
    const sortedMap = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1)));
    writeFileAtomic(join(dir, WEIGHTS_INDEX_FILE), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: sortedMap }, null, 2) + "\n");
  }
  const parameterCount = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  return { parameterCount, totalBytes, weightFiles: shards.map((_, i) => shardFileName(i, shards.length)) };
}
