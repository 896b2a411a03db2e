/**
 * The tensors of MBartForConditionalGeneration / BartForConditionalGeneration as `save_pretrained` writes them, and
 * the weight handles the seq2seq ONNX graphs use (biased projections, layer norms, the shared embedding, the learned
 * position tables, the tied vocabulary projection plus `final_logits_bias`).
 */
import type { TensorSpec } from "./checkpoint.js";
import { GraphWeights, type LinearOp, type LinearStorage } from "./graph-weights.js";
import { POSITION_OFFSET, type Seq2SeqConfig } from "./mbart-config.js";
import { DT, type GraphBuilder } from "./onnx-graph-builder.js";
import { float32ToLEBytes } from "./safetensors.js";

export const SHARED_EMBEDDING = "model.shared.weight";
export const FINAL_LOGITS_BIAS = "final_logits_bias";

/** Emits `f(x)` for one weight-bearing module (a projection with its bias, a layer norm). */
export type ModuleOp = (g: GraphBuilder, x: string) => string;

function attentionSpecs(p: string, d: number): TensorSpec[] {
  return ["k_proj", "v_proj", "q_proj", "out_proj"].flatMap((n) => [
    { name: `${p}.${n}.weight`, shape: [d, d] },
    { name: `${p}.${n}.bias`, shape: [d] },
  ]);
}

const norm = (p: string, d: number): TensorSpec[] => [
  { name: `${p}.weight`, shape: [d] },
  { name: `${p}.bias`, shape: [d] },
];

function ffnSpecs(p: string, d: number, ffn: number): TensorSpec[] {
  return [
    { name: `${p}.fc1.weight`, shape: [ffn, d] },
    { name: `${p}.fc1.bias`, shape: [ffn] },
    { name: `${p}.fc2.weight`, shape: [d, ffn] },
    { name: `${p}.fc2.bias`, shape: [d] },
  ];
}

/**
 * Every tensor of the model in state_dict order. The shared embedding may be saved under one of its tied names (older
 * checkpoints keep `model.encoder.embed_tokens.weight`); `final_logits_bias` may be absent (transformers then uses
 * zeros); lm_head.weight is listed only when the embeddings are not tied.
 */
export function seq2seqTensorSpecs(c: Seq2SeqConfig): TensorSpec[] {
  const d = c.dModel;
  const positions = c.maxPositionEmbeddings + POSITION_OFFSET;
  const tiedNames = ["model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", ...(c.tieWordEmbeddings ? ["lm_head.weight"] : [])];
  const specs: TensorSpec[] = [{ name: SHARED_EMBEDDING, shape: [c.vocabSize, d], alternatives: tiedNames }];
  specs.push({ name: "model.encoder.embed_positions.weight", shape: [positions, d] });
  for (let l = 0; l < c.encoderLayers; l++) {
    const p = `model.encoder.layers.${l}`;
    specs.push(...attentionSpecs(`${p}.self_attn`, d), ...norm(`${p}.self_attn_layer_norm`, d), ...ffnSpecs(p, d, c.encoderFfnDim), ...norm(`${p}.final_layer_norm`, d));
  }
  specs.push(...norm("model.encoder.layernorm_embedding", d));
  if (c.family === "mbart") specs.push(...norm("model.encoder.layer_norm", d));
  specs.push({ name: "model.decoder.embed_positions.weight", shape: [positions, d] });
  for (let l = 0; l < c.decoderLayers; l++) {
    const p = `model.decoder.layers.${l}`;
    specs.push(
      ...attentionSpecs(`${p}.self_attn`, d),
      ...norm(`${p}.self_attn_layer_norm`, d),
      ...attentionSpecs(`${p}.encoder_attn`, d),
      ...norm(`${p}.encoder_attn_layer_norm`, d),
      ...ffnSpecs(p, d, c.decoderFfnDim),
      ...norm(`${p}.final_layer_norm`, d),
    );
  }
  specs.push(...norm("model.decoder.layernorm_embedding", d));
  if (c.family === "mbart") specs.push(...norm("model.decoder.layer_norm", d));
  specs.push({ name: FINAL_LOGITS_BIAS, shape: [1, c.vocabSize], optional: true });
  if (!c.tieWordEmbeddings) specs.push({ name: "lm_head.weight", shape: [c.vocabSize, d] });
  return specs;
}

/** Weight handles of one seq2seq ONNX file (encoder or decoder). */
export class Seq2SeqWeights extends GraphWeights<Seq2SeqConfig> {
  /** `x @ W^T + b` for the HF Linear at `prefix` ([out, inp] weight, [out] bias). */
  async projection(prefix: string, out: number, inp: number, storage: LinearStorage): Promise<ModuleOp> {
    const w: LinearOp = await this.linear(`${prefix}.weight`, [`${prefix}.weight`], [out], inp, storage);
    const b = await this.vector(`${prefix}.bias`, out);
    return (g, x) => g.op("Add", [w(g, x), b]);
  }

  /** nn.LayerNorm at `prefix` over the last axis (ONNX LayerNormalization, fused by ONNX Runtime). */
  async layerNorm(prefix: string): Promise<ModuleOp> {
    const d = this.config.dModel;
    const w = await this.vector(`${prefix}.weight`, d);
    const b = await this.vector(`${prefix}.bias`, d);
    const eps = this.config.layerNormEps;
    return (g, x) => g.op("LayerNormalization", [x, w, b], { axis: -1, epsilon: { float: eps } });
  }

  /** Token embedding lookup in the shared table (not yet scaled). */
  tokens(storage: LinearStorage): Promise<(g: GraphBuilder, ids: string) => string> {
    return this.embeddingTable(SHARED_EMBEDDING, this.config.vocabSize, this.config.dModel, storage);
  }

  /** Learned position lookup (`side` "encoder" / "decoder"); the caller adds the offset 2 to the positions. */
  positions(side: "encoder" | "decoder"): Promise<(g: GraphBuilder, ids: string) => string> {
    return this.embeddingTable(`model.${side}.embed_positions.weight`, this.config.maxPositionEmbeddings + POSITION_OFFSET, this.config.dModel, { kind: "fp32" });
  }

  /**
   * The vocabulary projection plus final_logits_bias on hidden states [rows, H]. Tied float32 weights are read by
   * Gemm(transB) from the embedding table the decoder already holds for its Gather (one copy of 250k x 1024 instead
   * of two); other storages get lm_head's own [in, out] (or MatMulNBits) copy, as the Llama writer does.
   */
  async lmHead(storage: LinearStorage, sharesTable: boolean): Promise<ModuleOp> {
    const { vocabSize: V, dModel: H } = this.config;
    const bias = await this.once(FINAL_LOGITS_BIAS, async () => {
      const t = await this.fetch(FINAL_LOGITS_BIAS, [1, V]);
      await this.sink.add(FINAL_LOGITS_BIAS, [V], DT.FLOAT, float32ToLEBytes(t.data));
      this.tensorDone(FINAL_LOGITS_BIAS);
      return FINAL_LOGITS_BIAS;
    });
    if (this.config.tieWordEmbeddings && sharesTable && storage.kind === "fp32") {
      return (g, x) => g.op("Gemm", [x, SHARED_EMBEDDING, bias], { transB: 1 });
    }
    const source = this.config.tieWordEmbeddings ? SHARED_EMBEDDING : "lm_head.weight";
    const w = await this.linear("lm_head.weight", [source], [V], H, storage);
    return (g, x) => g.op("Add", [w(g, x), bias]);
  }
}
