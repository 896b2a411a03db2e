/**
 * An independent, plain TypeScript forward pass of a Llama causal LM, read from `config.json` and the
 * safetensors weights (one file or HF shards; never the ONNX file). Written straight from the Hugging Face LlamaForCausalLM
 * definition, with float64 arithmetic, to check the ONNX runtime path in tests. Slow: tiny models only.
 */
import { SyncabelError } from "../errors.js";
import { openLlamaCheckpoint } from "../convert/checkpoint.js";
import type { LlamaConfig } from "../convert/llama-config.js";
import { ropeInverseFrequencies } from "../convert/rope.js";
import { logSoftmax64 } from "./log-softmax.js";

export interface ReferenceLlama {
  readonly config: LlamaConfig;
  /**
   * Log-softmax over the full vocabulary at every position of ONE unpadded sequence (positions 0..n-1):
   * element t is log p(next token | ids[0..t]), a Float32Array of length vocabSize.
   */
  logProbs(ids: readonly number[], options?: ReferenceOptions): Float32Array[];
}

export interface ReferenceOptions {
  /**
   * Only positions >= `from` get their log-probabilities (the vocabulary projection dominates the cost); the
   * result then has `ids.length - from` entries, for positions from..n-1. Default 0.
   */
  readonly from?: number;
}

interface Layer {
  inputNorm: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  postNorm: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
}

/** y = W x for a row-major W of shape [out, in]. */
function matVec(w: Float32Array, x: Float64Array, out: number): Float64Array {
  const inp = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    const base = o * inp;
    for (let i = 0; i < inp; i++) s += w[base + i] * x[i];
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  const inv = 1 / Math.sqrt(ms / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * inv * w[i];
  return y;
}

/** Rotary embedding of `nHeads` heads of width d packed in `x`, at absolute position `pos` (rotate_half form). */
function applyRope(x: Float64Array, nHeads: number, d: number, pos: number, invFreqs: Float32Array): void {
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    // HF computes the angle in float32: angle = pos * inv_freq (inv_freq as HF computes it, llama3 scaling included).
    const angle = Math.fround(pos * invFreqs[i]);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    for (let h = 0; h < nHeads; h++) {
      const a = x[h * d + i];
      const b = x[h * d + i + half];
      x[h * d + i] = a * c - b * s;
      x[h * d + i + half] = b * c + a * s;
    }
  }
}

/** Load a Llama model folder (config.json + safetensors weights) for reference computations. */
export function loadReferenceLlama(dir: string): ReferenceLlama {
  // The checkpoint reader checks every tensor's presence and shape against config.json.
  const checkpoint = openLlamaCheckpoint(dir);
  const config = checkpoint.config;
  const invFreqs = ropeInverseFrequencies(config);
  const get = (name: string): Float32Array => checkpoint.weight(name).data;
  const { hiddenSize: H, headDim: D, intermediateSize: I, vocabSize: V } = config;
  const nH = config.numAttentionHeads;
  const KV = config.numKeyValueHeads;
  const layers: Layer[] = [];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    layers.push({
      inputNorm: get(`${p}.input_layernorm.weight`),
      q: get(`${p}.self_attn.q_proj.weight`),
      k: get(`${p}.self_attn.k_proj.weight`),
      v: get(`${p}.self_attn.v_proj.weight`),
      o: get(`${p}.self_attn.o_proj.weight`),
      postNorm: get(`${p}.post_attention_layernorm.weight`),
      gate: get(`${p}.mlp.gate_proj.weight`),
      up: get(`${p}.mlp.up_proj.weight`),
      down: get(`${p}.mlp.down_proj.weight`),
    });
  }
  const embed = get("model.embed_tokens.weight");
  const finalNorm = get("model.norm.weight");
  const lmHead = config.tieWordEmbeddings ? embed : get("lm_head.weight");
  checkpoint.close();

  const logProbs = (ids: readonly number[], options: ReferenceOptions = {}): Float32Array[] => {
    const n = ids.length;
    const hidden: Float64Array[] = ids.map((id) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new SyncabelError("MODEL_RUNTIME", `reference: token id ${id} is outside the vocabulary of ${V}`);
      }
      return Float64Array.from(embed.subarray(id * H, (id + 1) * H));
    });
    const rep = nH / KV;
    const scale = 1 / Math.sqrt(D);
    for (const layer of layers) {
      const qs: Float64Array[] = [];
      const ks: Float64Array[] = [];
      const vs: Float64Array[] = [];
      for (let t = 0; t < n; t++) {
        const x = rmsNorm(hidden[t], layer.inputNorm, config.rmsNormEps);
        const q = matVec(layer.q, x, nH * D);
        const k = matVec(layer.k, x, KV * D);
        applyRope(q, nH, D, t, invFreqs);
        applyRope(k, KV, D, t, invFreqs);
        qs.push(q);
        ks.push(k);
        vs.push(matVec(layer.v, x, KV * D));
      }
      for (let t = 0; t < n; t++) {
        const ctx = new Float64Array(nH * D);
        for (let h = 0; h < nH; h++) {
          const g = Math.floor(h / rep); // grouped-query attention: kv head shared by `rep` query heads
          const scores = new Float64Array(t + 1);
          let max = -Infinity;
          for (let j = 0; j <= t; j++) {
            let s = 0;
            for (let e = 0; e < D; e++) s += qs[t][h * D + e] * ks[j][g * D + e];
            scores[j] = s * scale;
            max = Math.max(max, scores[j]);
          }
          let sum = 0;
          for (let j = 0; j <= t; j++) sum += (scores[j] = Math.exp(scores[j] - max));
          for (let j = 0; j <= t; j++) {
            const p = scores[j] / sum;
            for (let e = 0; e < D; e++) ctx[h * D + e] += p * vs[j][g * D + e];
          }
        }
        const attn = matVec(layer.o, ctx, H);
        for (let i = 0; i < H; i++) hidden[t][i] += attn[i];
      }
      for (let t = 0; t < n; t++) {
        const x = rmsNorm(hidden[t], layer.postNorm, config.rmsNormEps);
        const gate = matVec(layer.gate, x, I);
        const up = matVec(layer.up, x, I);
        for (let i = 0; i < I; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i]; // SiLU(gate) * up
        const down = matVec(layer.down, gate, H);
        for (let i = 0; i < H; i++) hidden[t][i] += down[i];
      }
    }
    return hidden.slice(options.from ?? 0).map((h) => logSoftmax64(matVec(lmHead, rmsNorm(h, finalNorm, config.rmsNormEps), V)));
  };
  return { config, logProbs };
}
