/**
 * `npm run bench:writer`: the streaming ONNX writer on a 1.0 B-parameter Llama-3-shaped model (8 layers, hidden
 * 2048, GQA 32/8 heads, intermediate 8192, vocabulary 128,256) fed by a lazy source that makes each tensor on
 * request. One child process per weight dtype, so each peak RSS is its own. Prints JSON: seconds, bytes on disk,
 * the largest source tensor and peak RSS (the bound to check: a few of the largest tensors, not the model size).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseLlamaConfig } from "../src/convert/llama-config.js";
import { writeLlamaOnnx, type WeightDtype } from "../src/convert/onnx-llama-graph.js";
import { randomModelConfigJson } from "../src/testing/random-model.js";

const SHAPE = { layers: 8, hidden: 2048, heads: 32, kvHeads: 8, intermediate: 8192 };
const DTYPES: WeightDtype[] = ["fp32", "fp16", "int4"];

/** Shape of a HF tensor of this config. */
function shapeOf(name: string, vocab: number): number[] {
  const { hidden: H, intermediate: I } = SHAPE;
  const kv = (SHAPE.kvHeads * H) / SHAPE.heads;
  if (name.includes("embed_tokens") || name === "lm_head.weight") return [vocab, H];
  if (name.endsWith("norm.weight")) return [H];
  if (name.includes("q_proj") || name.includes("o_proj")) return [H, H];
  if (name.includes("k_proj") || name.includes("v_proj")) return [kv, H];
  if (name.includes("down_proj")) return [H, I];
  return [I, H];
}

async function runOne(dtype: WeightDtype): Promise<void> {
  const config = parseLlamaConfig(randomModelConfigJson(SHAPE), "config.json");
  const dir = mkdtempSync(join(tmpdir(), "syncabel-writer-bench-"));
  let largest = 0;
  let params = 0;
  try {
    const started = performance.now();
    const result = await writeLlamaOnnx(
      config,
      (name) => {
        const shape = shapeOf(name, config.vocabSize);
        const n = shape.reduce((a, b) => a * b, 1);
        largest = Math.max(largest, n * 4);
        params += n;
        const data = new Float32Array(n);
        for (let i = 0; i < n; i += 97) data[i] = ((i * 2654435761) % 1000) / 1000 - 0.5; // sparse fill: cheap, not constant
        return { shape, data };
      },
      join(dir, "model.onnx"),
      { weightDtype: dtype, externalDataThreshold: 0 },
    );
    const seconds = (performance.now() - started) / 1000;
    const bytesOnDisk = statSync(result.modelPath).size + statSync(result.externalDataPath!).size;
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    console.log(JSON.stringify({ dtype, params, seconds: +seconds.toFixed(1), bytesOnDisk, largestSourceTensorBytes: largest, peakRssBytes, peakRssOverLargestTensor: +(peakRssBytes / largest).toFixed(2) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.argv[2] as WeightDtype | undefined;
if (only !== undefined) {
  await runOne(only);
} else {
  const self = fileURLToPath(import.meta.url);
  const rows = DTYPES.map((dtype) => JSON.parse(execFileSync(process.execPath, ["--import", "tsx", self, dtype], { encoding: "utf8" }).trim().split("\n").at(-1)!));
  console.log(JSON.stringify({ model: { ...SHAPE, vocab: 128256 }, runs: rows }, null, 1));
}
