/**
 * Demoted presents (src/lm/present-sources.ts): the presents stop being graph outputs (so ONNX Runtime frees each
 * layer's concatenation after its attention) and the outputs that replace them carry the same numbers: the whole
 * present at prefill and its last slot at a step, compared with a session of the same file left as it is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { newSlotName, READOUT } from "../../src/lm/logit-readout.js";
import { openDecoderSession, type OpenedSession } from "../../src/lm/onnx-session.js";
import { findPresentSources } from "../../src/lm/present-sources.js";
import { writeRandomModel, type RandomModelShape } from "../../src/testing/random-model.js";

const SHAPE: RandomModelShape = { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocabSize: 300, seed: 4 };
const KV = 2;
const D = 16;

function feeds(session: ort.InferenceSession, rows: number, seq: number, past: readonly Float32Array[] | null, pastLength: number): Record<string, ort.Tensor> {
  const total = pastLength + seq;
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from({ length: rows * seq }, (_, i) => BigInt((i * 37 + 5) % 300)), [rows, seq]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(rows * total).fill(1n), [rows, total]),
    position_ids: new ort.Tensor("int64", BigInt64Array.from({ length: rows * seq }, (_, i) => BigInt(pastLength + (i % seq))), [rows, seq]),
    [READOUT.pick]: new ort.Tensor("int64", new BigInt64Array(rows).fill(3n), [rows, 1]),
    [READOUT.topK]: new ort.Tensor("int64", new BigInt64Array([0n]), [1]),
    [READOUT.rows]: new ort.Tensor("int64", new BigInt64Array([0n]), [1]),
  };
  for (let l = 0; l < SHAPE.layers; l++) {
    for (const [k, kind] of ["key", "value"].entries()) {
      f[`past_key_values.${l}.${kind}`] = new ort.Tensor("float32", past ? past[2 * l + k] : new Float32Array(0), [rows, KV, pastLength, D]);
    }
  }
  for (const name of Object.keys(f)) if (!session.inputNames.includes(name)) delete f[name];
  return f;
}

describe("demoted presents", () => {
  let root: string;
  let plain: OpenedSession;
  let demoted: OpenedSession;
  const presents = Array.from({ length: SHAPE.layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "syncabel-presents-"));
    await writeRandomModel(join(root, "optimum"), SHAPE);
    const file = join(root, "optimum", "onnx", "model.onnx");
    plain = await openDecoderSession(file, { threads: 1 });
    demoted = await openDecoderSession(file, { threads: 1, demotePresents: true });
  });
  afterAll(async () => {
    await plain.session.release();
    await demoted.session.release();
    rmSync(root, { recursive: true, force: true });
  });

  it("names a fresh output of the same byte length for every present, found nowhere in the file", () => {
    const bytes = readFileSync(join(root, "optimum", "onnx", "model.onnx"));
    const sources = findPresentSources(bytes, presents.map((name) => ({ name, elemType: 1 })))!;
    expect(sources.map((s) => s.present)).toEqual(presents);
    expect(new Set(sources.map((s) => s.output)).size).toBe(presents.length);
    for (const s of sources) {
      expect(Buffer.byteLength(s.output)).toBe(Buffer.byteLength(s.present));
      expect(bytes.indexOf(Buffer.from(s.output))).toBe(-1);
    }
  });

  it("takes the presents out of the outputs, and gives their numbers at prefill and their last slot at a step", async () => {
    expect(plain.newKv).toBeNull();
    const newKv = demoted.newKv!;
    expect(demoted.session.outputNames.filter((n) => n.startsWith("present."))).toEqual([]);
    expect(plain.session.outputNames.filter((n) => n.startsWith("present."))).toEqual(presents);

    const rows = 3;
    const seq = 7;
    const full = await plain.session.run(feeds(plain.session, rows, seq, null, 0), [...presents, READOUT.logZ]);
    const fresh = await demoted.session.run(feeds(demoted.session, rows, seq, null, 0), [...presents.map((p) => newKv.get(p)!), READOUT.logZ]);
    for (const p of presents) expect(Array.from(fresh[newKv.get(p)!].data as Float32Array)).toEqual(Array.from(full[p].data as Float32Array));
    expect(Array.from(fresh[READOUT.logZ].data as Float32Array)).toEqual(Array.from(full[READOUT.logZ].data as Float32Array));

    // One step on the prefill's cache: the slot the plain session slices off its present.
    const past = presents.map((p) => full[p].data as Float32Array);
    const slot = await plain.session.run(feeds(plain.session, rows, 1, past, seq), presents.map(newSlotName));
    const step = await demoted.session.run(feeds(demoted.session, rows, 1, past, seq), presents.map((p) => newKv.get(p)!));
    for (const p of presents) {
      expect(step[newKv.get(p)!].dims).toEqual([rows, KV, 1, D]);
      expect(Array.from(step[newKv.get(p)!].data as Float32Array)).toEqual(Array.from(slot[newSlotName(p)].data as Float32Array));
    }
  });

  it("leaves presents that are no Concat of past and new (GroupQueryAttention, merged decoders) as outputs", async () => {
    for (const [name, options] of [
      ["gqa", { attention: "gqa" as const }],
      ["merged", { merged: true, modelFile: "onnx/decoder_model_merged.onnx" }],
    ] as const) {
      await writeRandomModel(join(root, name), SHAPE, options);
      const file = join(root, name, "onnx", name === "merged" ? "decoder_model_merged.onnx" : "model.onnx");
      expect(findPresentSources(readFileSync(file), presents.map((p) => ({ name: p, elemType: 1 })))).toBeNull();
      const opened = await openDecoderSession(file, { threads: 1, demotePresents: true });
      expect(opened.newKv).toBeNull();
      expect(opened.session.outputNames.filter((n) => n.startsWith("present."))).toEqual(presents);
      await opened.session.release();
    }
  });
});
