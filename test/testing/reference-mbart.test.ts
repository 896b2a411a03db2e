import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeSafetensors, type Float32Tensor } from "../../src/convert/safetensors.js";
import { erf, loadReferenceSeq2Seq } from "../../src/testing/reference-mbart.js";

/**
 * A hand-made model small enough to compute on paper: d_model 2, one head, FFN width 2 (ReLU), one encoder and one
 * decoder layer, vocabulary 5. The expected values below follow the Hugging Face modules step by step, written out
 * for two-element vectors (independent of the code under test).
 */
const V = 5;

function values(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return offset + scale * (s / 2 ** 32 - 0.5);
  });
}

function writeTiny(dir: string, family: "mbart" | "bart"): Map<string, Float32Tensor> {
  const w = new Map<string, Float32Tensor>();
  let k = 1;
  const add = (name: string, shape: number[], scale = 1, offset = 0): void => {
    w.set(name, { shape, data: values(shape.reduce((a, b) => a * b, 1), k++, scale, offset) });
  };
  const attn = (p: string) => ["q_proj", "k_proj", "v_proj", "out_proj"].forEach((n) => (add(`${p}.${n}.weight`, [2, 2], 2), add(`${p}.${n}.bias`, [2], 0.4)));
  const norm = (p: string) => (add(`${p}.weight`, [2], 0.4, 1), add(`${p}.bias`, [2], 0.4));
  const ffn = (p: string) => (add(`${p}.fc1.weight`, [2, 2], 2), add(`${p}.fc1.bias`, [2], 0.4), add(`${p}.fc2.weight`, [2, 2], 2), add(`${p}.fc2.bias`, [2], 0.4));
  add("model.shared.weight", [V, 2], 3);
  for (const side of ["encoder", "decoder"]) {
    add(`model.${side}.embed_positions.weight`, [6, 2], 1);
    const p = `model.${side}.layers.0`;
    attn(`${p}.self_attn`);
    norm(`${p}.self_attn_layer_norm`);
    if (side === "decoder") {
      attn(`${p}.encoder_attn`);
      norm(`${p}.encoder_attn_layer_norm`);
    }
    ffn(p);
    norm(`${p}.final_layer_norm`);
    norm(`model.${side}.layernorm_embedding`);
    if (family === "mbart") norm(`model.${side}.layer_norm`);
  }
  add("final_logits_bias", [1, V], 1);
  writeSafetensors(join(dir, "model.safetensors"), w);
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: family,
      d_model: 2,
      encoder_layers: 1,
      decoder_layers: 1,
      encoder_attention_heads: 1,
      decoder_attention_heads: 1,
      encoder_ffn_dim: 2,
      decoder_ffn_dim: 2,
      vocab_size: V,
      max_position_embeddings: 4,
      activation_function: "relu",
      scale_embedding: family === "mbart",
    }),
  );
  return w;
}

type Vec = [number, number];

/** The expected log-probs of the decoder positions of `dec` given `src`, written for d_model 2 and one head. */
function byHand(w: Map<string, Float32Tensor>, family: "mbart" | "bart", src: number[], dec: number[]): number[][] {
  const t = (name: string) => w.get(name)!.data;
  const eps = 1e-5;
  const ln = (x: Vec, p: string): Vec => {
    const mean = (x[0] + x[1]) / 2;
    const sd = Math.sqrt(((x[0] - mean) ** 2 + (x[1] - mean) ** 2) / 2 + eps);
    return [((x[0] - mean) / sd) * t(`${p}.weight`)[0] + t(`${p}.bias`)[0], ((x[1] - mean) / sd) * t(`${p}.weight`)[1] + t(`${p}.bias`)[1]];
  };
  const lin = (x: Vec, p: string): Vec => {
    const W = t(`${p}.weight`);
    const b = t(`${p}.bias`);
    return [W[0] * x[0] + W[1] * x[1] + b[0], W[2] * x[0] + W[3] * x[1] + b[1]];
  };
  const add = (a: Vec, b: Vec): Vec => [a[0] + b[0], a[1] + b[1]];
  // One head of width 2: scores scaled by 1 / sqrt(2).
  const attention = (qs: Vec[], kvs: Vec[], p: string, causal: boolean): Vec[] =>
    qs.map((x, i) => {
      const q = lin(x, `${p}.q_proj`);
      const keys = kvs.slice(0, causal ? i + 1 : kvs.length);
      const s = keys.map((y) => {
        const k = lin(y, `${p}.k_proj`);
        return (q[0] * k[0] + q[1] * k[1]) / Math.SQRT2;
      });
      const e = s.map((v) => Math.exp(v));
      const z = e.reduce((a, b) => a + b, 0);
      const ctx: Vec = [0, 0];
      keys.forEach((y, j) => {
        const v = lin(y, `${p}.v_proj`);
        ctx[0] += (e[j] / z) * v[0];
        ctx[1] += (e[j] / z) * v[1];
      });
      return lin(ctx, `${p}.out_proj`);
    });
  const ffn = (x: Vec, p: string): Vec => {
    const h = lin(x, `${p}.fc1`);
    return lin([Math.max(0, h[0]), Math.max(0, h[1])], `${p}.fc2`);
  };
  const scale = family === "mbart" ? Math.SQRT2 : 1; // sqrt(d_model) = sqrt(2)
  const embed = (ids: number[], side: string): Vec[] =>
    ids.map((id, pos) => {
      const e = t("model.shared.weight");
      const p = t(`model.${side}.embed_positions.weight`);
      // Position pos reads row pos + 2.
      return ln([e[2 * id] * scale + p[2 * (pos + 2)], e[2 * id + 1] * scale + p[2 * (pos + 2) + 1]], `model.${side}.layernorm_embedding`);
    });
  const block = (hs: Vec[], norm: string, f: (xs: Vec[]) => Vec[]): Vec[] =>
    family === "mbart" ? f(hs.map((h) => ln(h, norm))).map((o, i) => add(hs[i], o)) : f(hs).map((o, i) => ln(add(hs[i], o), norm));
  let enc = embed(src, "encoder");
  enc = block(enc, "model.encoder.layers.0.self_attn_layer_norm", (xs) => attention(xs, xs, "model.encoder.layers.0.self_attn", false));
  enc = block(enc, "model.encoder.layers.0.final_layer_norm", (xs) => xs.map((x) => ffn(x, "model.encoder.layers.0")));
  if (family === "mbart") enc = enc.map((h) => ln(h, "model.encoder.layer_norm"));
  let h = embed(dec, "decoder");
  h = block(h, "model.decoder.layers.0.self_attn_layer_norm", (xs) => attention(xs, xs, "model.decoder.layers.0.self_attn", true));
  h = block(h, "model.decoder.layers.0.encoder_attn_layer_norm", (xs) => attention(xs, enc, "model.decoder.layers.0.encoder_attn", false));
  h = block(h, "model.decoder.layers.0.final_layer_norm", (xs) => xs.map((x) => ffn(x, "model.decoder.layers.0")));
  if (family === "mbart") h = h.map((x) => ln(x, "model.decoder.layer_norm"));
  const e = t("model.shared.weight");
  const bias = t("final_logits_bias");
  return h.map((x) => {
    const logits = Array.from({ length: V }, (_, v) => e[2 * v] * x[0] + e[2 * v + 1] * x[1] + bias[v]);
    const lse = Math.log(logits.reduce((a, b) => a + Math.exp(b), 0));
    return logits.map((l) => l - lse);
  });
}

describe("reference mBART / BART forward, checked by hand on a tiny case", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ref-mbart-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const family of ["mbart", "bart"] as const) {
    it(`${family}: log-probs of every decoder position equal the hand computation`, () => {
      const sub = join(dir, family);
      rmSync(sub, { recursive: true, force: true });
      mkdirSync(sub);
      const w = writeTiny(sub, family);
      const ref = loadReferenceSeq2Seq(sub);
      const src = [0, 3, 2];
      const dec = [2, 4, 1];
      const got = ref.logProbs(src, dec);
      const want = byHand(w, family, src, dec);
      expect(got.length).toBe(3);
      got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i][j])).toBeLessThan(1e-5)));
      expect(ref.logProbs(src, dec, { from: 2 })[0]).toEqual(got[2]);
    });
  }

  it("erf matches tabulated values to 1e-12 (the exact GELU of mBART / BART)", () => {
    const table: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [2.9, 0.9999589021219005],
      [3.5, 0.9999992569016276],
      [-1.5, -0.9661051464753108],
      [5, 0.9999999999984626],
    ];
    for (const [x, v] of table) expect(Math.abs(erf(x) - v)).toBeLessThan(1e-12);
  });
});
