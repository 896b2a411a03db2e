/**
 * Builds the ONNX graph of a Llama causal LM (same semantics as Hugging Face LlamaForCausalLM) with a KV cache
 * in the Hugging Face Optimum IO layout:
 *
 *   inputs   input_ids [batch, seq] int64, attention_mask [batch, past+seq] int64, position_ids [batch, seq] int64,
 *            past_key_values.{i}.key / .value [batch, kv_heads, past, head_dim] float32
 *   outputs  logits [batch, seq, vocab] float32, present.{i}.key / .value [batch, kv_heads, past+seq, head_dim]
 *
 * Query i (absolute slot past+i) may attend key slot j iff attention_mask[j] == 1 and j <= past+i. Masked scores
 * get -1e9 added (not -inf) so a fully padded row yields finite garbage instead of NaN.
 *
 * Only standard ONNX ops of opset 17. Weights are initializers stored as raw little-endian bytes, inside the
 * .onnx file or, above `externalDataThreshold` total bytes, in `model.onnx_data` beside it (Optimum style;
 * a single protobuf message cannot exceed 2 GB).
 */
import { mkdirSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import onnxProto from "onnx-proto";
import { SyncabelError } from "../errors.js";
import { writeAll, writeFileAtomic, writeFileAtomicWith } from "../io/atomic-write.js";
import type { LlamaConfig } from "./llama-config.js";
import { isPlainRope } from "./llama-config.js";
import { float32ToLEBytes, type Float32Tensor } from "./safetensors.js";

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
/** Above this many bytes of weights the initializers go to `model.onnx_data`. */
export const DEFAULT_EXTERNAL_DATA_THRESHOLD = 1.5e9;
/** Additive mask value for disallowed keys: large but finite (no NaN for fully padded rows). */
export const MASK_NEGATIVE = -1e9;

/** Graph input / output names (Optimum layout). */
export const LLAMA_ONNX_IO = {
  inputIds: "input_ids",
  attentionMask: "attention_mask",
  positionIds: "position_ids",
  logits: "logits",
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
} as const;

type AttrValue = number | readonly number[] | { float: number };

/** Collects nodes and initializers; names intermediate values uniquely. */
class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  /** Initializers with their float or int64 payload, serialized at write time. */
  readonly initializers: { name: string; dims: number[]; dataType: number; bytes: Uint8Array }[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  node(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, outputs?: string[]): string[] {
    const outs = outputs ?? [this.fresh(op)];
    const attribute: IAttributeProto[] = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === "number") return { name, type: onnx.AttributeProto.AttributeType.INT, i: v };
      if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...(v as number[])] };
      return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: (v as { float: number }).float };
    });
    this.nodes.push({ opType: op, input: [...inputs], output: outs, name: this.fresh(`n_${op}`), attribute });
    return outs;
  }

  op(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}): string {
    return this.node(op, inputs, attrs)[0];
  }

  floatInit(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, bytes: float32ToLEBytes(data) });
    return name;
  }

  /** A small int64 constant (shapes, axes, indices), deduplicated. `dims` [] makes a scalar. */
  int64(values: readonly number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join("x")}:${values.join(",")}`;
    const hit = this.constCache.get(key);
    if (hit !== undefined) return hit;
    const name = this.fresh("const_i64");
    const bytes = new Uint8Array(new BigInt64Array(values.map((v) => BigInt(v))).buffer);
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.INT64, bytes });
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 scalar constant, deduplicated. */
  float(value: number): string {
    const key = `f32:${value}`;
    const hit = this.constCache.get(key);
    if (hit !== undefined) return hit;
    const name = this.fresh("const_f32");
    this.floatInit(name, [], new Float32Array([value]));
    this.constCache.set(key, name);
    return name;
  }
}

/** Transpose a row-major [rows, cols] matrix into [cols, rows] (HF Linear weights are [out, in]). */
function transpose2d(t: Float32Tensor, name: string): Float32Array {
  if (t.shape.length !== 2) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `weight ${name} has shape ${JSON.stringify(t.shape)}, expected 2-D`);
  }
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  const src = t.data;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c];
  }
  return out;
}

function expectShape(t: Float32Tensor, name: string, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new SyncabelError(
      "MODEL_CONFIG_INVALID",
      `weight ${name} has shape ${JSON.stringify(t.shape)}, config.json implies ${JSON.stringify(shape)}`,
      { tensor: name },
    );
  }
}

function tensorInfo(name: string, elemType: number, dims: readonly (string | number)[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Inverse RoPE frequencies as HF computes them (float32): 1 / theta^(2i/d). */
export function ropeInverseFrequencies(headDim: number, theta: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) out[i] = 1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim)));
  return out;
}

/** A weight by its Hugging Face name (e.g. from model.safetensors). */
export type WeightSource = (name: string) => Float32Tensor;

/** Build the graph (nodes + initializers) for `config` with weights from `weight`. */
function buildGraph(config: LlamaConfig, weight: WeightSource): GraphBuilder {
  if (!isPlainRope(config)) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `rope_scaling ${JSON.stringify(config.ropeScaling)} is not supported by the ONNX writer`);
  }
  const H = config.hiddenSize;
  const nH = config.numAttentionHeads;
  const KV = config.numKeyValueHeads;
  const D = config.headDim;
  const V = config.vocabSize;
  const I = config.intermediateSize;
  const g = new GraphBuilder();

  const linear = (name: string, outDim: number, inDim: number): string => {
    const t = weight(name);
    expectShape(t, name, [outDim, inDim]);
    return g.floatInit(name, [inDim, outDim], transpose2d(t, name));
  };
  const vector = (name: string, dim: number): string => {
    const t = weight(name);
    expectShape(t, name, [dim]);
    return g.floatInit(name, [dim], t.data);
  };
  const rmsNorm = (x: string, w: string): string => {
    const ms = g.op("ReduceMean", [g.op("Mul", [x, x])], { axes: [-1], keepdims: 1 });
    const rms = g.op("Sqrt", [g.op("Add", [ms, g.float(config.rmsNormEps)])]);
    return g.op("Mul", [g.op("Div", [x, rms]), w]);
  };

  // Embedding lookup.
  const embedName = "model.embed_tokens.weight";
  const embed = weight(embedName);
  expectShape(embed, embedName, [V, H]);
  g.floatInit(embedName, [V, H], embed.data);
  let h = g.op("Gather", [embedName, LLAMA_ONNX_IO.inputIds], { axis: 0 });

  // Attention mask [B,1,S,T]: key slot j allowed iff attention_mask[j]==1 and j <= past + i.
  const seqLen = g.op("Gather", [g.op("Shape", [LLAMA_ONNX_IO.inputIds]), g.int64([1], [])], { axis: 0 });
  const totalLen = g.op("Gather", [g.op("Shape", [LLAMA_ONNX_IO.attentionMask]), g.int64([1], [])], { axis: 0 });
  const pastLen = g.op("Sub", [totalLen, seqLen]);
  const one = g.int64([1], []);
  const keySlots = g.op("Range", [g.int64([0], []), totalLen, one]);
  const querySlots = g.op("Unsqueeze", [g.op("Range", [pastLen, totalLen, one]), g.int64([1])]);
  const causal = g.op("LessOrEqual", [keySlots, querySlots]);
  const padding = g.op("Unsqueeze", [g.op("Cast", [LLAMA_ONNX_IO.attentionMask], { to: onnx.TensorProto.DataType.BOOL }), g.int64([1, 2])]);
  const allowed = g.op("And", [causal, padding]);
  const maskAdd = g.op("Where", [allowed, g.float(0), g.float(MASK_NEGATIVE)]);

  // Rotary tables [B,1,S,D] from position_ids (rotate_half convention: angles repeated over both halves).
  const invFreq = g.floatInit("rope_inv_freq", [D / 2], ropeInverseFrequencies(D, config.ropeTheta));
  const pos = g.op("Unsqueeze", [g.op("Cast", [LLAMA_ONNX_IO.positionIds], { to: onnx.TensorProto.DataType.FLOAT }), g.int64([2])]);
  const freqs = g.op("Mul", [pos, invFreq]);
  const angles = g.op("Concat", [freqs, freqs], { axis: -1 });
  const cos = g.op("Unsqueeze", [g.op("Cos", [angles]), g.int64([1])]);
  const sin = g.op("Unsqueeze", [g.op("Sin", [angles]), g.int64([1])]);
  const rope = (x: string): string => {
    const [x1, x2] = g.node("Split", [x], { axis: -1 }, [g.fresh("half1"), g.fresh("half2")]);
    const rotated = g.op("Concat", [g.op("Neg", [x2]), x1], { axis: -1 });
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rotated, sin])]);
  };
  const heads = (x: string, n: number): string =>
    g.op("Transpose", [g.op("Reshape", [x, g.int64([0, 0, n, D])])], { perm: [0, 2, 1, 3] });
  const rep = nH / KV;
  const scale = g.float(1 / Math.sqrt(D));

  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    const xn = rmsNorm(h, vector(`${p}.input_layernorm.weight`, H));
    const q = rope(heads(g.op("MatMul", [xn, linear(`${p}.self_attn.q_proj.weight`, nH * D, H)]), nH));
    const k = rope(heads(g.op("MatMul", [xn, linear(`${p}.self_attn.k_proj.weight`, KV * D, H)]), KV));
    const v = heads(g.op("MatMul", [xn, linear(`${p}.self_attn.v_proj.weight`, KV * D, H)]), KV);
    const keys = g.node("Concat", [LLAMA_ONNX_IO.pastKey(l), k], { axis: 2 }, [LLAMA_ONNX_IO.presentKey(l)])[0];
    const values = g.node("Concat", [LLAMA_ONNX_IO.pastValue(l), v], { axis: 2 }, [LLAMA_ONNX_IO.presentValue(l)])[0];
    // Grouped-query attention without copying the cache: query head h uses kv head h / rep, so the queries of
    // one kv group are stacked as [B, KV, rep*S, D] and multiplied with that group's keys.
    const qGrouped = g.op("Reshape", [q, g.int64([0, KV, -1, D])]);
    const scores = g.op("Mul", [g.op("MatMul", [qGrouped, g.op("Transpose", [keys], { perm: [0, 1, 3, 2] })]), scale]);
    const masked = g.op("Add", [g.op("Reshape", [scores, g.int64([0, nH, -1, 0])]), maskAdd]);
    const probs = g.op("Reshape", [g.op("Softmax", [masked], { axis: -1 }), g.int64([0, KV, -1, 0])]);
    const ctx = g.op("Reshape", [g.op("MatMul", [probs, values]), g.int64([0, nH, -1, D])]);
    const merged = g.op("Reshape", [g.op("Transpose", [ctx], { perm: [0, 2, 1, 3] }), g.int64([0, 0, nH * D])]);
    h = g.op("Add", [h, g.op("MatMul", [merged, linear(`${p}.self_attn.o_proj.weight`, H, nH * D)])]);

    const xm = rmsNorm(h, vector(`${p}.post_attention_layernorm.weight`, H));
    const gate = g.op("MatMul", [xm, linear(`${p}.mlp.gate_proj.weight`, I, H)]);
    const up = g.op("MatMul", [xm, linear(`${p}.mlp.up_proj.weight`, I, H)]);
    const act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]);
    h = g.op("Add", [h, g.op("MatMul", [act, linear(`${p}.mlp.down_proj.weight`, H, I)])]);
  }
  const hn = rmsNorm(h, vector("model.norm.weight", H));
  const lmHead = config.tieWordEmbeddings
    ? g.floatInit("lm_head.weight.T", [H, V], transpose2d(embed, embedName))
    : linear("lm_head.weight", V, H);
  g.node("MatMul", [hn, lmHead], {}, [LLAMA_ONNX_IO.logits]);
  return g;
}

function graphInputsOutputs(config: LlamaConfig, ioDtype: IoDtype): { inputs: IValueInfoProto[]; outputs: IValueInfoProto[] } {
  const F = ioDtype === "float16" ? onnx.TensorProto.DataType.FLOAT16 : onnx.TensorProto.DataType.FLOAT;
  const I64 = onnx.TensorProto.DataType.INT64;
  const kv = config.numKeyValueHeads;
  const d = config.headDim;
  const inputs = [
    tensorInfo(LLAMA_ONNX_IO.inputIds, I64, ["batch_size", "sequence_length"]),
    tensorInfo(LLAMA_ONNX_IO.attentionMask, I64, ["batch_size", "total_sequence_length"]),
    tensorInfo(LLAMA_ONNX_IO.positionIds, I64, ["batch_size", "sequence_length"]),
  ];
  const outputs = [tensorInfo(LLAMA_ONNX_IO.logits, F, ["batch_size", "sequence_length", config.vocabSize])];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    inputs.push(tensorInfo(LLAMA_ONNX_IO.pastKey(l), F, ["batch_size", kv, "past_sequence_length", d]));
    inputs.push(tensorInfo(LLAMA_ONNX_IO.pastValue(l), F, ["batch_size", kv, "past_sequence_length", d]));
    outputs.push(tensorInfo(LLAMA_ONNX_IO.presentKey(l), F, ["batch_size", kv, "total_sequence_length", d]));
    outputs.push(tensorInfo(LLAMA_ONNX_IO.presentValue(l), F, ["batch_size", kv, "total_sequence_length", d]));
  }
  return { inputs, outputs };
}

export type IoDtype = "float32" | "float16";

export interface WriteOnnxOptions {
  /** Total weight bytes above which initializers go to `<name>_data` beside the model. Default 1.5e9. */
  readonly externalDataThreshold?: number;
  /**
   * Element type of the KV cache inputs/outputs and of the logits. "float16" mimics half-precision exports (what
   * runtimes see at the model's boundary) while computing in float32 inside, through Cast nodes at the edges.
   */
  readonly ioDtype?: IoDtype;
}

/** Give the float boundary tensors (past/present KV, logits) a float16 type, with Casts to the float32 graph. */
function castBoundaryToFloat16(g: GraphBuilder, config: LlamaConfig): void {
  const inner = (name: string): string => `${name}__f32`;
  const pasts = new Set<string>();
  const outs = new Set<string>([LLAMA_ONNX_IO.logits]);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    pasts.add(LLAMA_ONNX_IO.pastKey(l)).add(LLAMA_ONNX_IO.pastValue(l));
    outs.add(LLAMA_ONNX_IO.presentKey(l)).add(LLAMA_ONNX_IO.presentValue(l));
  }
  const renamed = (name: string): string => (pasts.has(name) || outs.has(name) ? inner(name) : name);
  for (const n of g.nodes) {
    n.input = (n.input ?? []).map(renamed);
    n.output = (n.output ?? []).map(renamed);
  }
  const cast = (from: string, to: string, type: number): INodeProto => ({
    opType: "Cast",
    input: [from],
    output: [to],
    name: g.fresh("n_Cast"),
    attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: type }],
  });
  g.nodes.unshift(...[...pasts].map((p) => cast(p, inner(p), onnx.TensorProto.DataType.FLOAT)));
  g.nodes.push(...[...outs].map((o) => cast(inner(o), o, onnx.TensorProto.DataType.FLOAT16)));
}

export interface WriteOnnxResult {
  readonly modelPath: string;
  /** Path of the external data file, or null when the weights are inside the .onnx file. */
  readonly externalDataPath: string | null;
  readonly weightBytes: number;
}

/** External-data tensors start at multiples of this (page size, so runtimes may memory-map them). */
const EXTERNAL_ALIGN = 4096;

/**
 * Write the ONNX model of `config` (weights by HF name from `weight`) to `modelPath` (e.g. `<dir>/onnx/model.onnx`),
 * each file through a temp file and rename.
 */
export function writeLlamaOnnx(
  config: LlamaConfig,
  weight: WeightSource,
  modelPath: string,
  options: WriteOnnxOptions = {},
): WriteOnnxResult {
  const g = buildGraph(config, weight);
  const ioDtype = options.ioDtype ?? "float32";
  if (ioDtype === "float16") castBoundaryToFloat16(g, config);
  const weightBytes = g.initializers.reduce((n, t) => n + t.bytes.length, 0);
  const external = weightBytes > (options.externalDataThreshold ?? DEFAULT_EXTERNAL_DATA_THRESHOLD);
  mkdirSync(dirname(modelPath), { recursive: true });
  const dataName = `${basename(modelPath)}_data`;
  const dataPath = join(dirname(modelPath), dataName);

  let initializer: ITensorProto[];
  if (external) {
    initializer = [];
    writeFileAtomicWith(dataPath, (fd) => {
      let offset = 0;
      for (const t of g.initializers) {
        if (t.bytes.length < 1024) {
          initializer.push({ name: t.name, dims: t.dims, dataType: t.dataType, rawData: t.bytes });
          continue;
        }
        const padTo = Math.ceil(offset / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
        if (padTo > offset) writeSync(fd, new Uint8Array(padTo - offset));
        offset = padTo;
        writeAll(fd, t.bytes);
        initializer.push({
          name: t.name,
          dims: t.dims,
          dataType: t.dataType,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: "location", value: dataName },
            { key: "offset", value: String(offset) },
            { key: "length", value: String(t.bytes.length) },
          ],
        });
        offset += t.bytes.length;
      }
    });
  } else {
    initializer = g.initializers.map((t) => ({ name: t.name, dims: t.dims, dataType: t.dataType, rawData: t.bytes }));
  }

  const { inputs, outputs } = graphInputsOutputs(config, ioDtype);
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: "syncabel",
    producerVersion: "1",
    graph: { name: "llama", node: g.nodes, initializer, input: inputs, output: outputs },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  writeFileAtomic(modelPath, bytes);
  if (!external) rmSync(dataPath, { force: true });
  return { modelPath, externalDataPath: external ? dataPath : null, weightBytes };
}
