import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadReferenceLlama } from "../../src/testing/reference-llama.js";
import { writeSafetensors, type Float32Tensor } from "../../src/convert/safetensors.js";

const V = 11;
const H = 8;

/** Deterministic pseudo-random values in [-0.5, 0.5) (an LCG, independent of the code under test). */
function values(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return offset + scale * (s / 2 ** 32 - 0.5);
  });
}

interface TinyShape {
  heads: number;
  kvHeads: number;
  intermediate: number;
  layers: number;
}

/** Write config.json + model.safetensors of a hand-made tiny Llama. `override` replaces named weights. */
function writeTiny(dir: string, shape: TinyShape, override: Record<string, Float32Array> = {}, seed = 1): Map<string, Float32Tensor> {
  const D = H / shape.heads;
  const w = new Map<string, Float32Tensor>();
  let k = seed;
  const add = (name: string, dims: number[], scale = 1, offset = 0): void => {
    const n = dims.reduce((a, b) => a * b, 1);
    w.set(name, { shape: dims, data: override[name] ?? values(n, k++, scale, offset) });
  };
  add("model.embed_tokens.weight", [V, H], 2);
  for (let l = 0; l < shape.layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], 0.4, 1);
    add(`${p}.self_attn.q_proj.weight`, [shape.heads * D, H], 1.5);
    add(`${p}.self_attn.k_proj.weight`, [shape.kvHeads * D, H], 1.5);
    add(`${p}.self_attn.v_proj.weight`, [shape.kvHeads * D, H], 1);
    add(`${p}.self_attn.o_proj.weight`, [H, shape.heads * D], 1);
    add(`${p}.post_attention_layernorm.weight`, [H], 0.4, 1);
    add(`${p}.mlp.gate_proj.weight`, [shape.intermediate, H], 1);
    add(`${p}.mlp.up_proj.weight`, [shape.intermediate, H], 1);
    add(`${p}.mlp.down_proj.weight`, [H, shape.intermediate], 1);
  }
  add("model.norm.weight", [H], 0.4, 1);
  add("lm_head.weight", [V, H], 3);
  writeSafetensors(join(dir, "model.safetensors"), w);
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: "llama",
      hidden_size: H,
      intermediate_size: shape.intermediate,
      num_hidden_layers: shape.layers,
      num_attention_heads: shape.heads,
      num_key_value_heads: shape.kvHeads,
      vocab_size: V,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      tie_word_embeddings: false,
    }),
  );
  return w;
}

const rmsNormed = (x: Float64Array | Float32Array, w: Float32Array, eps: number): number[] => {
  const ms = Array.from(x).reduce((a, b) => a + b * b, 0) / x.length;
  return Array.from(x, (v, i) => (v / Math.sqrt(ms + eps)) * w[i]);
};
const matVec = (w: Float32Array, rows: number, x: number[]): number[] =>
  Array.from({ length: rows }, (_, r) => x.reduce((s, v, c) => s + w[r * x.length + c] * v, 0));
const logSoftmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
};

describe("loadReferenceLlama", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "syncabel-reference-"));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const dirFor = (name: string): string => mkdtempSync(join(root, `${name}-`));

  it("with zero attention and MLP outputs, equals log-softmax(lm_head . norm(embedding))", () => {
    const dir = dirFor("residual-only");
    const shape = { heads: 2, kvHeads: 1, intermediate: 6, layers: 2 };
    const zeros = (n: number) => new Float32Array(n);
    const override: Record<string, Float32Array> = {};
    for (let l = 0; l < 2; l++) {
      override[`model.layers.${l}.self_attn.o_proj.weight`] = zeros(H * H);
      override[`model.layers.${l}.mlp.down_proj.weight`] = zeros(H * 6);
    }
    const w = writeTiny(dir, shape, override);
    const ids = [3, 7, 3, 10];
    const got = loadReferenceLlama(dir).logProbs(ids);
    expect(got).toHaveLength(ids.length);
    ids.forEach((id, t) => {
      const e = w.get("model.embed_tokens.weight")!.data.subarray(id * H, (id + 1) * H);
      const expected = logSoftmax(matVec(w.get("lm_head.weight")!.data, V, rmsNormed(e, w.get("model.norm.weight")!.data, 1e-6)));
      expected.forEach((v, i) => expect(got[t][i]).toBeCloseTo(v, 5));
    });
  });

  it("for a single token, attention is o_proj . v_proj (softmax over one key) and the MLP is SwiGLU", () => {
    const dir = dirFor("one-token");
    const I = 6;
    const w = writeTiny(dir, { heads: 2, kvHeads: 2, intermediate: I, layers: 1 });
    const d = (n: string) => w.get(n)!.data;
    const id = 5;
    const e = Float64Array.from(d("model.embed_tokens.weight").subarray(id * H, (id + 1) * H));
    const xn = rmsNormed(e, d("model.layers.0.input_layernorm.weight"), 1e-6);
    const attn = matVec(d("model.layers.0.self_attn.o_proj.weight"), H, matVec(d("model.layers.0.self_attn.v_proj.weight"), H, xn));
    const h1 = Float64Array.from(e, (v, i) => v + attn[i]);
    const xm = rmsNormed(h1, d("model.layers.0.post_attention_layernorm.weight"), 1e-6);
    const gate = matVec(d("model.layers.0.mlp.gate_proj.weight"), I, xm);
    const up = matVec(d("model.layers.0.mlp.up_proj.weight"), I, xm);
    const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
    const down = matVec(d("model.layers.0.mlp.down_proj.weight"), H, act);
    const h2 = Float64Array.from(h1, (v, i) => v + down[i]);
    const expected = logSoftmax(matVec(d("lm_head.weight"), V, rmsNormed(h2, d("model.norm.weight"), 1e-6)));
    const got = loadReferenceLlama(dir).logProbs([id])[0];
    expected.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
  });

  it("is causal: earlier positions do not depend on later tokens, later ones do depend on earlier", () => {
    const dir = dirFor("causal");
    writeTiny(dir, { heads: 2, kvHeads: 1, intermediate: 6, layers: 2 });
    const ref = loadReferenceLlama(dir);
    const full = ref.logProbs([1, 2, 3, 4, 5]);
    const prefix = ref.logProbs([1, 2, 3]);
    for (let t = 0; t < 3; t++) for (let i = 0; i < V; i++) expect(full[t][i]).toBeCloseTo(prefix[t][i], 6);
    const changed = ref.logProbs([9, 2, 3, 4, 5]);
    expect(Math.max(...Array.from(changed[4], (v, i) => Math.abs(v - full[4][i])))).toBeGreaterThan(1e-3);
  });

  it("`from` gives exactly the tail of the rows of every position (tests read only the last ones)", () => {
    const dir = dirFor("from");
    writeTiny(dir, { heads: 2, kvHeads: 1, intermediate: 6, layers: 2 });
    const ref = loadReferenceLlama(dir);
    const full = ref.logProbs([1, 2, 3, 4, 5]);
    expect(ref.logProbs([1, 2, 3, 4, 5], { from: 4 })).toEqual(full.slice(4));
    expect(ref.logProbs([1, 2, 3, 4, 5], { from: 2 })).toEqual(full.slice(2));
  });

  it("two tokens: attention with HF rotary embeddings (q*cos + rotate_half(q)*sin) computed by hand", () => {
    const dir = dirFor("rope-by-hand");
    const heads = 2;
    const D = H / heads;
    const w = writeTiny(dir, { heads, kvHeads: heads, intermediate: 6, layers: 1 }, {
      "model.layers.0.mlp.down_proj.weight": new Float32Array(H * 6),
    });
    const d = (n: string) => w.get(n)!.data;
    const ids = [2, 9];
    const x = ids.map((id) => rmsNormed(d("model.embed_tokens.weight").subarray(id * H, (id + 1) * H), d("model.layers.0.input_layernorm.weight"), 1e-6));
    const rope = (v: number[], pos: number): number[] => {
      const out: number[] = [];
      for (let h = 0; h < heads; h++) {
        const head = v.slice(h * D, (h + 1) * D);
        const rotated = [...head.slice(D / 2).map((u) => -u), ...head.slice(0, D / 2)];
        for (let i = 0; i < D; i++) {
          const angle = pos * 10000 ** (-(2 * (i % (D / 2))) / D);
          out.push(head[i] * Math.cos(angle) + rotated[i] * Math.sin(angle));
        }
      }
      return out;
    };
    const q1 = rope(matVec(d("model.layers.0.self_attn.q_proj.weight"), H, x[1]), 1);
    const keys = x.map((xi, pos) => rope(matVec(d("model.layers.0.self_attn.k_proj.weight"), H, xi), pos));
    const vals = x.map((xi) => matVec(d("model.layers.0.self_attn.v_proj.weight"), H, xi));
    const ctx: number[] = [];
    for (let h = 0; h < heads; h++) {
      const s = keys.map((k) => k.slice(h * D, (h + 1) * D).reduce((a, kv, i) => a + kv * q1[h * D + i], 0) / Math.sqrt(D));
      const p = logSoftmax(s).map(Math.exp);
      for (let i = 0; i < D; i++) ctx.push(p[0] * vals[0][h * D + i] + p[1] * vals[1][h * D + i]);
    }
    const attn = matVec(d("model.layers.0.self_attn.o_proj.weight"), H, ctx);
    const e1 = d("model.embed_tokens.weight").subarray(ids[1] * H, (ids[1] + 1) * H);
    const h1 = Float64Array.from(e1, (v, i) => v + attn[i]);
    const expected = logSoftmax(matVec(d("lm_head.weight"), V, rmsNormed(h1, d("model.norm.weight"), 1e-6)));
    const got = loadReferenceLlama(dir).logProbs(ids)[1];
    expected.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
  });

  it("depends on token order through rotary positions (not a bag of tokens)", () => {
    const dir = dirFor("order");
    writeTiny(dir, { heads: 2, kvHeads: 2, intermediate: 6, layers: 1 });
    const ref = loadReferenceLlama(dir);
    // Same multiset of tokens before the same last token: without positions, attention would be identical.
    const a = ref.logProbs([1, 2, 3, 4])[3];
    const b = ref.logProbs([2, 1, 3, 4])[3];
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))).toBeGreaterThan(1e-4);
  });

  it("grouped-query attention equals full attention with each kv head repeated for its query heads", () => {
    // 4 query heads over 2 kv heads: query heads 0,1 use kv head 0 and 2,3 use kv head 1 (HF repeat_kv).
    const gqaDir = dirFor("gqa");
    const D = H / 4;
    const w = writeTiny(gqaDir, { heads: 4, kvHeads: 2, intermediate: 6, layers: 1 });
    const repeatRows = (m: Float32Array): Float32Array => {
      const out = new Float32Array(4 * D * H);
      for (let head = 0; head < 4; head++) {
        const kv = Math.floor(head / 2);
        out.set(m.subarray(kv * D * H, (kv + 1) * D * H), head * D * H);
      }
      return out;
    };
    const mhaDir = dirFor("mha");
    const override: Record<string, Float32Array> = {};
    for (const [name, t] of w) override[name] = t.data;
    override["model.layers.0.self_attn.k_proj.weight"] = repeatRows(w.get("model.layers.0.self_attn.k_proj.weight")!.data);
    override["model.layers.0.self_attn.v_proj.weight"] = repeatRows(w.get("model.layers.0.self_attn.v_proj.weight")!.data);
    writeTiny(mhaDir, { heads: 4, kvHeads: 4, intermediate: 6, layers: 1 }, override);
    const ids = [4, 8, 1, 0, 6];
    const gqa = loadReferenceLlama(gqaDir).logProbs(ids);
    const mha = loadReferenceLlama(mhaDir).logProbs(ids);
    for (let t = 0; t < ids.length; t++) for (let i = 0; i < V; i++) expect(gqa[t][i]).toBeCloseTo(mha[t][i], 6);
  });

  it("rejects out-of-vocabulary ids and missing tensors with clear errors", () => {
    const dir = dirFor("errors");
    writeTiny(dir, { heads: 2, kvHeads: 1, intermediate: 6, layers: 1 });
    expect(() => loadReferenceLlama(dir).logProbs([V])).toThrow(/outside the vocabulary/);
    const broken = dirFor("broken");
    const w = writeTiny(broken, { heads: 2, kvHeads: 1, intermediate: 6, layers: 1 });
    w.delete("model.norm.weight");
    writeSafetensors(join(broken, "model.safetensors"), w);
    expect(() => loadReferenceLlama(broken)).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING" }));
    expect(() => loadReferenceLlama(join(root, "nowhere"))).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING" }));
  });
});
