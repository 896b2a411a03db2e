/**
 * The Llama architecture hyper-parameters, read from a Hugging Face `config.json` (model_type "llama").
 * Field names are the camelCase forms of the HF keys (hidden_size -> hiddenSize, ...).
 */
import { SyncabelError } from "../errors.js";
import { loadConfigJson } from "./config-json.js";
import { CONFIG_LIMITS, sizeProblem, type LimitedKey } from "../lm/config-limits.js";
import { llama3Scaling } from "./rope.js";

export interface LlamaConfig {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly vocabSize: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly maxPositionEmbeddings: number;
  /** Per-head width: `head_dim` when given, else hidden_size / num_attention_heads. */
  readonly headDim: number;
  readonly bosTokenId: number | null;
  /** HF allows one id or a list (Llama-3-Instruct lists two); always a list here, possibly empty. */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly tieWordEmbeddings: boolean;
  /** `rope_scaling` as given (null when absent). Only null / rope_type "default" is plain RoPE. */
  readonly ropeScaling: Readonly<Record<string, unknown>> | null;
}

function fail(source: string, problem: string): SyncabelError {
  return new SyncabelError("MODEL_CONFIG_INVALID", `${source}: ${problem}`, { file: source });
}

/** Architectures of `config.json` that are a Llama causal LM (the only head the converter and runtime know). */
const CAUSAL_LM_ARCHITECTURES = new Set(["LlamaForCausalLM"]);

/** model_type must be "llama" and `architectures`, when given, a Llama causal LM; errors name what was found. */
function checkArchitecture(c: Record<string, unknown>, source: string): void {
  const archs = c.architectures;
  const named = Array.isArray(archs) ? archs.filter((a): a is string => typeof a === "string") : [];
  if (c.model_type !== "llama") {
    const what = named.length > 0 ? ` (architectures ${named.join(", ")})` : "";
    throw fail(source, `model_type is ${JSON.stringify(c.model_type)}${what}, only "llama" (LlamaForCausalLM) is supported`);
  }
  if (archs !== undefined && archs !== null && !named.some((a) => CAUSAL_LM_ARCHITECTURES.has(a))) {
    throw fail(source, `architectures ${JSON.stringify(archs)} is not supported, only LlamaForCausalLM`);
  }
}

/**
 * Validate a parsed `config.json` object. `source` names the file in error messages.
 */
export function parseLlamaConfig(json: unknown, source: string): LlamaConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw fail(source, "config is not a JSON object");
  const c = json as Record<string, unknown>;
  checkArchitecture(c, source);
  // Sizes are bounded (src/lm/config-limits.ts) before anything is allocated from them.
  const posInt = (key: LimitedKey, fallback?: number): number => {
    const v = c[key] ?? fallback;
    const problem = sizeProblem(key, v);
    if (problem !== undefined) throw fail(source, problem);
    return v as number;
  };
  const posNum = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw fail(source, `${key} must be a positive number, got ${JSON.stringify(c[key])}`);
    }
    return v;
  };
  const tokenId = (key: string): number | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw fail(source, `${key} must be a token id, got ${JSON.stringify(v)}`);
    return v as number;
  };

  const hiddenSize = posInt("hidden_size");
  const numAttentionHeads = posInt("num_attention_heads");
  const numKeyValueHeads = posInt("num_key_value_heads", numAttentionHeads);
  const vocabSize = posInt("vocab_size");
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw fail(source, `num_attention_heads (${numAttentionHeads}) is not a multiple of num_key_value_heads (${numKeyValueHeads})`);
  }
  let headDim: number;
  if (c.head_dim !== undefined && c.head_dim !== null) {
    headDim = posInt("head_dim");
  } else {
    if (hiddenSize % numAttentionHeads !== 0) {
      throw fail(source, `hidden_size (${hiddenSize}) is not a multiple of num_attention_heads (${numAttentionHeads})`);
    }
    headDim = hiddenSize / numAttentionHeads;
  }
  if (headDim % 2 !== 0) throw fail(source, `head_dim (${headDim}) must be even for rotary embeddings`);
  if (headDim > CONFIG_LIMITS.head_dim) throw fail(source, `head_dim ${headDim} is above ${CONFIG_LIMITS.head_dim}`);

  const eosRaw = c.eos_token_id;
  let eosTokenIds: number[];
  if (eosRaw === undefined || eosRaw === null) eosTokenIds = [];
  else if (Array.isArray(eosRaw)) eosTokenIds = eosRaw.map((v: unknown, i) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw fail(source, `eos_token_id[${i}] must be a token id, got ${JSON.stringify(v)}`);
    return v as number;
  });
  else eosTokenIds = [tokenId("eos_token_id") as number];
  const idsToCheck: [string, number | null][] = [
    ["bos_token_id", tokenId("bos_token_id")],
    ["pad_token_id", tokenId("pad_token_id")],
    ...eosTokenIds.map((id): [string, number] => ["eos_token_id", id]),
  ];
  for (const [key, id] of idsToCheck) {
    if (id !== null && id >= vocabSize) throw fail(source, `${key} ${id} is outside the vocabulary (vocab_size ${vocabSize})`);
  }

  const tie = c.tie_word_embeddings ?? false;
  if (typeof tie !== "boolean") throw fail(source, `tie_word_embeddings must be a boolean, got ${JSON.stringify(tie)}`);
  const ropeScaling = c.rope_scaling ?? null;
  if (ropeScaling !== null && (typeof ropeScaling !== "object" || Array.isArray(ropeScaling))) {
    throw fail(source, `rope_scaling must be an object or null`);
  }
  if (c.hidden_act !== undefined && c.hidden_act !== "silu") {
    throw fail(source, `hidden_act ${JSON.stringify(c.hidden_act)} is not supported (only "silu")`);
  }
  for (const key of ["attention_bias", "mlp_bias"]) {
    if (c[key] === true) throw fail(source, `${key} true is not supported (Llama checkpoints have no biases)`);
  }

  const config: LlamaConfig = {
    hiddenSize,
    intermediateSize: posInt("intermediate_size"),
    numHiddenLayers: posInt("num_hidden_layers"),
    numAttentionHeads,
    numKeyValueHeads,
    vocabSize,
    rmsNormEps: posNum("rms_norm_eps", 1e-6),
    ropeTheta: ropeBase(posNum("rope_theta", 10000), source),
    maxPositionEmbeddings: posInt("max_position_embeddings", 2048),
    headDim,
    bosTokenId: tokenId("bos_token_id"),
    eosTokenIds,
    padTokenId: tokenId("pad_token_id"),
    tieWordEmbeddings: tie,
    ropeScaling: ropeScaling as Record<string, unknown> | null,
  };
  try {
    llama3Scaling(config); // "default" or a complete "llama3" rope_scaling; anything else fails here, named
  } catch (e) {
    throw fail(source, (e as Error).message.replace(/^config\.json: /, ""));
  }
  return config;
}

/**
 * RoPE's base: below 1 the rotation frequencies base^(-2i/d) grow instead of shrinking (5e-324 makes them
 * infinite: every logit NaN).
 */
function ropeBase(theta: number, source: string): number {
  if (theta < 1) throw fail(source, `rope_theta must be at least 1 (the RoPE base; Llama uses 10,000 to 500,000), got ${theta}`);
  return theta;
}

/** Read and validate `<dir>/config.json`. */
export function loadLlamaConfig(dir: string): LlamaConfig {
  return loadConfigJson(dir, parseLlamaConfig);
}

/** Whether `rope_scaling` leaves plain RoPE (what the reference and the generated graph implement). */
export function isPlainRope(config: LlamaConfig): boolean {
  const s = config.ropeScaling;
  return s === null || s.rope_type === "default" || s.type === "default";
}

