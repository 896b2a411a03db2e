/**
 * Random-weight mBART / BART checkpoints in the layout `save_pretrained` writes for MBartForConditionalGeneration /
 * BartForConditionalGeneration: config.json, generation_config.json, a small Unigram tokenizer with the mBART-50
 * language codes and `<SEP>` (src/testing/unigram-tokenizer.ts), and the weights as safetensors (one file, or
 * shards + model.safetensors.index.json) with the tied embeddings saved once (`model.shared.weight`; the encoder,
 * decoder and lm_head copies absent, as transformers saves tied weights) and `final_logits_bias`.
 *
 * Written as a stream (one piece of one tensor at a time), so the mbart-large-50 shape (610M parameters) needs a few
 * MB. `writeRandomSeq2SeqModel` also writes the ONNX export into `onnx/` (tests, `syncabel model random`).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import { WEIGHTS_INDEX_FILE, type TensorSpec } from "../convert/checkpoint.js";
import { openSeq2SeqCheckpoint } from "../convert/mbart-checkpoint.js";
import { parseSeq2SeqConfig, type Seq2SeqActivation, type Seq2SeqConfig } from "../convert/mbart-config.js";
import { FINAL_LOGITS_BIAS, SHARED_EMBEDDING, seq2seqTensorSpecs } from "../convert/mbart-weights.js";
import { writeSeq2SeqOnnx, type WriteSeq2SeqOptions } from "../convert/onnx-seq2seq-graph.js";
import type { SafetensorsDtype } from "../convert/safetensors.js";
import { fillUniformValues, writeRandomShards, type ShardsWritten } from "./random-checkpoint.js";
import { writeUnigramTokenizer, type UnigramTokenizerInfo } from "./unigram-tokenizer.js";

/** Published shapes the capacity benchmark reproduces. */
export type Seq2SeqPreset = "mbart-large-50";

export interface RandomSeq2SeqShape {
  readonly arch: "mbart" | "bart";
  /** Encoder layers and decoder layers (each). */
  readonly layers: number;
  readonly dModel: number;
  readonly heads: number;
  readonly ffn: number;
  /** Rows of the shared embedding (default: the tokenizer's id space). */
  readonly vocabSize?: number;
  /** max_position_embeddings (default 128). */
  readonly maxPositions?: number;
  readonly activation?: Seq2SeqActivation;
  /** Default: true for mBART, false for BART (as their published configs). */
  readonly scaleEmbedding?: boolean;
  /** Default true (no lm_head.weight in the file). */
  readonly tieWordEmbeddings?: boolean;
}

export interface RandomSeq2SeqCheckpointOptions {
  /** A published shape, or `shape` (exactly one of the two). */
  readonly preset?: Seq2SeqPreset;
  readonly shape?: RandomSeq2SeqShape;
  readonly seed?: number;
  /** Stored element type (default F32; published checkpoints are F32 or BF16). */
  readonly dtype?: SafetensorsDtype;
  /** Largest shard in bytes (default 5e9, `max_shard_size="5GB"`). */
  readonly maxShardBytes?: number;
  /** Name the tied embedding is saved under (default model.shared.weight; older files keep model.encoder.embed_tokens.weight). */
  readonly sharedName?: string;
  /** Save final_logits_bias (default true; transformers fills a missing one with zeros). */
  readonly finalLogitsBias?: boolean;
  /** tokenizer_config.json src_lang / tgt_lang (mBART; default es_XX). */
  readonly srcLang?: string;
  readonly tgtLang?: string;
  /** config.json decoder_start_token_id (default 2, </s>). */
  readonly decoderStartTokenId?: number;
  /** More tokenizer pieces (see UnigramTokenizerOptions.extraPieces). */
  readonly extraPieces?: readonly string[];
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export interface RandomSeq2SeqInfo extends ShardsWritten {
  readonly config: Seq2SeqConfig;
  readonly tokenizer: UnigramTokenizerInfo;
}

const MBART_LARGE_50_SHAPE: RandomSeq2SeqShape = { arch: "mbart", layers: 12, dModel: 1024, heads: 16, ffn: 4096, vocabSize: 250054, maxPositions: 1024 };

/** config.json as transformers writes it for the shape (mBART-50 / BART special ids: <s> 0, <pad> 1, </s> 2). */
export function seq2seqConfigJson(shape: RandomSeq2SeqShape, vocabSize: number, decoderStart = 2): Record<string, unknown> {
  for (const key of ["layers", "dModel", "heads", "ffn"] as const) {
    if (!Number.isSafeInteger(shape[key]) || shape[key] <= 0) throw new SyncabelError("MODEL_CONFIG_INVALID", `random model: ${key} must be a positive integer, got ${shape[key]}`);
  }
  const mbart = shape.arch === "mbart";
  return {
    activation_dropout: 0.0,
    activation_function: shape.activation ?? "gelu",
    architectures: [mbart ? "MBartForConditionalGeneration" : "BartForConditionalGeneration"],
    attention_dropout: 0.0,
    bos_token_id: 0,
    d_model: shape.dModel,
    decoder_attention_heads: shape.heads,
    decoder_ffn_dim: shape.ffn,
    decoder_layers: shape.layers,
    decoder_start_token_id: decoderStart,
    dropout: 0.1,
    encoder_attention_heads: shape.heads,
    encoder_ffn_dim: shape.ffn,
    encoder_layers: shape.layers,
    eos_token_id: 2,
    forced_eos_token_id: 2,
    init_std: 0.02,
    is_encoder_decoder: true,
    max_position_embeddings: shape.maxPositions ?? 128,
    model_type: shape.arch,
    num_hidden_layers: shape.layers,
    pad_token_id: 1,
    scale_embedding: shape.scaleEmbedding ?? mbart,
    tie_word_embeddings: shape.tieWordEmbeddings ?? true,
    torch_dtype: "float32",
    use_cache: true,
    vocab_size: vocabSize,
  };
}

/**
 * Mean and std of a tensor's uniform values: activations keep their scale (linear std 1/sqrt(fan_in)); the shared
 * embedding has std 2/sqrt(d) so tied logits spread over a few nats; biases, norms and final_logits_bias are far
 * enough from 0 / 1 that a test notices one left out.
 */
function initScale(spec: TensorSpec, c: Seq2SeqConfig): { mean: number; std: number } {
  const d = c.dModel;
  const tokenStd = 2 / Math.sqrt(d);
  if (spec.name === SHARED_EMBEDDING || spec.name === "lm_head.weight") return { mean: 0, std: tokenStd };
  if (spec.name.endsWith("embed_positions.weight")) return { mean: 0, std: 0.5 * tokenStd * (c.scaleEmbedding ? Math.sqrt(d) : 1) };
  if (spec.name === FINAL_LOGITS_BIAS) return { mean: 0, std: 0.5 };
  const norm = /layer_?norm/.test(spec.name);
  if (spec.shape.length === 1) return norm && spec.name.endsWith(".weight") ? { mean: 1, std: 0.1 } : { mean: 0, std: 0.1 };
  return { mean: 0, std: 1 / Math.sqrt(spec.shape[1]) };
}

function resolveShape(options: RandomSeq2SeqCheckpointOptions): RandomSeq2SeqShape {
  if ((options.preset === undefined) === (options.shape === undefined)) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", "random seq2seq checkpoint: give exactly one of preset and shape");
  }
  return options.preset === "mbart-large-50" ? MBART_LARGE_50_SHAPE : (options.shape as RandomSeq2SeqShape);
}

/** Write a random checkpoint folder into `dir` (created if needed). Same options and seed give the same bytes. */
export async function writeRandomSeq2SeqCheckpoint(dir: string, options: RandomSeq2SeqCheckpointOptions): Promise<RandomSeq2SeqInfo> {
  const shape = resolveShape(options);
  const dtype = options.dtype ?? "F32";
  const seed = options.seed ?? 0;
  mkdirSync(dir, { recursive: true });
  const tokenizer = writeUnigramTokenizer(dir, {
    arch: shape.arch,
    ...(options.srcLang ? { srcLang: options.srcLang } : {}),
    ...(options.tgtLang ? { tgtLang: options.tgtLang } : {}),
    ...(options.extraPieces ? { extraPieces: options.extraPieces } : {}),
  });
  const vocabSize = shape.vocabSize ?? tokenizer.vocabSize;
  if (vocabSize < tokenizer.vocabSize) throw new SyncabelError("MODEL_CONFIG_INVALID", `random model: vocab_size ${vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} ids`);
  const configJson = seq2seqConfigJson(shape, vocabSize, options.decoderStartTokenId ?? 2);
  const config = parseSeq2SeqConfig(configJson, join(dir, "config.json"));
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(configJson, null, 2) + "\n");
  const generation = { bos_token_id: 0, decoder_start_token_id: options.decoderStartTokenId ?? 2, eos_token_id: 2, forced_eos_token_id: 2, pad_token_id: 1 };
  writeFileAtomic(join(dir, "generation_config.json"), JSON.stringify(generation, null, 2) + "\n");

  const specs = seq2seqTensorSpecs(config)
    .filter((s) => s.name !== FINAL_LOGITS_BIAS || (options.finalLogitsBias ?? true))
    .map((s) => ({ ...s, name: s.name === SHARED_EMBEDDING ? options.sharedName ?? SHARED_EMBEDDING : s.name, canonical: s }));
  const written = await writeRandomShards(dir, specs, dtype, options.maxShardBytes ?? 5e9, (spec, sink) => {
    const { mean, std } = initScale(spec.canonical, config);
    fillUniformValues(spec.canonical, mean, std, seed, sink);
  }, options.onProgress);
  return { config, ...written, tokenizer };
}

export interface RandomSeq2SeqModelInfo extends RandomSeq2SeqInfo {
  /** Every file written, relative to the folder. */
  readonly files: readonly string[];
  readonly onnxBytes: number;
}

/**
 * A random checkpoint plus its ONNX export in `dir/onnx` (encoder_model.onnx + decoder_model_merged.onnx by default):
 * a folder both the converter and the linker read.
 */
export async function writeRandomSeq2SeqModel(
  dir: string,
  shape: RandomSeq2SeqShape,
  options: { readonly seed?: number; readonly onnx?: WriteSeq2SeqOptions; readonly checkpoint?: Omit<RandomSeq2SeqCheckpointOptions, "shape" | "preset" | "seed"> } = {},
): Promise<RandomSeq2SeqModelInfo> {
  const info = await writeRandomSeq2SeqCheckpoint(dir, { ...options.checkpoint, shape, ...(options.seed === undefined ? {} : { seed: options.seed }) });
  const checkpoint = openSeq2SeqCheckpoint(dir);
  try {
    const onnx = await writeSeq2SeqOnnx(checkpoint.config, (name) => checkpoint.weight(name), join(dir, "onnx"), options.onnx);
    const base = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];
    const index = info.weightFiles.length > 1 ? [WEIGHTS_INDEX_FILE] : [];
    return { ...info, files: [...base, ...info.weightFiles, ...index, ...onnx.files.map((f) => `onnx/${f}`)], onnxBytes: onnx.weightBytes };
  } finally {
    checkpoint.close();
  }
}
