/**
 * An independent, plain TypeScript forward pass of MBartForConditionalGeneration / BartForConditionalGeneration,
 * read from `config.json` and the safetensors weights (never the ONNX files), written from the Hugging Face
 * definitions with float64 arithmetic, to check the ONNX graphs and the seq2seq runtime in tests. Slow: tiny models.
 *
 *  - embeddings: shared[id] x sqrt(d) when scale_embedding, + positions[t + 2], then layernorm_embedding;
 *  - mBART layers are pre-norm (x + f(norm(x))) and the encoder and decoder end with layer_norm; BART layers are
 *    post-norm (norm(x + f(x))), no final norms;
 *  - attention: softmax(q k^T / sqrt(head_dim)) v, causal in the decoder's self-attention, cross-attention over the
 *    encoder output; biases on every projection; GELU exact (erf);
 *  - logits = hidden . shared^T (tied) + final_logits_bias, log-softmax over the full vocabulary.
 */
import { SyncabelError } from "../errors.js";
import { openSeq2SeqCheckpoint } from "../convert/mbart-checkpoint.js";
import { POSITION_OFFSET, type Seq2SeqConfig } from "../convert/mbart-config.js";
import { FINAL_LOGITS_BIAS, SHARED_EMBEDDING } from "../convert/mbart-weights.js";
import { logSoftmax64 } from "./log-softmax.js";

export interface ReferenceSeq2Seq {
  readonly config: Seq2SeqConfig;
  /** Encoder output of one unpadded source sequence: one float64 vector per token. */
  encode(source: readonly number[]): Float64Array[];
  /**
   * Log-softmax over the full vocabulary after each decoder position: element t is log p(next | source,
   * decoderIds[0..t]). With `from`, only positions from..n-1 are returned.
   */
  logProbs(source: readonly number[], decoderIds: readonly number[], options?: { readonly from?: number }): Float32Array[];
}

/**
 * erf in double precision: the Maclaurin series below 3 (terms stay below ~1e3, so ~1e-13 absolute), the continued
 * fraction of erfc from 3 (converging fast there), 1 beyond 6.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(-a^2)/sqrt(pi) * 1 / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / (a + ...))))), evaluated backwards.
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

function act(c: Seq2SeqConfig, x: number): number {
  switch (c.activation) {
    case "relu":
      return Math.max(0, x);
    case "silu":
      return x / (1 + Math.exp(-x));
    case "gelu_new":
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    default:
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
  }
}

/** y = W x + b for a row-major W [out, in]. */
function linear(w: Float32Array, b: Float32Array, x: Float64Array): Float64Array {
  const out = b.length;
  const inp = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b[o];
    const base = o * inp;
    for (let i = 0; i < inp; i++) s += w[base + i] * x[i];
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return Float64Array.from(x, (v, i) => (v - mean) * inv * w[i] + b[i]);
}

type Get = (name: string) => Float32Array;

/** Multi-head attention of `queries` over `keysFrom` (keys/values projected from it); `causal` limits query t to keys 0..t. */
function attention(get: Get, p: string, heads: number, queries: Float64Array[], keysFrom: Float64Array[], causal: boolean): Float64Array[] {
  const proj = (name: string, xs: Float64Array[]) => xs.map((x) => linear(get(`${p}.${name}.weight`), get(`${p}.${name}.bias`), x));
  const q = proj("q_proj", queries);
  const k = proj("k_proj", keysFrom);
  const v = proj("v_proj", keysFrom);
  const d = q[0].length;
  const hd = d / heads;
  const scale = hd ** -0.5;
  return q.map((qt, t) => {
    const ctx = new Float64Array(d);
    const last = causal ? t : k.length - 1;
    for (let h = 0; h < heads; h++) {
      const scores: number[] = [];
      for (let j = 0; j <= last; j++) {
        let s = 0;
        for (let e = 0; e < hd; e++) s += qt[h * hd + e] * k[j][h * hd + e];
        scores.push(s * scale);
      }
      const max = Math.max(...scores);
      const exps = scores.map((s) => Math.exp(s - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      for (let j = 0; j <= last; j++) for (let e = 0; e < hd; e++) ctx[h * hd + e] += (exps[j] / sum) * v[j][h * hd + e];
    }
    return linear(get(`${p}.out_proj.weight`), get(`${p}.out_proj.bias`), ctx);
  });
}

/** Load a checkpoint folder (config.json + safetensors) for reference computations. */
export function loadReferenceSeq2Seq(dir: string): ReferenceSeq2Seq {
  const checkpoint = openSeq2SeqCheckpoint(dir);
  const c = checkpoint.config;
  const weights = new Map<string, Float32Array>();
  try {
    for (const name of [...checkpoint.tensors.keys(), FINAL_LOGITS_BIAS]) weights.set(name, checkpoint.weight(name).data);
  } finally {
    checkpoint.close();
  }
  const get: Get = (name) => {
    const w = weights.get(name);
    if (w === undefined) throw new SyncabelError("MODEL_FILE_MISSING", `reference: no tensor ${name}`);
    return w;
  };
  const d = c.dModel;
  const eps = c.layerNormEps;
  const norm = (p: string, x: Float64Array) => layerNorm(x, get(`${p}.weight`), get(`${p}.bias`), eps);
  const shared = get(SHARED_EMBEDDING);
  const lmHead = c.tieWordEmbeddings ? shared : get("lm_head.weight");
  const scale = c.scaleEmbedding ? Math.sqrt(d) : 1;

  const embed = (side: "encoder" | "decoder", ids: readonly number[]): Float64Array[] => {
    const positions = get(`model.${side}.embed_positions.weight`);
    return ids.map((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new SyncabelError("MODEL_RUNTIME", `reference: token id ${id} is outside the vocabulary of ${c.vocabSize}`);
      const x = new Float64Array(d);
      for (let i = 0; i < d; i++) x[i] = shared[id * d + i] * scale + positions[(t + POSITION_OFFSET) * d + i];
      return norm(`model.${side}.layernorm_embedding`, x);
    });
  };
  /** One residual block over every position: pre-norm (mBART) or post-norm (BART). */
  const block = (hs: Float64Array[], normName: string, f: (xs: Float64Array[]) => Float64Array[]): Float64Array[] => {
    if (c.family === "mbart") {
      const out = f(hs.map((h) => norm(normName, h)));
      return hs.map((h, t) => h.map((v, i) => v + out[t][i]));
    }
    const out = f(hs);
    return hs.map((h, t) => norm(normName, h.map((v, i) => v + out[t][i])));
  };
  const ffn = (p: string) => (xs: Float64Array[]) => xs.map((x) => linear(get(`${p}.fc2.weight`), get(`${p}.fc2.bias`), linear(get(`${p}.fc1.weight`), get(`${p}.fc1.bias`), x).map((v) => act(c, v))));

  const encode = (source: readonly number[]): Float64Array[] => {
    let hs = embed("encoder", source);
    for (let l = 0; l < c.encoderLayers; l++) {
      const p = `model.encoder.layers.${l}`;
      hs = block(hs, `${p}.self_attn_layer_norm`, (xs) => attention(get, `${p}.self_attn`, c.encoderHeads, xs, xs, false));
      hs = block(hs, `${p}.final_layer_norm`, ffn(p));
    }
    return c.family === "mbart" ? hs.map((h) => norm("model.encoder.layer_norm", h)) : hs;
  };

  const logProbs = (source: readonly number[], decoderIds: readonly number[], options: { readonly from?: number } = {}): Float32Array[] => {
    const memory = encode(source);
    let hs = embed("decoder", decoderIds);
    for (let l = 0; l < c.decoderLayers; l++) {
      const p = `model.decoder.layers.${l}`;
      hs = block(hs, `${p}.self_attn_layer_norm`, (xs) => attention(get, `${p}.self_attn`, c.decoderHeads, xs, xs, true));
      hs = block(hs, `${p}.encoder_attn_layer_norm`, (xs) => attention(get, `${p}.encoder_attn`, c.decoderHeads, xs, memory, false));
      hs = block(hs, `${p}.final_layer_norm`, ffn(p));
    }
    if (c.family === "mbart") hs = hs.map((h) => norm("model.decoder.layer_norm", h));
    const bias = get(FINAL_LOGITS_BIAS);
    return hs.slice(options.from ?? 0).map((h) => logSoftmax64(linear(lmHead, bias, h)));
  };
  return { config: c, encode, logProbs };
}
