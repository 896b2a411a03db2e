/** Shared helpers of the ONNX writer tests: write a tiny random model in one export variant and run it in ORT. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import type { LlamaConfig } from "../../src/convert/llama-config.js";
import { halfToFloat, writeSafetensors, type Float32Tensor } from "../../src/convert/safetensors.js";
import { randomModelConfigJson, writeRandomModel, type RandomModelOnnxOptions, type RandomModelShape } from "../../src/testing/random-model.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";

export const TINY: RandomModelShape = { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocabSize: 300, seed: 5 };

export interface Variant {
  readonly dir: string;
  readonly modelPath: string;
  readonly config: LlamaConfig;
  readonly session: ort.InferenceSession;
}

export async function writeVariant(root: string, name: string, options: RandomModelOnnxOptions, shape: Partial<RandomModelShape> = {}): Promise<Variant> {
  const dir = join(root, name);
  const info = await writeRandomModel(dir, { ...TINY, ...shape }, options);
  const modelPath = join(dir, options.modelFile ?? "onnx/model.onnx");
  const session = await ort.InferenceSession.create(modelPath, { logSeverityLevel: 3 });
  return { dir, modelPath, config: info.config, session };
}

/** A reference model over explicit HF weights (e.g. read back from an ONNX file), written as an untied checkpoint. */
export function referenceOnWeights(root: string, name: string, shape: RandomModelShape, weights: ReadonlyMap<string, Float32Tensor>): ReferenceLlama {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...randomModelConfigJson(shape), tie_word_embeddings: false }));
  writeSafetensors(join(dir, "model.safetensors"), weights);
  return loadReferenceLlama(dir);
}

export type KvCache = ort.Tensor[];

function int64(values: readonly number[], dims: number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(values.map((v) => BigInt(v))), dims);
}

export function emptyCache(session: ort.InferenceSession, config: LlamaConfig, batch: number): KvCache {
  const type = ioType(session);
  const pasts = session.inputNames.filter((n) => n.startsWith("past_key_values."));
  const dims = [batch, config.numKeyValueHeads, 0, config.headDim];
  return pasts.map(() => new ort.Tensor(type, type === "float16" ? new Uint16Array(0) : new Float32Array(0), dims));
}

function ioType(session: ort.InferenceSession): "float32" | "float16" {
  const meta = session.inputMetadata.find((m) => m.name === "past_key_values.0.key");
  return meta && meta.isTensor && meta.type === "float16" ? "float16" : "float32";
}

export interface ForwardResult {
  /** Logits as float32, [batch, rows, vocab]. */
  readonly logits: Float32Array;
  readonly dims: readonly number[];
  readonly cache: KvCache;
}

/**
 * One call with the inputs the graph declares. Positions are cumsum(mask) - 1 of the new tokens (left padding);
 * `keep` feeds num_logits_to_keep / logits_to_keep.
 */
export async function forward(v: Variant, ids: number[][], mask: number[][], cache: KvCache, keep = 0): Promise<ForwardResult> {
  const { session } = v;
  const batch = ids.length;
  const seq = ids[0].length;
  const total = mask[0].length;
  const positions = mask.map((m) => {
    let c = 0;
    return m.map((x) => Math.max(0, (c += x) - 1)).slice(total - seq);
  });
  const feeds: Record<string, ort.Tensor> = { input_ids: int64(ids.flat(), [batch, seq]), attention_mask: int64(mask.flat(), [batch, total]) };
  const names = session.inputNames;
  if (names.includes("position_ids")) feeds.position_ids = int64(positions.flat(), [batch, seq]);
  for (const n of ["num_logits_to_keep", "logits_to_keep"]) if (names.includes(n)) feeds[n] = int64([keep], []);
  if (names.includes("use_cache_branch")) feeds.use_cache_branch = new ort.Tensor("bool", new Uint8Array([total > seq ? 1 : 0]), [1]);
  const pasts = names.filter((n) => n.startsWith("past_key_values."));
  pasts.forEach((n, i) => (feeds[n] = cache[i]));
  const out = await session.run(feeds);
  const raw = out.logits;
  const logits = raw.type === "float16" ? Float32Array.from(raw.data as Uint16Array, halfToFloat) : (raw.data as Float32Array);
  return { logits, dims: raw.dims, cache: pasts.map((n) => out[n.replace("past_key_values", "present")]) };
}

/** log-softmax of row `r` of [*, vocab] logits. */
export function logSoftmaxRow(logits: Float32Array, r: number, vocab: number): Float32Array {
  const row = logits.subarray(r * vocab, (r + 1) * vocab);
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  const z = max + Math.log(sum);
  return Float32Array.from(row, (x) => x - z);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Prefill `prompt` minus its last token, then that token through the KV cache; returns the largest difference of
 * every logits row the graph returned against the reference's log-probs at the same positions.
 */
export async function prefillAndStepError(v: Variant, reference: ReferenceLlama, prompt: readonly number[], keep = 0): Promise<number> {
  const expected = reference.logProbs([...prompt]);
  const n = prompt.length - 1;
  const V = v.config.vocabSize;
  const pre = await forward(v, [prompt.slice(0, n)], [Array(n).fill(1)], emptyCache(v.session, v.config, 1), keep);
  const rows = pre.dims[1];
  let worst = 0;
  for (let r = 0; r < rows; r++) worst = Math.max(worst, maxAbsDiff(logSoftmaxRow(pre.logits, r, V), expected[n - rows + r]));
  const step = await forward(v, [[prompt[n]]], [Array(n + 1).fill(1)], pre.cache, keep);
  return Math.max(worst, maxAbsDiff(logSoftmaxRow(step.logits, step.dims[1] - 1, V), expected[n]));
}
