/**
 * `model convert`'s MatMulNBits accuracy level: int8 activations (level 4) by default for int4 and int8, since
 * bench:peer measured next-token top-1 agreement with level 0 of 99.9 % on the SPACCC dev prompts (see
 * docs/cpu-performance.md); level 0 (float activations, exact on the dequantized weights) on request.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertCheckpoint } from "../../src/convert/convert.js";
import { writeRandomCheckpoint } from "../../src/testing/random-checkpoint.js";

const { onnx } = onnxProto;

/** accuracy_level of every MatMulNBits node of a converted model (its graph is small: weights are external). */
function levels(modelDir: string): number[] {
  const model = onnx.ModelProto.decode(readFileSync(join(modelDir, "onnx", "model.onnx")));
  return (model.graph?.node ?? [])
    .filter((n) => n.opType === "MatMulNBits")
    .map((n) => Number(n.attribute?.find((a) => a.name === "accuracy_level")?.i ?? -1));
}

describe("model convert: MatMulNBits accuracy level", () => {
  let root: string;
  let source: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "syncabel-acc-"));
    source = join(root, "hf");
    await writeRandomCheckpoint(source, { shape: { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 5 } });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("int4 and int8 default to level 4 (int8 activations) on every MatMulNBits, lm_head included", async () => {
    for (const dtype of ["int4", "int8"] as const) {
      const out = join(root, dtype);
      await convertCheckpoint(source, out, { dtype });
      const found = levels(out);
      expect(found.length, dtype).toBe(8); // q, k, v, o, gate, up, down, lm_head
      expect(new Set(found), dtype).toEqual(new Set([4]));
    }
  });

  it("level 0 (float activations) on request", async () => {
    const out = join(root, "int4-level0");
    await convertCheckpoint(source, out, { dtype: "int4", accuracyLevel: 0 });
    expect(new Set(levels(out))).toEqual(new Set([0]));
  });
});
