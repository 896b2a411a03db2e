import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaTensorSpecs } from "../../src/convert/checkpoint.js";
import { parseLlamaConfig } from "../../src/convert/llama-config.js";
import { openSafetensors } from "../../src/convert/safetensors.js";
import { planShards, presetConfigJson, writeRandomCheckpoint } from "../../src/testing/random-checkpoint.js";

const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

describe("random checkpoints", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-random-ckpt-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("presets have the published parameter counts (+1 embedding row for <SEP>)", () => {
    // Published: Llama-3.2-1B 1,235,814,400 parameters (tied), Meta-Llama-3-8B 8,030,261,248 (vocab 128256).
    const one = parseLlamaConfig(presetConfigJson("llama-3.2-1b"), "1b");
    const eight = parseLlamaConfig(presetConfigJson("llama-3-8b"), "8b");
    expect(llamaTensorSpecs(one).reduce((n, s) => n + count(s.shape), 0)).toBe(1_235_814_400 + 2048);
    expect(llamaTensorSpecs(eight).reduce((n, s) => n + count(s.shape), 0)).toBe(8_030_261_248 + 2 * 4096);
    expect(one).toMatchObject({ tieWordEmbeddings: true, numKeyValueHeads: 8, headDim: 64, ropeScaling: { rope_type: "llama3", factor: 32 } });
    expect(eight).toMatchObject({ tieWordEmbeddings: false, numHiddenLayers: 32, intermediateSize: 14336, ropeTheta: 500000 });
  });

  it("splits shards as transformers does: a new shard when the next tensor would overflow", () => {
    const t = (bytes: number) => ({ bytes });
    expect(planShards([t(4), t(3), t(2), t(9), t(1)], 8).map((s) => s.map((x) => x.bytes))).toEqual([[4, 3], [2], [9], [1]]);
  });

  it("writes the published layout: bf16 shards, an index with total_size and a weight_map naming every tensor's file", async () => {
    const out = join(dir, "ckpt");
    const info = await writeRandomCheckpoint(out, { shape: { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 4 }, maxShardBytes: 3e6 });
    const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8")) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    const shards = readdirSync(out).filter((f) => f.endsWith(".safetensors")).sort();
    expect(shards).toEqual(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]);
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());
    let dataBytes = 0;
    const seen = new Set<string>();
    for (const shard of shards) {
      const f = openSafetensors(join(out, shard));
      expect(f.metadata).toEqual({ format: "pt" });
      for (const [name, e] of f.entries) {
        expect(e.dtype).toBe("BF16");
        expect(index.weight_map[name]).toBe(shard);
        dataBytes += e.end - e.begin;
        seen.add(name);
      }
      // Tensor data in name order inside the file, as the safetensors library writes it.
      const byOffset = [...f.entries.values()].sort((a, b) => a.begin - b.begin).map((e) => e.name);
      expect(byOffset).toEqual([...byOffset].sort());
      // At most max_shard_size of data, unless one tensor alone is larger (the 8 MB embedding here).
      const shardData = [...f.entries.values()].reduce((n, e) => n + e.end - e.begin, 0);
      expect(shardData <= 3e6 || f.entries.size === 1, shard).toBe(true);
      expect(statSync(join(out, shard)).size).toBeGreaterThan(shardData);
      f.close();
    }
    expect(dataBytes).toBe(index.metadata.total_size);
    expect(dataBytes).toBe(info.totalBytes);
    expect([...seen].sort()).toEqual(Object.keys(index.weight_map));
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(config).toMatchObject({ architectures: ["LlamaForCausalLM"], torch_dtype: "bfloat16", vocab_size: 128257 });
    expect(JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")).sep_token).toBe("<SEP>");
    // Same seed, same bytes.
    const again = join(dir, "again");
    await writeRandomCheckpoint(again, { shape: { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 4 }, maxShardBytes: 3e6 });
    for (const shard of shards) expect(readFileSync(join(again, shard)).equals(readFileSync(join(out, shard)))).toBe(true);
  }, 60_000);
});
