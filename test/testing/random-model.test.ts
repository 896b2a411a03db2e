import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadLlamaConfig } from "../../src/convert/llama-config.js";
import { writeRandomModel } from "../../src/testing/random-model.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";
import { openSafetensors } from "../../src/convert/safetensors.js";

const SHAPE = { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, seed: 7 } as const;
const KV_HEADS = SHAPE.kvHeads;
const HEAD_DIM = SHAPE.hidden / SHAPE.heads;
const VOCAB = 128257;
const TOLERANCE = 1e-4;

// Real Llama-3 ids of "<|begin_of_text|>El paciente con [embolia]{ENFERMEDAD} tose.<SEP>[embolia] es".
const PROMPT = [128000, 6719, 73512, 390, 510, 9034, 39260, 15731, 965, 26165, 76206, 1846, 92, 128256, 58, 1560];
const SHORT = [128000, 9034, 39260, 128256, 58, 60, 1560];

type Cache = Map<string, ort.Tensor>;

function int64(values: readonly number[], dims: number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(values.map((v) => BigInt(v))), dims);
}

function emptyCache(batch: number): Cache {
  const cache: Cache = new Map();
  for (let l = 0; l < SHAPE.layers; l++) {
    for (const kind of ["key", "value"]) {
      cache.set(`${l}.${kind}`, new ort.Tensor("float32", new Float32Array(0), [batch, KV_HEADS, 0, HEAD_DIM]));
    }
  }
  return cache;
}

/** One forward call; returns log-softmax rows [batch][seq] and the new cache. */
async function run(
  session: ort.InferenceSession,
  ids: number[][],
  mask: number[][],
  positions: number[][],
  cache: Cache,
): Promise<{ logProbs: Float32Array[][]; cache: Cache }> {
  const batch = ids.length;
  const seq = ids[0].length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64(ids.flat(), [batch, seq]),
    attention_mask: int64(mask.flat(), [batch, mask[0].length]),
    position_ids: int64(positions.flat(), [batch, seq]),
  };
  for (let l = 0; l < SHAPE.layers; l++) {
    feeds[`past_key_values.${l}.key`] = cache.get(`${l}.key`)!;
    feeds[`past_key_values.${l}.value`] = cache.get(`${l}.value`)!;
  }
  const out = await session.run(feeds);
  const logits = out.logits.data as Float32Array;
  expect(out.logits.dims).toEqual([batch, seq, VOCAB]);
  const logProbs: Float32Array[][] = [];
  for (let b = 0; b < batch; b++) {
    const rows: Float32Array[] = [];
    for (let t = 0; t < seq; t++) {
      const row = logits.subarray((b * seq + t) * VOCAB, (b * seq + t + 1) * VOCAB);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      const logZ = max + Math.log(sum);
      rows.push(Float32Array.from(row, (v) => v - logZ));
    }
    logProbs.push(rows);
  }
  const next: Cache = new Map();
  for (let l = 0; l < SHAPE.layers; l++) {
    next.set(`${l}.key`, out[`present.${l}.key`]);
    next.set(`${l}.value`, out[`present.${l}.value`]);
  }
  return { logProbs, cache: next };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe("writeRandomModel + ONNX graph vs independent reference", () => {
  let dir: string;
  let session: ort.InferenceSession;
  let reference: ReferenceLlama;
  const refCache = new Map<string, Float32Array[]>();
  const ref = (ids: number[]): Float32Array[] => {
    const key = ids.join(",");
    if (!refCache.has(key)) refCache.set(key, reference.logProbs(ids));
    return refCache.get(key)!;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-random-model-"));
    await writeRandomModel(dir, SHAPE);
    session = await ort.InferenceSession.create(join(dir, "onnx", "model.onnx"));
    reference = loadReferenceLlama(dir);
  }, 60_000);

  afterAll(async () => {
    await session?.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes a loadable Hugging Face folder with HF tensor names and shapes", () => {
    for (const f of ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors", "onnx/model.onnx"]) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(existsSync(join(dir, "onnx", "model.onnx_data"))).toBe(false);
    const raw = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(raw.architectures).toEqual(["LlamaForCausalLM"]);
    expect(raw.torch_dtype).toBe("float32");
    const config = loadLlamaConfig(dir);
    expect(config).toMatchObject({ hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 });
    expect(config.vocabSize).toBe(VOCAB);
    expect(config.tieWordEmbeddings).toBe(false);

    const st = openSafetensors(join(dir, "model.safetensors"));
    try {
      const shapes = Object.fromEntries([...st.entries.values()].map((e) => [e.name, e.shape]));
      const d = HEAD_DIM;
      const expected: Record<string, number[]> = {
        "model.embed_tokens.weight": [VOCAB, 64],
        "model.norm.weight": [64],
        "lm_head.weight": [VOCAB, 64],
      };
      for (let l = 0; l < 2; l++) {
        const p = `model.layers.${l}`;
        Object.assign(expected, {
          [`${p}.self_attn.q_proj.weight`]: [4 * d, 64],
          [`${p}.self_attn.k_proj.weight`]: [2 * d, 64],
          [`${p}.self_attn.v_proj.weight`]: [2 * d, 64],
          [`${p}.self_attn.o_proj.weight`]: [64, 4 * d],
          [`${p}.mlp.gate_proj.weight`]: [96, 64],
          [`${p}.mlp.up_proj.weight`]: [96, 64],
          [`${p}.mlp.down_proj.weight`]: [64, 96],
          [`${p}.input_layernorm.weight`]: [64],
          [`${p}.post_attention_layernorm.weight`]: [64],
        });
      }
      expect(shapes).toEqual(expected);
      // Norm weights near 1, projections small and not all equal.
      const norm = st.read("model.norm.weight").data;
      expect(Math.min(...norm)).toBeGreaterThan(0.7);
      expect(Math.max(...norm)).toBeLessThan(1.3);
      const q = st.read("model.layers.0.self_attn.q_proj.weight").data;
      expect(Math.max(...q.map(Math.abs))).toBeLessThan(0.5);
      expect(new Set(q).size).toBeGreaterThan(q.length / 2);
    } finally {
      st.close();
    }
  });

  it("declares the Optimum IO names", () => {
    const layerNames = (prefix: string) => [0, 1].flatMap((l) => [`${prefix}.${l}.key`, `${prefix}.${l}.value`]);
    expect(session.inputNames).toEqual(["input_ids", "attention_mask", "position_ids", ...layerNames("past_key_values")]);
    expect(session.outputNames).toEqual(["logits", ...layerNames("present")]);
  });

  it("the reference gives a non-degenerate next-token distribution", () => {
    const lp = ref(PROMPT);
    for (const row of lp) {
      const top = row.reduce((a, b) => Math.max(a, b), -Infinity);
      expect(row.reduce((a, b) => a + Math.exp(b), 0)).toBeCloseTo(1, 4);
      expect(top).toBeLessThan(-0.5); // not one-hot
      expect(top).toBeGreaterThan(-Math.log(VOCAB) + 2); // not uniform
    }
  });

  it("(a) one prompt without past matches the reference at every position", async () => {
    const n = PROMPT.length;
    const { logProbs, cache } = await run(session, [PROMPT], [Array(n).fill(1)], [[...PROMPT.keys()]], emptyCache(1));
    const expected = ref(PROMPT);
    for (let t = 0; t < n; t++) expect(maxAbsDiff(logProbs[0][t], expected[t]), `position ${t}`).toBeLessThan(TOLERANCE);
    expect(cache.get("0.key")!.dims).toEqual([1, KV_HEADS, n, HEAD_DIM]);
    expect(cache.get("1.value")!.dims).toEqual([1, KV_HEADS, n, HEAD_DIM]);
  });

  it("(b) prefix then one token at a time through the KV cache matches the reference", async () => {
    const prefix = 5;
    const expected = ref(PROMPT);
    let step = await run(
      session,
      [PROMPT.slice(0, prefix)],
      [Array(prefix).fill(1)],
      [[...Array(prefix).keys()]],
      emptyCache(1),
    );
    for (let t = 0; t < prefix; t++) expect(maxAbsDiff(step.logProbs[0][t], expected[t])).toBeLessThan(TOLERANCE);
    for (let t = prefix; t < PROMPT.length; t++) {
      step = await run(session, [[PROMPT[t]]], [Array(t + 1).fill(1)], [[t]], step.cache);
      expect(step.cache.get("0.key")!.dims).toEqual([1, KV_HEADS, t + 1, HEAD_DIM]);
      expect(maxAbsDiff(step.logProbs[0][0], expected[t]), `step at position ${t}`).toBeLessThan(TOLERANCE);
    }
  });

  it("(c) a left-padded ragged batch matches each prompt alone, and decoding continues through the cache", async () => {
    const prompts = [PROMPT, SHORT];
    const width = Math.max(...prompts.map((p) => p.length));
    const PAD = 128001;
    const ids = prompts.map((p) => [...Array(width - p.length).fill(PAD), ...p]);
    const mask = prompts.map((p) => [...Array(width - p.length).fill(0), ...Array(p.length).fill(1)]);
    const positions = mask.map((m) => {
      let c = 0;
      return m.map((v) => Math.max(0, (c += v) - 1)); // cumsum(mask) - 1, clamped at 0 for pads
    });
    const prefill = await run(session, ids, mask, positions, emptyCache(2));
    for (let b = 0; b < 2; b++) {
      const expected = ref(prompts[b]);
      const offset = width - prompts[b].length;
      for (let t = 0; t < prompts[b].length; t++) {
        const row = prefill.logProbs[b][offset + t];
        expect(row.every(Number.isFinite)).toBe(true);
        expect(maxAbsDiff(row, expected[t]), `row ${b} position ${t}`).toBeLessThan(TOLERANCE);
      }
      for (let t = 0; t < offset; t++) expect(prefill.logProbs[b][t].every(Number.isFinite), `pad ${b}/${t}`).toBe(true);
    }
    // One cached step appending a different token to each row.
    const next = [SHORT[2], PROMPT[3]];
    const step = await run(
      session,
      next.map((t) => [t]),
      mask.map((m) => [...m, 1]),
      prompts.map((p) => [p.length]),
      prefill.cache,
    );
    for (let b = 0; b < 2; b++) {
      const expected = ref([...prompts[b], next[b]]);
      expect(maxAbsDiff(step.logProbs[b][0], expected[prompts[b].length]), `step row ${b}`).toBeLessThan(TOLERANCE);
    }
  });

  it("a fully padded row yields finite values and does not disturb the other row", async () => {
    const n = SHORT.length;
    const { logProbs } = await run(
      session,
      [SHORT, Array(n).fill(128001)],
      [Array(n).fill(1), Array(n).fill(0)],
      [[...SHORT.keys()], Array(n).fill(0)],
      emptyCache(2),
    );
    for (const row of logProbs[1]) expect(row.every(Number.isFinite)).toBe(true);
    const expected = ref(SHORT);
    for (let t = 0; t < n; t++) expect(maxAbsDiff(logProbs[0][t], expected[t])).toBeLessThan(TOLERANCE);
  });

  it("is deterministic for a seed and differs across seeds", async () => {
    const other = mkdtempSync(join(tmpdir(), "syncabel-random-model-seed-"));
    try {
      const small = { layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 16, vocabSize: 300 };
      await writeRandomModel(join(other, "a"), { ...small, seed: 3 });
      await writeRandomModel(join(other, "b"), { ...small, seed: 3 });
      await writeRandomModel(join(other, "c"), { ...small, seed: 4 });
      const bytes = (d: string) => readFileSync(join(other, d, "model.safetensors"));
      expect(bytes("a").equals(bytes("b"))).toBe(true);
      expect(bytes("a").equals(bytes("c"))).toBe(false);
      expect(readFileSync(join(other, "a", "onnx", "model.onnx")).equals(readFileSync(join(other, "b", "onnx", "model.onnx")))).toBe(true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe("external data", () => {
  it("writes weights to onnx/model.onnx_data above the threshold and the model still matches the reference", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-random-model-ext-"));
    try {
      const shape = { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, seed: 11, vocabSize: 500 };
      const info = await writeRandomModel(dir, shape, { externalDataThreshold: 0 });
      const dataPath = join(dir, "onnx", "model.onnx_data");
      expect(info.onnx.externalDataPath).toBe(dataPath);
      expect(info.files).toContain("onnx/model.onnx_data");
      // The embedding and lm_head alone (2 x 500 x 32 floats) must live in the data file, not the .onnx.
      expect(statSync(dataPath).size).toBeGreaterThan(2 * 500 * 32 * 4);
      expect(statSync(join(dir, "onnx", "model.onnx")).size).toBeLessThan(2 * 500 * 32 * 4);
      const session = await ort.InferenceSession.create(join(dir, "onnx", "model.onnx"));
      try {
        const ids = [1, 17, 400, 3, 99];
        const past = new ort.Tensor("float32", new Float32Array(0), [1, 2, 0, 8]);
        const out = await session.run({
          input_ids: int64(ids, [1, ids.length]),
          attention_mask: int64(ids.map(() => 1), [1, ids.length]),
          position_ids: int64([...ids.keys()], [1, ids.length]),
          "past_key_values.0.key": past,
          "past_key_values.0.value": past,
        });
        const logits = out.logits.data as Float32Array;
        const expected = loadReferenceLlama(dir).logProbs(ids);
        for (let t = 0; t < ids.length; t++) {
          const row = logits.subarray(t * 500, (t + 1) * 500);
          let max = -Infinity;
          for (const v of row) max = Math.max(max, v);
          let sum = 0;
          for (const v of row) sum += Math.exp(v - max);
          const logZ = max + Math.log(sum);
          expect(maxAbsDiff(Float32Array.from(row, (v) => v - logZ), expected[t])).toBeLessThan(TOLERANCE);
        }
      } finally {
        await session.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
