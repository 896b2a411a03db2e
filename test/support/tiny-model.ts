import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WriteOnnxOptions } from "../../src/convert/onnx-llama-graph.js";
import { writeRandomModel, type RandomModelShape } from "../../src/testing/random-model.js";

/** A tiny random Llama (real Llama-3 tokenizer + <SEP>) in a fresh temp folder; `cleanup` removes it. */
export async function makeTinyModel(shape: Partial<RandomModelShape> = {}, onnx: WriteOnnxOptions = {}): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-test-model-"));
  await writeRandomModel(dir, { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 11, ...shape }, onnx);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
