/**
 * The hyper-parameters of an encoder-decoder checkpoint of the BART family, read from a Hugging Face `config.json`:
 * model_type "mbart" (MBartForConditionalGeneration: pre-norm layers, final encoder/decoder layer norms) or "bart"
 * (BartForConditionalGeneration: post-norm layers, no final layer norms). Both have learned positions with offset 2,
 * `layernorm_embedding`, biases on every projection, `final_logits_bias` and (by default) tied `shared` embeddings.
 * Field names are the camelCase forms of the HF keys.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";
import { sizeProblem, type LimitedKey } from "../lm/config-limits.js";
import { loadConfigJson } from "./config-json.js";

export type Seq2SeqFamily = "mbart" | "bart";
export type Seq2SeqActivation = "gelu" | "gelu_new" | "relu" | "silu";

export interface Seq2SeqConfig {
  readonly family: Seq2SeqFamily;
  readonly dModel: number;
  readonly encoderLayers: number;
  readonly decoderLayers: number;
  readonly encoderHeads: number;
  readonly decoderHeads: number;
  readonly encoderFfnDim: number;
  readonly decoderFfnDim: number;
  readonly vocabSize: number;
  /** Rows of each learned position table: max_position_embeddings + 2 (the offset HF keeps for fairseq). */
  readonly maxPositionEmbeddings: number;
  readonly activation: Seq2SeqActivation;
  /** Token embeddings multiplied by sqrt(d_model) (mBART: true, BART: false). */
  readonly scaleEmbedding: boolean;
  readonly tieWordEmbeddings: boolean;
  readonly padTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly decoderStartTokenId: number | null;
  /** nn.LayerNorm's default: transformers never reads an epsilon from these configs. */
  readonly layerNormEps: number;
}

/** Offset of the learned position tables (positions 0.. read rows 2..). */
export const POSITION_OFFSET = 2;

const ARCHITECTURES: Readonly<Record<Seq2SeqFamily, string>> = { mbart: "MBartForConditionalGeneration", bart: "BartForConditionalGeneration" };
const ACTIVATIONS: readonly Seq2SeqActivation[] = ["gelu", "gelu_new", "relu", "silu"];

function fail(source: string, problem: string): SyncabelError {
  return new SyncabelError("MODEL_CONFIG_INVALID", `${source}: ${problem}`, { file: source });
}

/** Whether a parsed config.json names an encoder-decoder model of the BART family. */
export function isSeq2SeqConfigJson(json: unknown): boolean {
  const type = (json as { model_type?: unknown } | null)?.model_type;
  return type === "mbart" || type === "bart";
}

/** Whether `dir/config.json` names an mBART / BART model (false when absent or unreadable: the caller's loader reports it). */
export function isSeq2SeqModelDir(dir: string): boolean {
  try {
    return isSeq2SeqConfigJson(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
  } catch {
    return false;
  }
}

function checkArchitecture(c: Record<string, unknown>, family: Seq2SeqFamily, source: string): void {
  const archs = c.architectures;
  if (archs === undefined || archs === null) return;
  const named = Array.isArray(archs) ? archs.filter((a): a is string => typeof a === "string") : [];
  if (!named.includes(ARCHITECTURES[family])) {
    throw fail(source, `architectures ${JSON.stringify(archs)} is not supported: only ${ARCHITECTURES[family]} (a generation head) for model_type "${family}"`);
  }
}

/** Validate a parsed `config.json` of an mBART / BART checkpoint. `source` names the file in error messages. */
/** Each size field of an mBART/BART config and the Llama limit that bounds it. */
const SEQ2SEQ_LIMITS = {
  vocab_size: "vocab_size",
  d_model: "hidden_size",
  encoder_layers: "num_hidden_layers",
  decoder_layers: "num_hidden_layers",
  encoder_attention_heads: "num_attention_heads",
  decoder_attention_heads: "num_attention_heads",
  encoder_ffn_dim: "intermediate_size",
  decoder_ffn_dim: "intermediate_size",
  max_position_embeddings: "max_position_embeddings",
} as const satisfies Readonly<Record<string, LimitedKey>>;

export function parseSeq2SeqConfig(json: unknown, source: string): Seq2SeqConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw fail(source, "config is not a JSON object");
  const c = json as Record<string, unknown>;
  if (!isSeq2SeqConfigJson(c)) throw fail(source, `model_type is ${JSON.stringify(c.model_type)}, not "mbart" or "bart"`);
  const family = c.model_type as Seq2SeqFamily;
  checkArchitecture(c, family, source);
  // Sizes are bounded as the Llama ones are (src/lm/config-limits.ts), before anything is allocated from them.
  const posInt = (key: keyof typeof SEQ2SEQ_LIMITS, fallback?: number): number => {
    const v = c[key] ?? fallback;
    const problem = sizeProblem(SEQ2SEQ_LIMITS[key], v, key);
    if (problem !== undefined) throw fail(source, problem);
    return v as number;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== "boolean") throw fail(source, `${key} must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  const vocabSize = posInt("vocab_size");
  const tokenId = (key: string): number | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) >= vocabSize) {
      throw fail(source, `${key} must be a token id below vocab_size ${vocabSize}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const dModel = posInt("d_model");
  const heads = (key: "encoder_attention_heads" | "decoder_attention_heads"): number => {
    const n = posInt(key);
    if (dModel % n !== 0) throw fail(source, `d_model (${dModel}) is not a multiple of ${key} (${n})`);
    return n;
  };
  const activation = c.activation_function ?? "gelu";
  if (!ACTIVATIONS.includes(activation as Seq2SeqActivation)) {
    throw fail(source, `activation_function ${JSON.stringify(activation)} is not supported (${ACTIVATIONS.join(", ")})`);
  }
  return {
    family,
    dModel,
    encoderLayers: posInt("encoder_layers"),
    decoderLayers: posInt("decoder_layers"),
    encoderHeads: heads("encoder_attention_heads"),
    decoderHeads: heads("decoder_attention_heads"),
    encoderFfnDim: posInt("encoder_ffn_dim"),
    decoderFfnDim: posInt("decoder_ffn_dim"),
    vocabSize,
    maxPositionEmbeddings: posInt("max_position_embeddings", 1024),
    activation: activation as Seq2SeqActivation,
    scaleEmbedding: flag("scale_embedding", false),
    tieWordEmbeddings: flag("tie_word_embeddings", true),
    padTokenId: tokenId("pad_token_id"),
    bosTokenId: tokenId("bos_token_id"),
    eosTokenId: tokenId("eos_token_id"),
    decoderStartTokenId: tokenId("decoder_start_token_id"),
    layerNormEps: 1e-5,
  };
}

/** Read and validate `<dir>/config.json`. */
export function loadSeq2SeqConfig(dir: string): Seq2SeqConfig {
  return loadConfigJson(dir, parseSeq2SeqConfig);
}

/** Per-head width of the decoder's attention (cache tensors are [rows, heads, length, headDim]). */
export function decoderHeadDim(c: Seq2SeqConfig): number {
  return c.dModel / c.decoderHeads;
}

/**
 * The decoder's first token: "config" (generation_config.json's decoder_start_token_id, else config.json's, as
 * Hugging Face generate), "lang" (the target language code, as the SynCABEL seq2seq training script), or an id.
 */
export type DecoderStart = "config" | "lang" | number;

/** `config` | `lang` | a token id, as given on a command line. */
export function parseDecoderStart(text: string): DecoderStart {
  if (text === "config" || text === "lang") return text;
  if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  throw new SyncabelError("DECODE_INVALID_OPTIONS", `decoder start must be config, lang or a token id, got ${JSON.stringify(text)}`);
}

/** mBART-50 language code of each prompt language (used when tokenizer_config.json names none). */
export const LANGUAGE_CODE: Readonly<Record<string, string>> = { es: "es_XX", fr: "fr_XX", en: "en_XX" };
