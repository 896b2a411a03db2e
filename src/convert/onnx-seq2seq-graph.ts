/**
 * ONNX graphs of MBartForConditionalGeneration / BartForConditionalGeneration (Hugging Face semantics) in the IO
 * layout of Optimum's seq2seq exports, as transformers.js loads them:
 *
 *   encoder_model.onnx   input_ids, attention_mask [batch, enc]  ->  last_hidden_state [batch, enc, d_model]
 *   decoder_model.onnx   input_ids [batch, dec], encoder_attention_mask, encoder_hidden_states
 *                        ->  logits, present.{i}.decoder.key/value, present.{i}.encoder.key/value
 *   decoder_with_past_model.onnx   input_ids [batch, 1], encoder_attention_mask, past_key_values.{i}.decoder.* and
 *                        past_key_values.{i}.encoder.*  ->  logits, present.{i}.decoder.key/value
 *   decoder_model_merged.onnx   both behind `use_cache_branch` (If); the with-past branch returns empty
 *                        present.{i}.encoder.* ([0, heads, 1, head_dim]), as Optimum's merge does
 *
 * The cross-attention keys and values are computed from encoder_hidden_states once (the no-past call) and fed back
 * as past_key_values.{i}.encoder.* at every step.
 *
 * Layout "syncabel" (the converter's) adds what exact batched beam search needs and the Optimum layout lacks:
 *  - a decoder `attention_mask` [batch, past + dec] (transformers.js's name for decoder_attention_mask): rows of
 *    different prompt lengths are left-padded, and positions count only unmasked tokens, so each row computes what
 *    it would alone;
 *  - grouped cross-attention: the encoder tensors have their own batch E (sentences) and the decoder batch is E x B
 *    rows, rows s*B .. s*B+B-1 reading sentence s's keys and values, so beams share their sentence's cross-attention
 *    cache instead of each holding a copy (metadata `syncabel.cross_attention` = "grouped"; B = 1 is Optimum's case);
 *  - logits of the last position only ([batch, 1, vocab]): nobody reads the others.
 * Layout "optimum" writes none of these (logits of every position, per-row cross-attention tensors).
 */
import { SyncabelError } from "../errors.js";
import { join } from "node:path";
import type { LinearStorage, WeightSource } from "./graph-weights.js";
import { decoderHeadDim, POSITION_OFFSET, type Seq2SeqConfig } from "./mbart-config.js";
import { Seq2SeqWeights, type ModuleOp } from "./mbart-weights.js";
import { DT, GraphBuilder, tensorInfo, type IValueInfoProto } from "./onnx-graph-builder.js";
import { DEFAULT_EXTERNAL_DATA_THRESHOLD, writeOnnxModelFile, type WriteOnnxResult } from "./onnx-file-writer.js";
import { MASK_NEGATIVE } from "./llama-graph.js";
import { resolveVariant, type QuantizationOptions } from "./onnx-llama-graph.js";

/** Input / output names (Optimum seq2seq layout). */
export const SEQ2SEQ_IO = {
  inputIds: "input_ids",
  attentionMask: "attention_mask",
  encoderAttentionMask: "encoder_attention_mask",
  encoderHiddenStates: "encoder_hidden_states",
  lastHiddenState: "last_hidden_state",
  useCacheBranch: "use_cache_branch",
  logits: "logits",
  past: (layer: number, side: "decoder" | "encoder", kind: "key" | "value") => `past_key_values.${layer}.${side}.${kind}`,
  present: (layer: number, side: "decoder" | "encoder", kind: "key" | "value") => `present.${layer}.${side}.${kind}`,
} as const;

/** Metadata key (and value) marking decoders whose encoder tensors are per sentence, shared by its rows. */
export const CROSS_ATTENTION_METADATA = "syncabel.cross_attention";
export const GROUPED_CROSS_ATTENTION = "grouped";

/** File names of the Optimum / transformers.js seq2seq layout (before the dtype suffix). */
export const SEQ2SEQ_FILES = {
  encoder: "encoder_model",
  decoder: "decoder_model",
  decoderWithPast: "decoder_with_past_model",
  decoderMerged: "decoder_model_merged",
} as const;

export type Seq2SeqLayout = "syncabel" | "optimum";

export interface WriteSeq2SeqOptions {
  /** Projection weights: fp32 (default, exact), fp16, int8 / int4 (MatMulNBits), as the Llama writer. */
  readonly weightDtype?: "fp32" | "fp16" | "int8" | "int4";
  readonly quantization?: QuantizationOptions;
  /** "merged" (default): decoder_model_merged.onnx; "split": decoder_model.onnx + decoder_with_past_model.onnx. */
  readonly decoder?: "merged" | "split";
  /** Default "syncabel" (see the module comment). */
  readonly layout?: Seq2SeqLayout;
  /** Appended to every file name before `.onnx` (transformers.js dtype suffixes: "_quantized", "_q4", ...). */
  readonly fileSuffix?: string;
  /** Per file: weight bytes above which initializers stay in `<file>_data`. Default 1.5e9; 0 = always. */
  readonly externalDataThreshold?: number;
  /** Called with each Hugging Face tensor converted (and the file it went to). */
  readonly onTensor?: (tensor: string, file: string) => void;
  readonly signal?: AbortSignal;
}

export interface WriteSeq2SeqResult {
  /** The files written, relative to the output folder (external data included). */
  readonly files: readonly string[];
  readonly weightBytes: number;
}

interface Variant {
  readonly layout: Seq2SeqLayout;
  readonly linear: LinearStorage;
  readonly lmHead: LinearStorage;
  readonly embeddings: LinearStorage;
}

/** Values shared by the nodes of one (sub)graph. */
interface Ctx {
  readonly g: GraphBuilder;
  readonly w: Seq2SeqWeights;
  readonly c: Seq2SeqConfig;
  readonly v: Variant;
}

/** [B, S, n*hd] -> [B, n, S, hd]. */
function splitHeads(g: GraphBuilder, x: string, n: number, hd: number): string {
  return g.op("Transpose", [g.op("Reshape", [x, g.int64([0, 0, n, hd])])], { perm: [0, 2, 1, 3] });
}

/** Additive [B, 1, 1, S] mask from a [B, S] 0/1 mask (finite: a fully padded row gives garbage, never NaN). */
function paddingMask(g: GraphBuilder, mask: string): string {
  return g.op("Where", [g.op("Unsqueeze", [g.cast(mask, DT.BOOL), g.int64([1, 2])]), g.float(0), g.float(MASK_NEGATIVE)]);
}

/** softmax(q k^T * scaling + mask) v with q [*, n, Sq, hd], keys [*, n, Sk, hd]; returns [*, n, Sq, hd]. */
function attend(g: GraphBuilder, q: string, keys: string, values: string, maskAdd: string, hd: number): string {
  const scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [keys], { perm: [0, 1, 3, 2] })]), g.float(hd ** -0.5)]);
  return g.op("MatMul", [g.op("Softmax", [g.op("Add", [scores, maskAdd])], { axis: -1 }), values]);
}

function activation(ctx: Ctx, x: string): string {
  const { g } = ctx;
  switch (ctx.c.activation) {
    case "relu":
      return g.op("Relu", [x]);
    case "silu":
      return g.op("Mul", [x, g.op("Sigmoid", [x])]);
    case "gelu_new": {
      const cube = g.op("Mul", [g.op("Mul", [x, x]), x]);
      const inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [cube, g.float(0.044715)])]), g.float(Math.sqrt(2 / Math.PI))]);
      return g.op("Mul", [g.op("Mul", [x, g.float(0.5)]), g.op("Add", [g.op("Tanh", [inner]), g.float(1)])]);
    }
    default:
      // Exact GELU, 0.5 x (1 + erf(x / sqrt 2)): the pattern ONNX Runtime fuses into one Gelu kernel.
      return g.op("Mul", [g.op("Mul", [x, g.op("Add", [g.op("Erf", [g.op("Div", [x, g.float(Math.SQRT2)])]), g.float(1)])]), g.float(0.5)]);
  }
}

async function feedForward(ctx: Ctx, p: string, x: string, ffn: number): Promise<string> {
  const { g, w, c, v } = ctx;
  const fc1 = await w.projection(`${p}.fc1`, ffn, c.dModel, v.linear);
  const fc2 = await w.projection(`${p}.fc2`, c.dModel, ffn, v.linear);
  return fc2(g, activation(ctx, fc1(g, x)));
}

/**
 * One residual block: mBART (pre-norm) adds f(norm(h)); BART (post-norm) normalises h + f(h).
 */
async function residual(ctx: Ctx, h: string, normPrefix: string, f: (x: string) => Promise<string>): Promise<string> {
  const norm: ModuleOp = await ctx.w.layerNorm(normPrefix);
  if (ctx.c.family === "mbart") return ctx.g.op("Add", [h, await f(norm(ctx.g, h))]);
  return norm(ctx.g, ctx.g.op("Add", [h, await f(h)]));
}

/** Token embeddings (x sqrt(d) for mBART) + learned positions (ids + 2), then layernorm_embedding. */
async function embed(ctx: Ctx, side: "encoder" | "decoder", positions: string): Promise<string> {
  const { g, w, c } = ctx;
  let tokens = (await w.tokens(ctx.v.embeddings))(g, SEQ2SEQ_IO.inputIds);
  if (c.scaleEmbedding) tokens = g.op("Mul", [tokens, g.float(Math.sqrt(c.dModel))]);
  const pos = (await w.positions(side))(g, g.op("Add", [positions, g.int64([POSITION_OFFSET], [])]));
  return (await w.layerNorm(`model.${side}.layernorm_embedding`))(g, g.op("Add", [tokens, pos]));
}

/** Element `index` of Shape(x) as a [1] int64 tensor. */
function dim(g: GraphBuilder, x: string, index: number): string {
  return g.op("Shape", [x], { start: index, end: index + 1 });
}

async function buildEncoder(ctx: Ctx): Promise<void> {
  const { g, w, c, v } = ctx;
  const d = c.dModel;
  const hd = d / c.encoderHeads;
  const seqLen = g.op("Squeeze", [dim(g, SEQ2SEQ_IO.inputIds, 1), g.int64([0])]);
  let h = await embed(ctx, "encoder", g.op("Range", [g.int64([0], []), seqLen, g.int64([1], [])]));
  const maskAdd = paddingMask(g, SEQ2SEQ_IO.attentionMask);
  for (let l = 0; l < c.encoderLayers; l++) {
    const p = `model.encoder.layers.${l}`;
    h = await residual(ctx, h, `${p}.self_attn_layer_norm`, async (x) => {
      const proj = (name: string) => w.projection(`${p}.self_attn.${name}`, d, d, v.linear);
      const heads = async (name: string) => splitHeads(g, (await proj(name))(g, x), c.encoderHeads, hd);
      const ctxt = attend(g, await heads("q_proj"), await heads("k_proj"), await heads("v_proj"), maskAdd, hd);
      const merged = g.op("Reshape", [g.op("Transpose", [ctxt], { perm: [0, 2, 1, 3] }), g.int64([0, 0, d])]);
      return (await proj("out_proj"))(g, merged);
    });
    h = await residual(ctx, h, `${p}.final_layer_norm`, (x) => feedForward(ctx, p, x, c.encoderFfnDim));
  }
  if (c.family === "mbart") h = (await w.layerNorm("model.encoder.layer_norm"))(g, h);
  g.node("Identity", [h], {}, [SEQ2SEQ_IO.lastHiddenState]);
}

/** Decoder positions [B, S] (from the mask: counts of real tokens) or [S] (past .. past + S). */
function decoderPositions(ctx: Ctx, withPast: boolean): string {
  const { g } = ctx;
  const seqLen = dim(g, SEQ2SEQ_IO.inputIds, 1);
  if (ctx.v.layout === "syncabel") {
    const mask = SEQ2SEQ_IO.attentionMask;
    const counted = g.op("Sub", [g.op("CumSum", [mask, g.int64([1], [])]), g.int64([1], [])]);
    const filled = g.op("Where", [g.op("Equal", [mask, g.int64([0], [])]), g.int64([1], []), counted]);
    return g.lastAlong(filled, seqLen, 1);
  }
  const past = withPast ? g.op("Squeeze", [dim(g, SEQ2SEQ_IO.past(0, "decoder", "key"), 2), g.int64([0])]) : g.int64([0], []);
  return g.op("Range", [past, g.op("Add", [past, g.op("Squeeze", [seqLen, g.int64([0])])]), g.int64([1], [])]);
}

/** Additive self-attention mask [B or 1, 1, S, T]: causal, and (syncabel layout) the decoder attention_mask. */
function selfAttentionMask(ctx: Ctx, withPast: boolean): string {
  const { g } = ctx;
  const seqLen = g.op("Squeeze", [dim(g, SEQ2SEQ_IO.inputIds, 1), g.int64([0])]);
  const pastLen = withPast ? g.op("Squeeze", [dim(g, SEQ2SEQ_IO.past(0, "decoder", "key"), 2), g.int64([0])]) : g.int64([0], []);
  const totalLen = g.op("Add", [pastLen, seqLen]);
  const one = g.int64([1], []);
  const keySlots = g.op("Range", [g.int64([0], []), totalLen, one]);
  const querySlots = g.op("Unsqueeze", [g.op("Range", [pastLen, totalLen, one]), g.int64([1])]);
  let allowed = g.op("LessOrEqual", [keySlots, querySlots]);
  if (ctx.v.layout === "syncabel") allowed = g.op("And", [allowed, g.op("Unsqueeze", [g.cast(SEQ2SEQ_IO.attentionMask, DT.BOOL), g.int64([1, 2])])]);
  return g.op("Where", [allowed, g.float(0), g.float(MASK_NEGATIVE)]);
}

async function buildDecoder(ctx: Ctx, withPast: boolean, encoderPresents: "computed" | "empty" | "none"): Promise<void> {
  const { g, w, c, v } = ctx;
  const d = c.dModel;
  const n = c.decoderHeads;
  const hd = decoderHeadDim(c);
  let h = await embed(ctx, "decoder", decoderPositions(ctx, withPast));
  const selfMask = selfAttentionMask(ctx, withPast);
  const crossMask = paddingMask(g, SEQ2SEQ_IO.encoderAttentionMask);
  // Rows -> [E, B*S, d] -> heads: a sentence's rows attend to its own encoder keys (B = rows / E).
  const bySentence = g.op("Concat", [dim(g, SEQ2SEQ_IO.encoderAttentionMask, 0), g.int64([-1, n, hd])], { axis: 0 });
  const rowsBySentence = (x: string): string => g.op("Transpose", [g.op("Reshape", [x, bySentence])], { perm: [0, 2, 1, 3] });
  const outShape = g.op("Concat", [g.op("Shape", [SEQ2SEQ_IO.inputIds]), g.int64([d])], { axis: 0 });
  const emptyEncoder = encoderPresents === "empty" ? g.floatConstant("empty_cross", new Float32Array(0), [0, n, 1, hd]) : "";
  for (let l = 0; l < c.decoderLayers; l++) {
    const p = `model.decoder.layers.${l}`;
    const proj = (m: string, name: string) => w.projection(`${p}.${m}.${name}`, d, d, v.linear);
    h = await residual(ctx, h, `${p}.self_attn_layer_norm`, async (x) => {
      const heads = async (name: string) => splitHeads(g, (await proj("self_attn", name))(g, x), n, hd);
      const fresh = { key: await heads("k_proj"), value: await heads("v_proj") };
      const cache = (kind: "key" | "value"): string =>
        g.node(withPast ? "Concat" : "Identity", withPast ? [SEQ2SEQ_IO.past(l, "decoder", kind), fresh[kind]] : [fresh[kind]], withPast ? { axis: 2 } : {}, [SEQ2SEQ_IO.present(l, "decoder", kind)])[0];
      const ctxt = attend(g, await heads("q_proj"), cache("key"), cache("value"), selfMask, hd);
      return (await proj("self_attn", "out_proj"))(g, g.op("Reshape", [g.op("Transpose", [ctxt], { perm: [0, 2, 1, 3] }), g.int64([0, 0, d])]));
    });
    h = await residual(ctx, h, `${p}.encoder_attn_layer_norm`, async (x) => {
      let keys: string;
      let values: string;
      if (withPast) {
        keys = SEQ2SEQ_IO.past(l, "encoder", "key");
        values = SEQ2SEQ_IO.past(l, "encoder", "value");
        if (encoderPresents === "empty") {
          g.node("Identity", [emptyEncoder], {}, [SEQ2SEQ_IO.present(l, "encoder", "key")]);
          g.node("Identity", [emptyEncoder], {}, [SEQ2SEQ_IO.present(l, "encoder", "value")]);
        }
      } else {
        const fromEncoder = async (name: string, kind: "key" | "value") =>
          g.node("Identity", [splitHeads(g, (await proj("encoder_attn", name))(g, SEQ2SEQ_IO.encoderHiddenStates), n, hd)], {}, [SEQ2SEQ_IO.present(l, "encoder", kind)])[0];
        keys = await fromEncoder("k_proj", "key");
        values = await fromEncoder("v_proj", "value");
      }
      const q = rowsBySentence((await proj("encoder_attn", "q_proj"))(g, x));
      const ctxt = g.op("Transpose", [attend(g, q, keys, values, crossMask, hd)], { perm: [0, 2, 1, 3] });
      return (await proj("encoder_attn", "out_proj"))(g, g.op("Reshape", [ctxt, outShape]));
    });
    h = await residual(ctx, h, `${p}.final_layer_norm`, (x) => feedForward(ctx, p, x, c.decoderFfnDim));
  }
  if (c.family === "mbart") h = (await w.layerNorm("model.decoder.layer_norm"))(g, h);
  const kept = v.layout === "syncabel" ? g.lastAlong(h, g.int64([1]), 1) : h;
  const head = await w.lmHead(v.lmHead, v.embeddings.kind === "fp32");
  const flat = head(g, g.op("Reshape", [kept, g.int64([-1, d])]));
  g.node("Reshape", [flat, g.op("Concat", [dim(g, kept, 0), dim(g, kept, 1), g.int64([c.vocabSize])], { axis: 0 })], {}, [SEQ2SEQ_IO.logits]);
}

/** Declared inputs and outputs of a decoder file. */
function decoderIo(c: Seq2SeqConfig, layout: Seq2SeqLayout, kind: "no-past" | "with-past" | "merged"): { inputs: IValueInfoProto[]; outputs: IValueInfoProto[] } {
  const F = DT.FLOAT;
  const n = c.decoderHeads;
  const hd = decoderHeadDim(c);
  const sentences = layout === "syncabel" ? "encoder_batch_size" : "batch_size";
  const inputs = [
    tensorInfo(SEQ2SEQ_IO.encoderAttentionMask, DT.INT64, [sentences, "encoder_sequence_length"]),
    tensorInfo(SEQ2SEQ_IO.inputIds, DT.INT64, ["batch_size", "decoder_sequence_length"]),
  ];
  if (layout === "syncabel") inputs.push(tensorInfo(SEQ2SEQ_IO.attentionMask, DT.INT64, ["batch_size", "total_decoder_sequence_length"]));
  if (kind !== "with-past") inputs.push(tensorInfo(SEQ2SEQ_IO.encoderHiddenStates, F, [sentences, "encoder_sequence_length", c.dModel]));
  const logitsLength = layout === "syncabel" ? 1 : "decoder_sequence_length";
  const outputs = [tensorInfo(SEQ2SEQ_IO.logits, F, ["batch_size", logitsLength, c.vocabSize])];
  for (let l = 0; l < c.decoderLayers; l++) {
    for (const kindName of ["key", "value"] as const) {
      if (kind !== "no-past") {
        inputs.push(tensorInfo(SEQ2SEQ_IO.past(l, "decoder", kindName), F, ["batch_size", n, "past_decoder_sequence_length", hd]));
      }
    }
    for (const kindName of ["key", "value"] as const) {
      if (kind !== "no-past") inputs.push(tensorInfo(SEQ2SEQ_IO.past(l, "encoder", kindName), F, [sentences, n, "encoder_sequence_length_out", hd]));
    }
    for (const kindName of ["key", "value"] as const) outputs.push(tensorInfo(SEQ2SEQ_IO.present(l, "decoder", kindName), F, ["batch_size", n, "total_decoder_sequence_length", hd]));
    if (kind !== "with-past") {
      for (const kindName of ["key", "value"] as const) outputs.push(tensorInfo(SEQ2SEQ_IO.present(l, "encoder", kindName), F, [sentences, n, "encoder_sequence_length_out", hd]));
    }
  }
  if (kind === "merged") inputs.push(tensorInfo(SEQ2SEQ_IO.useCacheBranch, DT.BOOL, [1]));
  return { inputs, outputs };
}

function resolveSeq2SeqVariant(options: WriteSeq2SeqOptions): Variant {
  const dtype = options.weightDtype ?? "fp32";
  if (!["fp32", "fp16", "int8", "int4"].includes(dtype)) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `ONNX writer: weightDtype must be fp32, fp16, int8 or int4, got ${JSON.stringify(dtype)}`);
  }
  const { linear, lmHead, embeddings } = resolveVariant({ weightDtype: dtype, ...(options.quantization ? { quantization: options.quantization } : {}) });
  const layout = options.layout ?? "syncabel";
  if (layout !== "syncabel" && layout !== "optimum") throw new SyncabelError("MODEL_CONFIG_INVALID", `ONNX writer: unknown seq2seq layout ${JSON.stringify(layout)}`);
  return { layout, linear, lmHead, embeddings };
}

/**
 * Write the encoder and decoder file(s) of `config` into the folder `dir` (usually `<model>/onnx`), weights by HF name
 * from `weight`. Each file holds its own copy of the weights it uses (the shared embedding in both), as Optimum's do.
 */
export async function writeSeq2SeqOnnx(config: Seq2SeqConfig, weight: WeightSource, dir: string, options: WriteSeq2SeqOptions = {}): Promise<WriteSeq2SeqResult> {
  const v = resolveSeq2SeqVariant(options);
  const suffix = options.fileSuffix ?? "";
  const threshold = options.externalDataThreshold ?? DEFAULT_EXTERNAL_DATA_THRESHOLD;
  const usesMs = [v.linear, v.lmHead, v.embeddings].some((s) => s.kind === "nbits");
  const files: string[] = [];
  let weightBytes = 0;
  const write = async (base: string, build: (ctx: Ctx) => Promise<{ inputs: IValueInfoProto[]; outputs: IValueInfoProto[]; decoder: boolean }>): Promise<void> => {
    const file = `${base}${suffix}.onnx`;
    const result: WriteOnnxResult = await writeOnnxModelFile(join(dir, file), threshold, async (sink) => {
      const source: WeightSource = (name) => {
        options.signal?.throwIfAborted();
        return weight(name);
      };
      const w = new Seq2SeqWeights(config, source, sink, (p) => options.onTensor?.(p.tensor, file));
      const g = new GraphBuilder();
      const io = await build({ g, w, c: config, v });
      const metadata: Record<string, string> = io.decoder && v.layout === "syncabel" ? { [CROSS_ATTENTION_METADATA]: GROUPED_CROSS_ATTENTION } : {};
      return { name: base, graph: g, inputs: io.inputs, outputs: io.outputs, usesMs, metadata };
    });
    files.push(file, ...(result.externalDataPath ? [`${file}_data`] : []));
    weightBytes += result.weightBytes;
  };
  await write(SEQ2SEQ_FILES.encoder, async (ctx) => {
    await buildEncoder(ctx);
    const inputs = [tensorInfo(SEQ2SEQ_IO.inputIds, DT.INT64, ["batch_size", "encoder_sequence_length"]), tensorInfo(SEQ2SEQ_IO.attentionMask, DT.INT64, ["batch_size", "encoder_sequence_length"])];
    return { inputs, outputs: [tensorInfo(SEQ2SEQ_IO.lastHiddenState, DT.FLOAT, ["batch_size", "encoder_sequence_length", config.dModel])], decoder: false };
  });
  if ((options.decoder ?? "merged") === "split") {
    await write(SEQ2SEQ_FILES.decoder, async (ctx) => {
      await buildDecoder(ctx, false, "computed");
      return { ...decoderIo(config, v.layout, "no-past"), decoder: true };
    });
    await write(SEQ2SEQ_FILES.decoderWithPast, async (ctx) => {
      await buildDecoder(ctx, true, "none");
      return { ...decoderIo(config, v.layout, "with-past"), decoder: true };
    });
  } else {
    await write(SEQ2SEQ_FILES.decoderMerged, async (ctx) => {
      const withPast = ctx.g.branch();
      await buildDecoder({ ...ctx, g: withPast }, true, "empty");
      const noPast = ctx.g.branch();
      await buildDecoder({ ...ctx, g: noPast }, false, "computed");
      const io = decoderIo(config, v.layout, "merged");
      const branch = (name: string, b: GraphBuilder) => ({ graph: { name, node: b.nodes, output: io.outputs } });
      ctx.g.node("If", [SEQ2SEQ_IO.useCacheBranch], { then_branch: branch("with_past", withPast), else_branch: branch("no_past", noPast) }, io.outputs.map((o) => o.name!));
      return { ...io, decoder: true };
    });
  }
  return { files, weightBytes };
}
