import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLlamaConfig } from "../../src/convert/llama-config.js";
import { writeLlamaOnnx, type WriteOnnxProgress } from "../../src/convert/onnx-llama-graph.js";
import type { Float32Tensor } from "../../src/convert/safetensors.js";
import { randomLlamaWeights, randomModelConfigJson } from "../../src/testing/random-model.js";
import { TINY } from "./onnx-writer-harness.js";

const config = parseLlamaConfig(randomModelConfigJson(TINY), "config.json");
const weights = randomLlamaWeights(config, 3);

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "syncabel-onnx-stream-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Size of the writer's temp data file in `dir` (0 before it exists). */
function tempDataSize(dir: string): number {
  const tmp = readdirSync(dir).find((f) => f.startsWith(".model.onnx_data.") && f.endsWith(".tmp"));
  return tmp === undefined ? 0 : statSync(join(dir, tmp)).size;
}

describe("streaming ONNX writer", () => {
  it("asks for one tensor at a time and has written the previous one to disk before asking for the next", async () => {
    const dir = join(root, "stream");
    mkdirSync(dir);
    const requested: string[] = [];
    const sizeAtRequest: number[] = [];
    const progress: WriteOnnxProgress[] = [];
    const result = await writeLlamaOnnx(
      config,
      async (name) => {
        requested.push(name);
        sizeAtRequest.push(tempDataSize(dir));
        await new Promise((r) => setTimeout(r, 1)); // an asynchronous source, like a disk read
        return weights.get(name)!;
      },
      join(dir, "model.onnx"),
      { externalDataThreshold: 0, onProgress: (p) => progress.push(p) },
    );
    // Every HF tensor once, lm_head included; the data file grew between the large requests.
    expect(new Set(requested)).toEqual(new Set(weights.keys()));
    expect(requested.length).toBe(weights.size);
    const big = requested.map((n, i) => [n, i] as const).filter(([n]) => weights.get(n)!.data.length * 4 >= 1024);
    for (let j = 1; j < big.length; j++) expect(sizeAtRequest[big[j][1]], big[j][0]).toBeGreaterThan(sizeAtRequest[big[j - 1][1]]);
    // Progress: one report per tensor, in order, ending at the total and at the data written.
    expect(progress.map((p) => p.tensorsDone)).toEqual(requested.map((_, i) => i + 1));
    expect(progress.every((p) => p.tensorsTotal === weights.size)).toBe(true);
    expect(progress.at(-1)!.bytesWritten).toBe(result.weightBytes);
    expect(result.externalDataPath).toBe(join(dir, "model.onnx_data"));
    expect(readdirSync(dir).sort()).toEqual(["model.onnx", "model.onnx_data"]);
    // External tensors are 4 KiB aligned and the model runs.
    const session = await ort.InferenceSession.create(result.modelPath);
    await session.release();
  });

  it("a failing source leaves the previous model files untouched and no temp files", async () => {
    const dir = join(root, "atomic");
    mkdirSync(dir);
    writeFileSync(join(dir, "model.onnx"), "old model");
    writeFileSync(join(dir, "model.onnx_data"), "old data");
    let calls = 0;
    const failing = (name: string): Float32Tensor => {
      if (++calls === 6) throw new Error("disk read failed");
      return weights.get(name)!;
    };
    await expect(writeLlamaOnnx(config, failing, join(dir, "model.onnx"), { externalDataThreshold: 0 })).rejects.toThrow(/disk read failed/);
    expect(readdirSync(dir).sort()).toEqual(["model.onnx", "model.onnx_data"]);
    expect(readFileSync(join(dir, "model.onnx"), "utf8")).toBe("old model");
    expect(readFileSync(join(dir, "model.onnx_data"), "utf8")).toBe("old data");
  });

  it("stops at the next tensor when the signal aborts, removing its temp files", async () => {
    const dir = join(root, "abort");
    mkdirSync(dir);
    const controller = new AbortController();
    const write = writeLlamaOnnx(config, (n) => weights.get(n)!, join(dir, "model.onnx"), {
      externalDataThreshold: 0,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.tensorsDone === 3) controller.abort(new Error("interrupted"));
      },
    });
    await expect(write).rejects.toThrow(/interrupted/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("below the threshold the weights go inline and a stale data file is removed", async () => {
    const dir = join(root, "inline");
    mkdirSync(dir);
    writeFileSync(join(dir, "model.onnx_data"), "stale");
    const result = await writeLlamaOnnx(config, (n) => weights.get(n)!, join(dir, "model.onnx"));
    expect(result.externalDataPath).toBeNull();
    expect(existsSync(join(dir, "model.onnx_data"))).toBe(false);
    expect(statSync(result.modelPath).size).toBeGreaterThan(result.weightBytes);
    const session = await ort.InferenceSession.create(result.modelPath);
    await session.release();
  });

  it("rejects a tensor whose shape contradicts config.json, naming it", async () => {
    const bad = (n: string): Float32Tensor => (n === "model.layers.1.mlp.up_proj.weight" ? { shape: [3, 3], data: new Float32Array(9) } : weights.get(n)!);
    await expect(writeLlamaOnnx(config, bad, join(root, "bad", "model.onnx"))).rejects.toThrow(
      expect.objectContaining({ code: "MODEL_CONFIG_INVALID", message: expect.stringContaining("model.layers.1.mlp.up_proj.weight") }),
    );
  });

  it("rejects GroupQueryAttention for a head_dim ONNX Runtime's kernel cannot run (TINY has head_dim 8)", async () => {
    await expect(writeLlamaOnnx(config, (n) => weights.get(n)!, join(root, "gqa8", "model.onnx"), { attention: "gqa" })).rejects.toThrow(
      expect.objectContaining({ code: "MODEL_CONFIG_INVALID", message: expect.stringContaining("head_dim") }),
    );
  });

  it("rejects unsupported rope_scaling types and invalid llama3 fields before writing anything", async () => {
    const withRope = (rope: Record<string, unknown>) => ({ ...config, ropeScaling: rope });
    const dir = join(root, "rope");
    await expect(writeLlamaOnnx(withRope({ rope_type: "yarn", factor: 4 }), (n) => weights.get(n)!, join(dir, "model.onnx"))).rejects.toThrow(
      expect.objectContaining({ code: "MODEL_CONFIG_INVALID", message: expect.stringContaining("rope_scaling.rope_type") }),
    );
    await expect(
      writeLlamaOnnx(withRope({ rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 }), (n) => weights.get(n)!, join(dir, "model.onnx")),
    ).rejects.toThrow(expect.objectContaining({ message: expect.stringContaining("rope_scaling.original_max_position_embeddings") }));
    expect(existsSync(join(dir, "model.onnx"))).toBe(false);
  });
});
