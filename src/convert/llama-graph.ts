/**
 * The nodes of a Llama causal LM with KV cache (Hugging Face LlamaForCausalLM semantics), in the IO variants of
 * the published exports (see WriteOnnxOptions in onnx-llama-graph.ts). Computation is float32 inside; float16
 * boundaries get Casts, GroupQueryAttention runs in the KV cache's type.
 */
import { SyncabelError } from "../errors.js";
import type { LlamaConfig } from "./llama-config.js";
import type { LinearOp, LinearStorage, LlamaWeights } from "./llama-weights.js";
import { DT, tensorInfo, type GraphBuilder, type IValueInfoProto } from "./onnx-graph-builder.js";
import { ropeInverseFrequencies } from "./rope.js";

/** Additive mask value for disallowed keys: large but finite (no NaN for fully padded rows). */
export const MASK_NEGATIVE = -1e9;

/** Graph input / output names (Optimum layout). */
export const LLAMA_ONNX_IO = {
  inputIds: "input_ids",
  attentionMask: "attention_mask",
  positionIds: "position_ids",
  useCacheBranch: "use_cache_branch",
  logits: "logits",
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
} as const;

export type IoDtype = "float32" | "float16";
export type LogitsMode = "all" | "last" | "num_logits_to_keep" | "logits_to_keep";

/** Fully resolved variant of the graph (defaults applied by the writer). */
export interface LlamaGraphVariant {
  readonly ioDtype: IoDtype;
  readonly linear: LinearStorage;
  readonly lmHead: LinearStorage;
  readonly embeddings: LinearStorage;
  readonly positionIds: "input" | "from-mask";
  readonly logits: LogitsMode;
  readonly attention: "standard" | "gqa";
  readonly gqaRotary: "fused" | "separate";
  readonly merged: boolean;
}

/** Whether the graph has a position_ids input. */
export function hasPositionIdsInput(v: LlamaGraphVariant): boolean {
  return v.positionIds === "input" && !(v.attention === "gqa" && v.gqaRotary === "fused");
}

/** The graph's declared inputs and outputs, in the order of the published exports. */
export function llamaGraphIo(config: LlamaConfig, v: LlamaGraphVariant): { inputs: IValueInfoProto[]; outputs: IValueInfoProto[] } {
  const F = v.ioDtype === "float16" ? DT.FLOAT16 : DT.FLOAT;
  const kv = config.numKeyValueHeads;
  const d = config.headDim;
  const inputs = [
    tensorInfo(LLAMA_ONNX_IO.inputIds, DT.INT64, ["batch_size", "sequence_length"]),
    tensorInfo(LLAMA_ONNX_IO.attentionMask, DT.INT64, ["batch_size", "total_sequence_length"]),
  ];
  if (hasPositionIdsInput(v)) inputs.push(tensorInfo(LLAMA_ONNX_IO.positionIds, DT.INT64, ["batch_size", "sequence_length"]));
  const logitsLength = v.logits === "last" ? 1 : v.logits === "all" ? "sequence_length" : "logits_length";
  const outputs = [tensorInfo(LLAMA_ONNX_IO.logits, F, ["batch_size", logitsLength, config.vocabSize])];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    inputs.push(tensorInfo(LLAMA_ONNX_IO.pastKey(l), F, ["batch_size", kv, "past_sequence_length", d]));
    inputs.push(tensorInfo(LLAMA_ONNX_IO.pastValue(l), F, ["batch_size", kv, "past_sequence_length", d]));
    outputs.push(tensorInfo(LLAMA_ONNX_IO.presentKey(l), F, ["batch_size", kv, "total_sequence_length", d]));
    outputs.push(tensorInfo(LLAMA_ONNX_IO.presentValue(l), F, ["batch_size", kv, "total_sequence_length", d]));
  }
  if (v.logits === "num_logits_to_keep" || v.logits === "logits_to_keep") inputs.push(tensorInfo(v.logits, DT.INT64, []));
  if (v.merged) inputs.push(tensorInfo(LLAMA_ONNX_IO.useCacheBranch, DT.BOOL, [1]));
  return { inputs, outputs };
}

/** Values derived from the inputs once per (sub)graph. */
interface Context {
  readonly g: GraphBuilder;
  readonly w: LlamaWeights;
  readonly v: LlamaGraphVariant;
  readonly config: LlamaConfig;
  readonly withPast: boolean;
  /** Float type of the KV cache at the boundary. */
  readonly kvType: number;
}

/** [B, S] int64 position ids: the input, or transformers' cumsum(attention_mask) - 1 (pads -> 1), last S columns. */
function positionIds(c: Context): string {
  const { g } = c;
  if (c.v.positionIds === "input") return LLAMA_ONNX_IO.positionIds;
  const mask = LLAMA_ONNX_IO.attentionMask;
  const counted = g.op("Sub", [g.op("CumSum", [mask, g.int64([1], [])]), g.int64([1], [])]);
  const filled = g.op("Where", [g.op("Equal", [mask, g.int64([0], [])]), g.int64([1], []), counted]);
  const seqLen = g.op("Shape", [LLAMA_ONNX_IO.inputIds], { start: 1, end: 2 });
  return g.lastAlong(filled, seqLen, 1);
}

function rmsNorm(c: Context, x: string, w: string): string {
  const { g } = c;
  // Pow(x, 2) (not x * x): the pattern onnxruntime fuses into one SimplifiedLayerNormalization kernel.
  const ms = g.op("ReduceMean", [g.op("Pow", [x, g.float(2)])], { axes: [-1], keepdims: 1 });
  const rms = g.op("Sqrt", [g.op("Add", [ms, g.float(c.config.rmsNormEps)])]);
  return g.op("Mul", [g.op("Div", [x, rms]), w]);
}

/** Standard-op attention state shared by the layers: additive mask [B,1,S,T] and rotary tables [B,1,S,D]. */
function standardAttentionInputs(c: Context): { maskAdd: string; cos: string; sin: string } {
  const { g, config } = c;
  const seqLen = g.op("Gather", [g.op("Shape", [LLAMA_ONNX_IO.inputIds]), g.int64([1], [])], { axis: 0 });
  const totalLen = g.op("Gather", [g.op("Shape", [LLAMA_ONNX_IO.attentionMask]), g.int64([1], [])], { axis: 0 });
  const pastLen = g.op("Sub", [totalLen, seqLen]);
  const one = g.int64([1], []);
  const keySlots = g.op("Range", [g.int64([0], []), totalLen, one]);
  const querySlots = g.op("Unsqueeze", [g.op("Range", [pastLen, totalLen, one]), g.int64([1])]);
  const causal = g.op("LessOrEqual", [keySlots, querySlots]);
  const padding = g.op("Unsqueeze", [g.cast(LLAMA_ONNX_IO.attentionMask, DT.BOOL), g.int64([1, 2])]);
  const maskAdd = g.op("Where", [g.op("And", [causal, padding]), g.float(0), g.float(MASK_NEGATIVE)]);

  // rotate_half convention: angles repeated over both halves.
  const inv = g.floatConstant("rope_inv_freq", ropeInverseFrequencies(config));
  const pos = g.op("Unsqueeze", [g.cast(positionIds(c), DT.FLOAT), g.int64([2])]);
  const freqs = g.op("Mul", [pos, inv]);
  const angles = g.op("Concat", [freqs, freqs], { axis: -1 });
  const cos = g.op("Unsqueeze", [g.op("Cos", [angles]), g.int64([1])]);
  const sin = g.op("Unsqueeze", [g.op("Sin", [angles]), g.int64([1])]);
  return { maskAdd, cos, sin };
}

function applyRope(c: Context, x: string, cos: string, sin: string): string {
  const { g } = c;
  const [x1, x2] = g.node("Split", [x], { axis: -1 }, [g.fresh("half1"), g.fresh("half2")]);
  const rotated = g.op("Concat", [g.op("Neg", [x2]), x1], { axis: -1 });
  return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rotated, sin])]);
}

function kvIn(c: Context, name: string): string {
  return c.kvType === DT.FLOAT ? name : c.g.cast(name, DT.FLOAT);
}

/** Concat of past and new keys (or just the new ones), written to the `present` output name. */
function present(c: Context, past: string, fresh: string, output: string): string {
  const { g } = c;
  const needsCast = c.kvType !== DT.FLOAT;
  const target = needsCast ? g.fresh(`${output}_f32`) : output;
  const value = c.withPast ? g.node("Concat", [kvIn(c, past), fresh], { axis: 2 }, [target])[0] : g.node("Identity", [fresh], {}, [target])[0];
  if (needsCast) g.node("Cast", [value], { to: c.kvType }, [output]);
  return value;
}

async function standardAttention(c: Context, l: number, xn: string, shared: { maskAdd: string; cos: string; sin: string }): Promise<string> {
  const { g, w, config } = c;
  const { hiddenSize: H, numAttentionHeads: nH, numKeyValueHeads: KV, headDim: D } = config;
  const p = `model.layers.${l}.self_attn`;
  const proj = async (name: string, out: number): Promise<string> => (await w.linear(`${p}.${name}.weight`, [`${p}.${name}.weight`], [out], H, c.v.linear))(g, xn);
  const heads = (x: string, n: number): string => g.op("Transpose", [g.op("Reshape", [x, g.int64([0, 0, n, D])])], { perm: [0, 2, 1, 3] });
  const q = applyRope(c, heads(await proj("q_proj", nH * D), nH), shared.cos, shared.sin);
  const k = applyRope(c, heads(await proj("k_proj", KV * D), KV), shared.cos, shared.sin);
  const v = heads(await proj("v_proj", KV * D), KV);
  const keys = present(c, LLAMA_ONNX_IO.pastKey(l), k, LLAMA_ONNX_IO.presentKey(l));
  const values = present(c, LLAMA_ONNX_IO.pastValue(l), v, LLAMA_ONNX_IO.presentValue(l));
  // Grouped-query attention without copying the cache: query head h uses kv head h / rep, so the queries of one
  // kv group are stacked as [B, KV, rep*S, D] and multiplied with that group's keys.
  const qGrouped = g.op("Reshape", [q, g.int64([0, KV, -1, D])]);
  const scores = g.op("Mul", [g.op("MatMul", [qGrouped, g.op("Transpose", [keys], { perm: [0, 1, 3, 2] })]), g.float(1 / Math.sqrt(D))]);
  const masked = g.op("Add", [g.op("Reshape", [scores, g.int64([0, nH, -1, 0])]), shared.maskAdd]);
  const probs = g.op("Reshape", [g.op("Softmax", [masked], { axis: -1 }), g.int64([0, KV, -1, 0])]);
  const ctx = g.op("Reshape", [g.op("MatMul", [probs, values]), g.int64([0, nH, -1, D])]);
  return g.op("Reshape", [g.op("Transpose", [ctx], { perm: [0, 2, 1, 3] }), g.int64([0, 0, nH * D])]);
}

/** GroupQueryAttention inputs derived from attention_mask (onnxruntime-genai): seqlens_k, total_sequence_length. */
interface GqaShared {
  readonly seqlensK: string;
  readonly totalLen: string;
  readonly cosCache: string;
  readonly sinCache: string;
  readonly positions: string | null;
}

async function gqaInputs(c: Context): Promise<GqaShared> {
  const { g, config } = c;
  const mask = LLAMA_ONNX_IO.attentionMask;
  const seqlensK = g.cast(g.op("Sub", [g.op("ReduceSum", [mask, g.int64([1])], { keepdims: 0 }), g.int64([1], [])]), DT.INT32);
  const totalLen = g.cast(g.op("Gather", [g.op("Shape", [mask]), g.int64([1], [])], { axis: 0 }), DT.INT32);
  // cos/sin caches [max_position_embeddings, head_dim / 2] in the KV type, angles in float32 as transformers.
  const inv = ropeInverseFrequencies(config);
  const rows = config.maxPositionEmbeddings;
  const cos = new Float32Array(rows * inv.length);
  const sin = new Float32Array(rows * inv.length);
  for (let pos = 0; pos < rows; pos++) {
    for (let i = 0; i < inv.length; i++) {
      const angle = Math.fround(pos * inv[i]);
      cos[pos * inv.length + i] = Math.cos(angle);
      sin[pos * inv.length + i] = Math.sin(angle);
    }
  }
  const storage = c.kvType === DT.FLOAT16 ? "fp16" : "fp32";
  const cosCache = await c.w.table("cos_cache", [rows, inv.length], cos, storage);
  const sinCache = await c.w.table("sin_cache", [rows, inv.length], sin, storage);
  return { seqlensK, totalLen, cosCache, sinCache, positions: c.v.gqaRotary === "separate" ? positionIds(c) : null };
}

async function gqaAttention(c: Context, l: number, xn: string, shared: GqaShared): Promise<string> {
  const { g, w, config, v } = c;
  const { hiddenSize: H, numAttentionHeads: nH, numKeyValueHeads: KV, headDim: D } = config;
  const p = `model.layers.${l}.self_attn`;
  const toKv = (x: string): string => (c.kvType === DT.FLOAT ? x : g.cast(x, c.kvType));
  let qkv: string[];
  if (v.gqaRotary === "fused") {
    // Packed QKV projection (genai's default on CPU); rotary inside the op.
    const packed = await w.linear(`model.layers.${l}.attn.qkv_proj.weight`, ["q_proj", "k_proj", "v_proj"].map((n) => `${p}.${n}.weight`), [nH * D, KV * D, KV * D], H, v.linear);
    qkv = [toKv(packed(g, xn)), "", ""];
  } else {
    const proj = async (name: string, out: number): Promise<string> => toKv((await w.linear(`${p}.${name}.weight`, [`${p}.${name}.weight`], [out], H, v.linear))(g, xn));
    const rotary = (x: string, heads: number): string =>
      g.msNode("RotaryEmbedding", [x, shared.positions!, shared.cosCache, shared.sinCache], { interleaved: 0, num_heads: heads, rotary_embedding_dim: D }, [g.fresh("RotaryEmbedding")])[0];
    qkv = [rotary(await proj("q_proj", nH * D), nH), rotary(await proj("k_proj", KV * D), KV), await proj("v_proj", KV * D)];
  }
  const out = g.fresh("gqa_out");
  const fused = v.gqaRotary === "fused";
  g.msNode(
    "GroupQueryAttention",
    [...qkv, LLAMA_ONNX_IO.pastKey(l), LLAMA_ONNX_IO.pastValue(l), shared.seqlensK, shared.totalLen, fused ? shared.cosCache : "", fused ? shared.sinCache : ""],
    { num_heads: nH, kv_num_heads: KV, do_rotary: fused ? 1 : 0, rotary_interleaved: 0, local_window_size: -1 },
    [out, LLAMA_ONNX_IO.presentKey(l), LLAMA_ONNX_IO.presentValue(l)],
  );
  return c.kvType === DT.FLOAT ? out : g.cast(out, DT.FLOAT);
}

/** The hidden states [B, S', H] the vocabulary projection runs on: all positions, the last one, or the last N. */
function selectPositions(c: Context, h: string): string {
  const { g, v } = c;
  if (v.logits === "all") return h;
  if (v.logits === "last") return g.lastAlong(h, g.int64([1]), 1);
  return g.lastAlong(h, g.op("Unsqueeze", [v.logits, g.int64([0])]), 1);
}

/**
 * Emit the decoder into `g` (with or without the past inputs; the merged layout builds both), writing the outputs
 * under their final names.
 */
export async function buildLlamaDecoder(g: GraphBuilder, w: LlamaWeights, v: LlamaGraphVariant, withPast: boolean): Promise<void> {
  const config = w.config;
  const c: Context = { g, w, v, config, withPast, kvType: v.ioDtype === "float16" ? DT.FLOAT16 : DT.FLOAT };
  if (v.attention === "gqa" && !withPast) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", "GroupQueryAttention graphs always take the past inputs (no merged layout)");
  }
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  let h = (await w.embedding(v.embeddings))(g, LLAMA_ONNX_IO.inputIds);
  const standard = v.attention === "standard" ? standardAttentionInputs(c) : null;
  const gqa = v.attention === "gqa" ? await gqaInputs(c) : null;

  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    const xn = rmsNorm(c, h, await w.vector(`${p}.input_layernorm.weight`, H));
    const attn = standard ? await standardAttention(c, l, xn, standard) : await gqaAttention(c, l, xn, gqa!);
    const oProj = await w.linear(`${p}.self_attn.o_proj.weight`, [`${p}.self_attn.o_proj.weight`], [H], config.numAttentionHeads * config.headDim, v.linear);
    h = g.op("Add", [h, oProj(g, attn)]);

    const xm = rmsNorm(c, h, await w.vector(`${p}.post_attention_layernorm.weight`, H));
    const mlp = async (name: string, out: number, inp: number): Promise<LinearOp> => w.linear(`${p}.mlp.${name}.weight`, [`${p}.mlp.${name}.weight`], [out], inp, v.linear);
    const gate = (await mlp("gate_proj", I, H))(g, xm);
    const up = (await mlp("up_proj", I, H))(g, xm);
    const act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]);
    h = g.op("Add", [h, (await mlp("down_proj", H, I))(g, act)]);
  }
  const hn = rmsNorm(c, selectPositions(c, h), await w.vector("model.norm.weight", H));
  const logits = (await w.lmHead(v.lmHead))(g, hn);
  g.node(c.kvType === DT.FLOAT ? "Identity" : "Cast", [logits], c.kvType === DT.FLOAT ? {} : { to: c.kvType }, [LLAMA_ONNX_IO.logits]);
}
