/**
 * What the runtime reads about a decoder before running it: the shapes of config.json, and how its ONNX graph
 * wants to be fed (KV-cache names and type, optional inputs, logits kept, padding side).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import { SyncabelError } from "../errors.js";
import { sizeProblem, type LimitedKey } from "./config-limits.js";
import type { LogitsType } from "./log-normalizer.js";

/** KV-cache data: float32, or float16 bits (half-precision exports; Node 20 has no Float16Array). */
export type KvArray = Float32Array | Uint16Array;
export type FloatType = "float32" | "float16";

/** How the graph wants to be fed, read from its inputs, outputs and operators once at load. */
export interface DecoderIo {
  readonly kvHeads: number;
  readonly headDim: number;
  readonly pastNames: readonly string[];
  readonly presentNames: readonly string[];
  readonly kvType: FloatType;
  readonly logitsType: LogitsType;
  readonly positionIds: boolean;
  readonly cacheBranch: boolean;
  /** num_logits_to_keep / logits_to_keep input (fed 1: only the last position's logits are computed). */
  readonly keep: { readonly name: string; readonly dims: readonly number[] } | null;
  /** The graph computes the last position's logits only (keep input, a [batch, 1, vocab] logits output, or the lm_head renamed at load). */
  readonly lastOnly: boolean;
  /**
   * com.microsoft.GroupQueryAttention reads each row's length from the mask (seqlens_k = sum(mask) - 1) and
   * assumes right padding, so rows are kept right-padded: real tokens first, the new one at slot `length`.
   */
  readonly rightPadded: boolean;
  /** The logit read-out (src/lm/logit-readout.ts) was appended. */
  readonly readout: boolean;
  /**
   * Presents demoted (src/lm/present-sources.ts): per present, the output of that layer's new positions, fetched
   * instead of the presents (all positions at prefill, the new slot at a step). Null: fetch the presents.
   */
  readonly newKvNames: readonly string[] | null;
}

/** The float element type of a model input/output from the session's metadata (float32 when unknown). */
function floatTypeOf(metadata: readonly ort.InferenceSession.ValueMetadata[], name: string, path: string): FloatType {
  const m = metadata.find((x) => x.name === name);
  const type = m && m.isTensor ? m.type : "float32";
  if (type !== "float32" && type !== "float16") {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: ${name} has element type ${type}; float32 and float16 are supported`, { path });
  }
  return type;
}

export function readConfig(dir: string): { vocab: number; kvHeads: number; headDim: number; pad: number } {
  const configPath = join(dir, "config.json");
  if (!existsSync(dir)) throw new SyncabelError("MODEL_FILE_MISSING", `model folder not found: ${dir}`, { path: dir });
  if (!existsSync(configPath)) throw new SyncabelError("MODEL_FILE_MISSING", `missing config.json in model folder ${dir}`, { path: configPath });
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `cannot parse ${configPath}: ${(e as Error).message}`, { path: configPath });
  }
  const fail = (problem: string): SyncabelError => new SyncabelError("MODEL_CONFIG_INVALID", `${configPath}: ${problem}`, { path: configPath });
  // Sizes are checked (and bounded, src/lm/config-limits.ts) before the KV cache and the logits are allocated from them.
  const size = (key: LimitedKey, fallback?: number): number | undefined => {
    const v = config[key] ?? fallback;
    if (v === undefined) return undefined;
    const problem = sizeProblem(key, v);
    if (problem !== undefined) throw fail(problem);
    return v as number;
  };
  const heads = size("num_attention_heads");
  const hidden = size("hidden_size");
  const kvHeads = size("num_key_value_heads", heads);
  const headDim = size("head_dim", hidden !== undefined && heads !== undefined && hidden % heads === 0 ? hidden / heads : undefined);
  if (kvHeads === undefined || headDim === undefined) {
    throw fail("lacks num_attention_heads/num_key_value_heads/hidden_size (or head_dim), or hidden_size is not a multiple of num_attention_heads");
  }
  const vocab = size("vocab_size");
  if (vocab === undefined) throw fail("lacks vocab_size");
  const pad = config.pad_token_id ?? 0;
  if (!Number.isSafeInteger(pad) || (pad as number) < 0 || (pad as number) >= vocab) throw fail(`pad_token_id must be a token id below vocab_size ${vocab}, got ${JSON.stringify(config.pad_token_id)}`);
  return { vocab, kvHeads, headDim, pad: pad as number };
}

export function describeIo(
  session: ort.InferenceSession,
  modelFile: string,
  kvHeads: number,
  headDim: number,
  ops: ReadonlySet<string>,
  readout: boolean,
  lastPosition = false,
  newKv: ReadonlyMap<string, string> | null = null,
): DecoderIo {
  const pastNames: string[] = [];
  const presentNames: string[] = [];
  for (let i = 0; session.inputNames.includes(`past_key_values.${i}.key`); i++) {
    pastNames.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
    presentNames.push(`present.${i}.key`, `present.${i}.value`);
  }
  const missing = ["input_ids", "attention_mask"].filter((n) => !session.inputNames.includes(n));
  if (pastNames.length === 0 || missing.length > 0 || !session.outputNames.includes("logits")) {
    throw new SyncabelError(
      "MODEL_CONFIG_INVALID",
      `${modelFile} is not a decoder with KV cache in the Optimum layout (inputs: ${session.inputNames.join(", ")}; outputs: ${session.outputNames.join(", ")})`,
      { path: modelFile },
    );
  }
  const keepName = ["num_logits_to_keep", "logits_to_keep"].find((n) => session.inputNames.includes(n));
  const keepMeta = session.inputMetadata.find((m) => m.name === keepName);
  const keep = keepName ? { name: keepName, dims: keepMeta && keepMeta.isTensor ? keepMeta.shape.map(() => 1) : [] } : null;
  const logitsMeta = session.outputMetadata.find((m) => m.name === "logits");
  const lastOnly = lastPosition || keep !== null || (logitsMeta !== undefined && logitsMeta.isTensor && logitsMeta.shape[1] === 1);
  return {
    kvHeads,
    headDim,
    pastNames,
    presentNames,
    kvType: floatTypeOf(session.inputMetadata, pastNames[0], modelFile),
    logitsType: floatTypeOf(session.outputMetadata, "logits", modelFile),
    positionIds: session.inputNames.includes("position_ids"),
    cacheBranch: session.inputNames.includes("use_cache_branch"),
    keep,
    lastOnly,
    rightPadded: ops.has("com.microsoft:GroupQueryAttention"),
    readout,
    newKvNames: newKv && presentNames.every((p) => newKv.has(p)) ? presentNames.map((p) => newKv.get(p)!) : null,
  };
}

/**
 * Rows `group` of `prompts` left-padded to `length`: token ids (pads are `padId`), attention mask, and positions
 * counted from each prompt's first token (pads get 1, as transformers' cumsum(mask) - 1 with pads set to 1).
 */
export function leftPadded(prompts: readonly (readonly number[])[], group: readonly number[], length: number, padId: number): { ids: BigInt64Array; mask: BigInt64Array; positions: BigInt64Array } {
  const n = group.length;
  const ids = new BigInt64Array(n * length).fill(BigInt(padId));
  const mask = new BigInt64Array(n * length);
  const positions = new BigInt64Array(n * length).fill(1n);
  group.forEach((r, i) => {
    const prompt = prompts[r];
    const pad = length - prompt.length;
    for (let j = 0; j < prompt.length; j++) {
      ids[i * length + pad + j] = BigInt(prompt[j]);
      mask[i * length + pad + j] = 1n;
      positions[i * length + pad + j] = BigInt(j);
    }
  });
  return { ids, mask, positions };
}
