/**
 * Rotary-embedding inverse frequencies of a Llama config, as transformers computes them in float32: plain RoPE
 * (rope_scaling null / "default") and the "llama3" scaling of Llama-3.1 / 3.2. Other rope types are rejected with
 * an error naming the field. Shared by the ONNX writer and the reference forward.
 */
import { SyncabelError } from "../errors.js";
import type { LlamaConfig } from "./llama-config.js";

/** 1 / theta^(2i/d) for i < d/2, each step rounded to float32 as torch does. */
export function plainInverseFrequencies(headDim: number, theta: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) out[i] = 1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim)));
  return out;
}

export interface Llama3RopeScaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

/**
 * Llama-3.1 frequency scaling: wavelengths longer than original_context / low_freq_factor are divided by
 * `factor`, shorter than original_context / high_freq_factor are kept, and the band between is interpolated
 * with smooth = (original_context / wavelength - low) / (high - low).
 */
export function llama3InverseFrequencies(base: Float32Array, s: Llama3RopeScaling): Float32Array {
  const f = Math.fround;
  const lowWavelen = f(s.originalMaxPositionEmbeddings / s.lowFreqFactor);
  const highWavelen = f(s.originalMaxPositionEmbeddings / s.highFreqFactor);
  return base.map((inv) => {
    const wavelen = f(f(2 * Math.PI) / inv);
    if (wavelen < highWavelen) return inv;
    if (wavelen > lowWavelen) return f(inv / s.factor);
    const smooth = f(f(f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
    return f(f(f(f(1 - smooth) * inv) / s.factor) + f(smooth * inv));
  });
}

function invalid(problem: string, field: string): SyncabelError {
  return new SyncabelError("MODEL_CONFIG_INVALID", `config.json: ${problem}`, { field });
}

/** The `rope_scaling` of a config as llama3 parameters, null for plain RoPE; throws for other types. */
export function llama3Scaling(config: LlamaConfig): Llama3RopeScaling | null {
  const s = config.ropeScaling;
  if (s === null) return null;
  const type = s.rope_type ?? s.type;
  if (type === "default") return null;
  if (type !== "llama3") {
    throw invalid(`rope_scaling.rope_type ${JSON.stringify(type)} is not supported (only "default" and "llama3")`, "rope_scaling.rope_type");
  }
  const num = (key: string): number => {
    const v = s[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw invalid(`rope_scaling.${key} must be a positive number for rope_type "llama3", got ${JSON.stringify(v)}`, `rope_scaling.${key}`);
    }
    return v;
  };
  const scaling = {
    factor: num("factor"),
    lowFreqFactor: num("low_freq_factor"),
    highFreqFactor: num("high_freq_factor"),
    originalMaxPositionEmbeddings: num("original_max_position_embeddings"),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw invalid(`rope_scaling.high_freq_factor (${scaling.highFreqFactor}) must exceed low_freq_factor (${scaling.lowFreqFactor})`, "rope_scaling.high_freq_factor");
  }
  return scaling;
}

/** The inverse frequencies [headDim / 2] the model uses (float32). */
export function ropeInverseFrequencies(config: LlamaConfig): Float32Array {
  const base = plainInverseFrequencies(config.headDim, config.ropeTheta);
  const scaling = llama3Scaling(config);
  return scaling === null ? base : llama3InverseFrequencies(base, scaling);
}
