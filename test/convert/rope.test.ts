import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLlamaConfig } from "../../src/convert/llama-config.js";
import { openSafetensors } from "../../src/convert/safetensors.js";
import { llama3InverseFrequencies, plainInverseFrequencies, ropeInverseFrequencies } from "../../src/convert/rope.js";
import { randomModelConfigJson } from "../../src/testing/random-model.js";
import { loadReferenceLlama } from "../../src/testing/reference-llama.js";
import { maxAbsDiff, prefillAndStepError, writeVariant } from "./onnx-writer-harness.js";

const LLAMA31 = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

describe("rotary inverse frequencies", () => {
  it("plain RoPE: 1 / theta^(2i/d)", () => {
    expect(Array.from(plainInverseFrequencies(8, 10000))).toEqual([1, 0.1, 0.01, 0.001].map(Math.fround));
  });

  it("llama3 scaling by hand: high frequencies kept, low divided by factor, the band between interpolated", () => {
    // head_dim 8, theta 500000: inv = 500000^(-i/4); wavelengths 2*pi/inv = 6.3, 167, 4443, 118149.
    const inv = plainInverseFrequencies(8, 500000);
    const got = llama3InverseFrequencies(inv, { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    // i = 0, 1: wavelength < 8192 / 4 = 2048 -> unchanged.
    expect(got[0]).toBe(inv[0]);
    expect(got[1]).toBe(inv[1]);
    // i = 2: 2048 <= 4443 <= 8192 -> smooth = (8192 / 4443 - 1) / 3, (1 - smooth) * inv / 8 + smooth * inv.
    const inv2 = 1 / Math.sqrt(500000);
    const smooth = (8192 / ((2 * Math.PI) / inv2) - 1) / 3;
    expect(smooth).toBeGreaterThan(0.28);
    expect(smooth).toBeLessThan(0.29);
    expect(Math.abs(got[2] / (((1 - smooth) * inv2) / 8 + smooth * inv2) - 1)).toBeLessThan(1e-6);
    // i = 3: wavelength 118149 > 8192 -> divided by 8.
    const rel = (x: number, expected: number): number => Math.abs(x / expected - 1);
    expect(rel(got[3], 500000 ** -0.75 / 8)).toBeLessThan(1e-6); // float32
    // The Llama-3.1-8B config (head_dim 128) through the config path: 64 frequencies, the first untouched.
    const config = parseLlamaConfig({ ...randomModelConfigJson({ layers: 1, hidden: 4096, heads: 32, kvHeads: 8, intermediate: 64 }), rope_scaling: LLAMA31 }, "config.json");
    const full = ropeInverseFrequencies(config);
    expect(full.length).toBe(64);
    expect(full[0]).toBe(1);
    expect(rel(full[63], 500000 ** (-126 / 128) / 8)).toBeLessThan(1e-6);
  });
});

describe("llama3 rope scaling and tied embeddings through the writer and the reference", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "syncabel-rope-"));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  // A short original context so that the tiny test positions reach the scaled band.
  const rope = { ...LLAMA31, original_max_position_embeddings: 16 };
  const PROMPT = [4, 90, 200, 13, 7, 66, 250, 1, 3, 140, 41, 9];

  it("ONNX Runtime equals the reference (standard and GQA), and the scaling changes the logits", async () => {
    const shape = { hidden: 64, ropeScaling: rope, tieWordEmbeddings: true };
    for (const [name, options] of [["std", {}], ["gqa", { attention: "gqa" as const }]] as const) {
      const v = await writeVariant(root, `llama3-${name}`, options, shape);
      try {
        expect(v.config.tieWordEmbeddings).toBe(true);
        const error = await prefillAndStepError(v, loadReferenceLlama(v.dir), PROMPT);
        console.log(`[rope] llama3 + tied (${name}): max abs log-prob diff ${error.toExponential(2)}`);
        expect(error).toBeLessThan(1e-4);
      } finally {
        await v.session.release();
      }
    }
    const plain = await writeVariant(root, "plain", {}, { hidden: 64, tieWordEmbeddings: true });
    await plain.session.release();
    const a = loadReferenceLlama(join(root, "llama3-std")).logProbs(PROMPT).at(-1)!;
    const b = loadReferenceLlama(plain.dir).logProbs(PROMPT).at(-1)!;
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-3);
  }, 60_000);

  it("the random model with tied embeddings has no lm_head tensor", async () => {
    const v = await writeVariant(root, "tied", {}, { tieWordEmbeddings: true });
    await v.session.release();
    const st = openSafetensors(join(v.dir, "model.safetensors"));
    expect(st.entries.has("lm_head.weight")).toBe(false);
    st.close();
  });
});
