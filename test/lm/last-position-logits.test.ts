/**
 * The lm_head rename (src/lm/last-position-logits.ts) on graphs laid out as torch.onnx / Optimum export them
 * (`/lm_head/MatMul` reading `/model/norm/Mul_1_output_0`, optionally a Cast to float16 logits, or the lm_head
 * inside a merged decoder's If): where it applies, the session's read-out must give the logZ and logits of the
 * last position computed here by brute force; where it does not, the file is left as it is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { findLmHeadInput, renameLmHeadInput } from "../../src/lm/last-position-logits.js";
import { READOUT } from "../../src/lm/logit-readout.js";
import { openDecoderSession } from "../../src/lm/onnx-session.js";

const { onnx } = onnxProto;
const F = onnx.TensorProto.DataType.FLOAT;
const F16 = onnx.TensorProto.DataType.FLOAT16;
const H = 8;
const V = 50;
const HIDDEN = "/model/norm/Mul_1_output_0";

// Deterministic weights: norm scale and lm_head [H, V].
const norm = Float32Array.from({ length: H }, (_, i) => 0.5 + i / 10);
const lmHead = Float32Array.from({ length: H * V }, (_, i) => Math.sin(i * 1.7) / 2);

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } };
}

/** A torch-export-shaped head: x * norm -> /lm_head/MatMul -> logits (float32, or Cast to float16). */
function headGraph(castToHalf: boolean): Uint8Array {
  const nodes = [
    { opType: "Mul", name: "/model/norm/Mul_1", input: ["hidden_in", "model.norm.weight"], output: [HIDDEN] },
    { opType: "MatMul", name: "/lm_head/MatMul", input: [HIDDEN, "onnx::MatMul_4321"], output: [castToHalf ? "/lm_head/MatMul_output_0" : "logits"] },
    ...(castToHalf ? [{ opType: "Cast", name: "/Cast_logits", input: ["/lm_head/MatMul_output_0"], output: ["logits"], attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: F16 }] }] : []),
  ];
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: "main_graph",
        node: nodes,
        initializer: [
          { name: "model.norm.weight", dims: [H], dataType: F, rawData: new Uint8Array(norm.buffer.slice(0)) },
          { name: "onnx::MatMul_4321", dims: [H, V], dataType: F, rawData: new Uint8Array(lmHead.buffer.slice(0)) },
        ],
        input: [valueInfo("hidden_in", F, ["batch_size", "sequence_length", H])],
        output: [valueInfo("logits", castToHalf ? F16 : F, ["batch_size", "sequence_length", V])],
      },
    }),
  ).finish();
}

/** Brute force: the last position's logits of row b, and their log-sum-exp. */
function lastRow(x: Float32Array, rows: number, seq: number, b: number): { logits: number[]; logZ: number } {
  const at = (b * seq + seq - 1) * H;
  const logits = Array.from({ length: V }, (_, v) => {
    let s = 0;
    for (let h = 0; h < H; h++) s += x[at + h] * norm[h] * lmHead[h * V + v];
    return s;
  });
  const max = Math.max(...logits);
  return { logits, logZ: max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0)) };
}

describe("last-position lm_head on torch-export-shaped graphs", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-lmhead-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const castToHalf of [false, true]) {
    it(`${castToHalf ? "MatMul -> Cast(float16)" : "MatMul"} -> logits: renamed, and the read-out equals brute force at the last position`, async () => {
      const bytes = headGraph(castToHalf);
      const found = findLmHeadInput(bytes);
      expect(found?.hidden).toBe(HIDDEN);
      expect(found?.sliced.length).toBe(HIDDEN.length);
      // The rename touches that name only: decoding the renamed bytes gives the same graph but for the lm_head's input.
      const copy = new Uint8Array(bytes); // a copy (Buffer.slice would be a view)
      renameLmHeadInput(copy, found!);
      const renamed = onnx.ModelProto.decode(copy);
      const original = onnx.ModelProto.decode(bytes);
      const head = renamed.graph!.node!.find((n) => n.name === "/lm_head/MatMul")!;
      expect(head.input).toEqual([found!.sliced, "onnx::MatMul_4321"]);
      head.input![0] = HIDDEN;
      expect(onnx.ModelProto.encode(renamed).finish()).toEqual(onnx.ModelProto.encode(original).finish());

      const file = join(dir, `head-${castToHalf ? "f16" : "f32"}.onnx`);
      writeFileSync(file, bytes);
      const opened = await openDecoderSession(file, { threads: 1 });
      try {
        expect(opened.readout).toBe(true);
        expect(opened.lastPosition).toBe(true);
        const rows = 3;
        const seq = 5;
        const x = Float32Array.from({ length: rows * seq * H }, (_, i) => Math.cos(i * 0.37));
        const pick = [3, 0, 49, 17];
        const out = await opened.session.run({
          hidden_in: new ort.Tensor("float32", x, [rows, seq, H]),
          [READOUT.pick]: new ort.Tensor("int64", BigInt64Array.from({ length: rows * pick.length }, (_, i) => BigInt(pick[i % pick.length])), [rows, pick.length]),
          [READOUT.topK]: new ort.Tensor("int64", new BigInt64Array([0n]), [1]),
          [READOUT.rows]: new ort.Tensor("int64", new BigInt64Array([0n]), [1]),
        });
        // Only the last position's logits were computed.
        expect(out.logits.dims).toEqual([rows, 1, V]);
        const logZ = out[READOUT.logZ].data as Float32Array;
        const picked = out[READOUT.picked].data as Float32Array;
        const tolerance = castToHalf ? 2e-2 : 1e-5;
        for (let b = 0; b < rows; b++) {
          const expected = lastRow(x, rows, seq, b);
          if (!castToHalf) expect(Math.abs(logZ[b] - expected.logZ)).toBeLessThan(tolerance);
          pick.forEach((t, i) => expect(Math.abs(picked[b * pick.length + i] - expected.logits[t])).toBeLessThan(tolerance));
        }
      } finally {
        await opened.session.release();
      }
    });
  }

  it("leaves graphs alone whose logits do not come from a top-level MatMul (merged decoders keep it in If branches)", () => {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: "merged",
        node: [
          {
            opType: "If",
            input: ["use_cache_branch"],
            output: ["logits"],
            attribute: [
              { name: "then_branch", type: onnx.AttributeProto.AttributeType.GRAPH, g: onnx.ModelProto.decode(headGraph(false)).graph },
              { name: "else_branch", type: onnx.AttributeProto.AttributeType.GRAPH, g: onnx.ModelProto.decode(headGraph(false)).graph },
            ],
          },
        ],
        input: [valueInfo("use_cache_branch", onnx.TensorProto.DataType.BOOL, [1])],
        output: [valueInfo("logits", F, ["batch_size", "sequence_length", V])],
      },
    });
    expect(findLmHeadInput(onnx.ModelProto.encode(model).finish())).toBeNull();
  });

  it("gives up (no rename) when no unused name of the input's length exists, and on bytes that are not ONNX", () => {
    const short = onnx.ModelProto.decode(headGraph(false));
    for (const n of short.graph!.node!) n.input = n.input!.map((i) => (i === HIDDEN ? "h" : i));
    short.graph!.node![0].output = ["h"];
    expect(findLmHeadInput(onnx.ModelProto.encode(short).finish())).toBeNull();
    expect(findLmHeadInput(new TextEncoder().encode("not an onnx file at all"))).toBeNull();
  });
});
