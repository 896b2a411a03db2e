/**
 * Writes the ONNX model of a Llama causal LM (same semantics as Hugging Face LlamaForCausalLM) with a KV cache,
 * in the IO layout of the published exports. Default (no options) = Hugging Face Optimum
 * `text-generation-with-past`:
 *
 *   inputs   input_ids [batch, seq] int64, attention_mask [batch, past+seq] int64, position_ids [batch, seq] int64,
 *            past_key_values.{i}.key / .value [batch, kv_heads, past, head_dim] float32
 *   outputs  logits [batch, seq, vocab] float32, present.{i}.key / .value [batch, kv_heads, past+seq, head_dim]
 *
 * Variants (WriteOnnxOptions): no position_ids input (older Optimum Llama exports), the merged decoder
 * (`use_cache_branch` + If), logits of the last position only or of the last N (`num_logits_to_keep` /
 * `logits_to_keep` input), com.microsoft.GroupQueryAttention (onnxruntime-genai / onnx-community), float16 KV cache
 * and logits, float16 weights, and int8/int4 weight-only quantization with com.microsoft.MatMulNBits.
 *
 * With standard ops, query i (absolute slot past+i) may attend key slot j iff attention_mask[j] == 1 and
 * j <= past+i; masked scores get -1e9 added (not -inf) so a fully padded row yields finite garbage, not NaN.
 *
 * Weights are streamed: each tensor is requested from the WeightSource, converted, appended to `<model>_data`
 * (4 KiB aligned, Optimum-style external data) and dropped. Below `externalDataThreshold` bytes they are put back
 * inline (one file). Both files are written to temp files and renamed into place.
 */
import { SyncabelError } from "../errors.js";
import type { LlamaConfig } from "./llama-config.js";
import { buildLlamaDecoder, llamaGraphIo, LLAMA_ONNX_IO, type IoDtype, type LlamaGraphVariant, type LogitsMode } from "./llama-graph.js";
import { LlamaWeights, type FloatStorage, type LinearStorage, type WeightSource } from "./llama-weights.js";
import { GraphBuilder } from "./onnx-graph-builder.js";
import { writeOnnxModelFile, type WriteOnnxResult } from "./onnx-file-writer.js";
import { validateBlockSize } from "./quantize.js";
import { llama3Scaling } from "./rope.js";

export { LLAMA_ONNX_IO, MASK_NEGATIVE, type IoDtype, type LogitsMode } from "./llama-graph.js";
export type { WeightSource } from "./llama-weights.js";
export { plainInverseFrequencies } from "./rope.js";

export { DEFAULT_EXTERNAL_DATA_THRESHOLD, ONNX_IR_VERSION, ONNX_OPSET, type WriteOnnxResult } from "./onnx-file-writer.js";
import { DEFAULT_EXTERNAL_DATA_THRESHOLD } from "./onnx-file-writer.js";

export type WeightDtype = "fp32" | "fp16" | "int8" | "int4" | "int8-dynamic";

export interface QuantizationOptions {
  /** Weights per scale along K (power of two >= 16). Default 32. */
  readonly blockSize?: number;
  /** Symmetric (no zero points, implicit 2^(bits-1)) or with packed uint8 zero points. Default true. */
  readonly symmetric?: boolean;
  /** Quantize the vocabulary projection too. Default true (as onnxruntime-genai's int4). */
  readonly lmHead?: boolean;
  /**
   * MatMulNBits accuracy_level: 0 (default) multiplies float32 activations with the dequantized weights, so the
   * output equals a float model with those weights; 4 quantizes activations to int8 too (faster on CPU, inexact).
   */
  readonly accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Storage of the embedding table: "fp32" / "fp16" (Gather) or "quantized" (com.microsoft.GatherBlockQuantized
   * with the same bits, block size and symmetry as the MatMuls; hidden_size must be a multiple of the block size).
   * Default "fp16".
   */
  readonly embeddings?: FloatStorage | "quantized";
}

/**
 * Which export to write. Every field is optional; the defaults give the Optimum `text-generation-with-past` graph
 * in float32.
 */
export interface WriteOnnxOptions {
  /** Total weight bytes above which initializers stay in `<name>_data` beside the model. Default 1.5e9; 0 = always. */
  readonly externalDataThreshold?: number;
  /** Element type of the KV cache inputs/outputs and of the logits. Default "float32". */
  readonly ioDtype?: IoDtype;
  /**
   * Storage of the projection weights: "fp32" (default), "fp16" (float16 initializers cast to float32 at use, as
   * in Optimum fp16 files), "int8" / "int4" (com.microsoft.MatMulNBits, see `quantization`), "int8-dynamic"
   * (onnxruntime `quantize_dynamic`, the layout of transformers.js `model_quantized.onnx` / `model_int8.onnx`:
   * per-tensor int8 weights, activations quantized at run time by DynamicQuantizeLinear, so not exact).
   */
  readonly weightDtype?: WeightDtype;
  readonly quantization?: QuantizationOptions;
  /**
   * "input" (default): a position_ids input. "from-mask": none (older Optimum Llama exports); the graph computes
   * transformers' cumsum(attention_mask) - 1 with pads set to 1.
   */
  readonly positionIds?: "input" | "from-mask";
  /**
   * "all" (default, Optimum): logits [B, S, V]. "last": [B, 1, V] for the last position, no extra input.
   * "num_logits_to_keep" / "logits_to_keep": an int64 scalar input of that name; logits [B, N, V] for the last N
   * positions (0 = all). The vocabulary projection runs on the kept positions only.
   */
  readonly logits?: LogitsMode;
  /**
   * "standard" (default): standard ONNX ops. "gqa": com.microsoft.GroupQueryAttention as onnxruntime-genai's
   * model builder emits it (seqlens_k = ReduceSum(attention_mask) - 1 as int32, total_sequence_length int32).
   */
  readonly attention?: "standard" | "gqa";
  /**
   * With "gqa": "fused" (default; genai on CPU) = packed QKV MatMul and rotary inside the op (do_rotary,
   * cos_cache/sin_cache), no position_ids input; "separate" = Q/K/V MatMuls and com.microsoft.RotaryEmbedding fed
   * by position_ids.
   */
  readonly gqaRotary?: "fused" | "separate";
  /** Optimum `decoder_model_merged.onnx`: a `use_cache_branch` bool[1] input selecting an If branch. */
  readonly merged?: boolean;
  /** Called after each Hugging Face tensor is converted and written. */
  readonly onProgress?: (p: WriteOnnxProgress) => void;
  /** Checked before each tensor: when aborted, the temp files are removed and the signal's reason is thrown. */
  readonly signal?: AbortSignal;
}

export interface WriteOnnxProgress {
  readonly tensor: string;
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  /** Weight bytes written so far (after conversion / quantization). */
  readonly bytesWritten: number;
}

function invalidOption(message: string): SyncabelError {
  return new SyncabelError("MODEL_CONFIG_INVALID", `ONNX writer: ${message}`);
}

/** Apply defaults and reject combinations no published export has. */
export function resolveVariant(options: WriteOnnxOptions): LlamaGraphVariant {
  const dtype = options.weightDtype ?? "fp32";
  const q = options.quantization ?? {};
  let linear: LinearStorage;
  let lmHead: LinearStorage;
  let embeddings: LinearStorage;
  if (dtype === "int4" || dtype === "int8") {
    const blockSize = q.blockSize ?? 32;
    validateBlockSize(blockSize);
    linear = { kind: "nbits", bits: dtype === "int4" ? 4 : 8, blockSize, symmetric: q.symmetric ?? true, accuracyLevel: q.accuracyLevel ?? 0 };
    lmHead = q.lmHead === false ? { kind: "fp32" } : linear;
    const e = q.embeddings ?? "fp16";
    embeddings = e === "quantized" ? linear : { kind: e };
  } else if (dtype === "int8-dynamic") {
    linear = lmHead = embeddings = { kind: dtype };
  } else if (dtype === "fp32" || dtype === "fp16") {
    linear = lmHead = embeddings = { kind: dtype };
  } else {
    throw invalidOption(`weightDtype must be fp32, fp16, int8, int4 or int8-dynamic, got ${JSON.stringify(dtype)}`);
  }
  const v: LlamaGraphVariant = {
    ioDtype: options.ioDtype ?? "float32",
    linear,
    lmHead,
    embeddings,
    positionIds: options.positionIds ?? "input",
    logits: options.logits ?? "all",
    attention: options.attention ?? "standard",
    gqaRotary: options.gqaRotary ?? "fused",
    merged: options.merged ?? false,
  };
  if (v.merged && v.attention === "gqa") throw invalidOption("merged decoders use standard attention (Optimum); GroupQueryAttention exports are not merged");
  if (!["float32", "float16"].includes(v.ioDtype)) throw invalidOption(`ioDtype must be float32 or float16, got ${JSON.stringify(v.ioDtype)}`);
  if (!["all", "last", "num_logits_to_keep", "logits_to_keep"].includes(v.logits)) throw invalidOption(`unknown logits mode ${JSON.stringify(v.logits)}`);
  return v;
}

/** Emit the whole graph (top-level nodes; for the merged layout one If over two branches). */
async function buildGraph(config: LlamaConfig, weights: LlamaWeights, v: LlamaGraphVariant): Promise<GraphBuilder> {
  const g = new GraphBuilder();
  if (!v.merged) {
    await buildLlamaDecoder(g, weights, v, true);
    return g;
  }
  const withPast = g.branch();
  await buildLlamaDecoder(withPast, weights, v, true);
  const noPast = g.branch();
  await buildLlamaDecoder(noPast, weights, v, false);
  const { outputs } = llamaGraphIo(config, v);
  const branch = (name: string, b: GraphBuilder) => ({ graph: { name, node: b.nodes, output: outputs } });
  g.node("If", [LLAMA_ONNX_IO.useCacheBranch], { then_branch: branch("with_past", withPast), else_branch: branch("no_past", noPast) }, outputs.map((o) => o.name!));
  return g;
}

/**
 * Write the ONNX model of `config` (weights by HF name from `weight`) to `modelPath` (e.g. `<dir>/onnx/model.onnx`
 * or `<dir>/onnx/decoder_model_merged.onnx`); external data goes to `<modelPath>_data`.
 */
export async function writeLlamaOnnx(
  config: LlamaConfig,
  weight: WeightSource,
  modelPath: string,
  options: WriteOnnxOptions = {},
): Promise<WriteOnnxResult> {
  const v = resolveVariant(options);
  llama3Scaling(config); // unsupported rope_scaling fails before any work
  if (v.attention === "gqa" && config.headDim % 16 !== 0) {
    // ONNX Runtime's CPU kernel would only fail at the first run.
    throw invalidOption(`GroupQueryAttention with rotary embeddings needs head_dim to be a multiple of 16, got ${config.headDim}`);
  }
  const source: WeightSource = (name) => {
    options.signal?.throwIfAborted();
    return weight(name);
  };
  return writeOnnxModelFile(modelPath, options.externalDataThreshold ?? DEFAULT_EXTERNAL_DATA_THRESHOLD, async (sink) => {
    const weights: LlamaWeights = new LlamaWeights(config, source, sink, (p) =>
      options.onProgress?.({ tensor: p.tensor, tensorsDone: p.tensorsDone, tensorsTotal: weights.tensorsTotal, bytesWritten: sink.weightBytes }),
    );
    const graph = await buildGraph(config, weights, v);
    const { inputs, outputs } = llamaGraphIo(config, v);
    const usesMs = v.attention === "gqa" || [v.linear, v.lmHead, v.embeddings].some((storage) => storage.kind === "nbits");
    return { name: "llama", graph, inputs, outputs, usesMs };
  });
}
