import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bfloat16Bits,
  floatToHalfBits,
  halfToFloat,
  openSafetensors,
  readSafetensors,
  writeSafetensors,
  writeSafetensorsStreaming,
} from "../../src/convert/safetensors.js";

/** Hand-build a safetensors file: 8-byte LE header length, JSON header, raw bytes. */
function rawFile(header: unknown, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

describe("safetensors", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-safetensors-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("round-trips F32 tensors, shapes, order and metadata, leaving no temp file", () => {
    const path = join(dir, "round.safetensors");
    const a = { shape: [2, 3], data: Float32Array.from([1, -2.5, 3e-8, 4e10, 0, -0]) };
    const b = { shape: [4], data: Float32Array.from([Math.PI, Math.E, -1, 1 / 3]) };
    const scalar = { shape: [], data: Float32Array.from([7]) };
    writeSafetensors(path, new Map([["z.first", a], ["a.second", b], ["scalar", scalar]]), { format: "pt" });
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    const file = openSafetensors(path);
    try {
      expect([...file.entries.keys()]).toEqual(["z.first", "a.second", "scalar"]);
      expect(file.metadata).toEqual({ format: "pt" });
      expect(file.read("z.first")).toEqual(a);
      expect(file.read("a.second").data).toEqual(b.data);
      expect(file.read("scalar")).toEqual(scalar);
    } finally {
      file.close();
    }
    // Layout per the spec: header length prefix, JSON header padded to 8 bytes, data in declared order.
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
    expect(header["z.first"]).toEqual({ dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
    expect(header["a.second"]).toEqual({ dtype: "F32", shape: [4], data_offsets: [24, 40] });
    expect(bytes.readFloatLE(8 + n + 24)).toBeCloseTo(Math.PI, 6);
    expect(bytes.length).toBe(8 + n + 44);
  });

  it("reads F16 and BF16 as float32", () => {
    const path = join(dir, "half.safetensors");
    const f16 = Buffer.alloc(8);
    [0x3c00, 0xc000, 0x3555, 0x0001].forEach((h, i) => f16.writeUInt16LE(h, i * 2)); // 1, -2, ~1/3, smallest subnormal
    const bf16 = Buffer.alloc(6);
    [0x3f80, 0xbf00, 0x4049].forEach((h, i) => bf16.writeUInt16LE(h, i * 2)); // 1, -0.5, ~3.14
    writeFileSync(
      path,
      rawFile(
        { h: { dtype: "F16", shape: [4], data_offsets: [0, 8] }, b: { dtype: "BF16", shape: [3], data_offsets: [8, 14] } },
        Buffer.concat([f16, bf16]),
      ),
    );
    const t = readSafetensors(path);
    expect(Array.from(t.get("h")!.data)).toEqual([1, -2, Math.fround(0.333251953125), Math.fround(2 ** -24)]);
    expect(Array.from(t.get("b")!.data)).toEqual([1, -0.5, 3.140625]);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it("names the file and the problem for bad files", () => {
    const missing = join(dir, "missing.safetensors");
    expect(() => openSafetensors(missing)).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING", details: { file: missing } }));

    const cases: [string, Buffer, RegExp][] = [
      ["short", Buffer.alloc(4), /shorter than the 8-byte header/],
      ["badlen", (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); return b; })(), /header length 1000/],
      ["badjson", (() => { const j = Buffer.from("{nope"); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length)); return Buffer.concat([l, j]); })(), /not valid JSON/],
      ["dtype", rawFile({ x: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8)), /unsupported dtype "I64"/],
      ["span", rawFile({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /span 8 bytes but shape \[3\] needs 12/],
      ["truncated", rawFile({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8)), /past the end of the file/],
      ["shape", rawFile({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, Buffer.alloc(4)), /shape is not a list/],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(dir, `${name}.safetensors`);
      writeFileSync(path, bytes);
      let error: unknown;
      try {
        openSafetensors(path);
      } catch (e) {
        error = e;
      }
      expect(error, name).toMatchObject({ code: "MODEL_CONFIG_INVALID" });
      expect((error as Error).message, name).toMatch(message);
      expect((error as Error).message, name).toContain(path);
    }
    const ok = join(dir, "ok.safetensors");
    writeSafetensors(ok, [["x", { shape: [1], data: Float32Array.from([1]) }]]);
    const f = openSafetensors(ok);
    expect(() => f.read("y")).toThrow(expect.objectContaining({ code: "MODEL_FILE_MISSING" }));
    f.close();
  });

  it("refuses to write a tensor whose data does not match its shape, leaving no file", () => {
    const path = join(dir, "bad-write.safetensors");
    expect(() => writeSafetensors(path, [["x", { shape: [2, 2], data: new Float32Array(3) }]])).toThrow(
      expect.objectContaining({ code: "MODEL_CONFIG_INVALID" }),
    );
    expect(existsSync(path)).toBe(false);
  });

  it("streams BF16 and F16 tensors in pieces, rounding each value to the nearest representable one", () => {
    const path = join(dir, "stream.safetensors");
    const n = 5000;
    const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 9) - 4));
    values[0] = 1 + 2 ** -8; // exactly between two bfloat16 values: ties go to even (1)
    values[1] = 65520; // rounds past the largest float16 (65504) to infinity
    const specs = [
      { name: "b", dtype: "BF16" as const, shape: [50, 100] },
      { name: "h", dtype: "F16" as const, shape: [n] },
    ];
    writeSafetensorsStreaming(path, specs, { format: "pt" }, (_spec, sink) => {
      for (let i = 0; i < n; i += 777) sink(values.slice(i, i + 777)); // odd-sized pieces
    });
    const t = readSafetensors(path);
    const b = t.get("b")!.data;
    const h = t.get("h")!.data;
    expect(b[0]).toBe(1);
    expect(h[1]).toBe(Infinity);
    const bf = (bits: number): number => new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
    for (let i = 0; i < n; i++) {
      const x = values[i];
      // Brute force: no bfloat16 / float16 neighbour of the stored value is closer to x.
      const bBits = bfloat16Bits(new Uint32Array(new Float32Array([b[i]]).buffer)[0]);
      for (const nb of [bBits - 1, bBits + 1]) expect(Math.abs(bf(nb) - x), `bf16 ${i}`).toBeGreaterThanOrEqual(Math.abs(b[i] - x));
      if (i === 1) continue;
      const hBits = floatToHalfBits(h[i]);
      expect(halfToFloat(hBits)).toBe(h[i]);
      for (const nb of [hBits - 1, hBits + 1]) {
        if ((nb & 0x7c00) !== 0x7c00) expect(Math.abs(halfToFloat(nb) - x), `f16 ${i}`).toBeGreaterThanOrEqual(Math.abs(h[i] - x));
      }
    }
  });

  it("refuses a stream that does not fill the shape, leaving no file", () => {
    const path = join(dir, "short-stream.safetensors");
    expect(() => writeSafetensorsStreaming(path, [{ name: "x", dtype: "BF16", shape: [4] }], {}, (_s, sink) => sink(new Float32Array(3)))).toThrow(
      /tensor x got 3 values but shape \[4\] holds 4/,
    );
    expect(existsSync(path)).toBe(false);
  });

  it.each([
    ["overlapping", { a: [0, 8], b: [4, 12] }, 12, /tensor b: data_offsets \[4, 12\] overlap tensor a/],
    ["holed", { a: [0, 8], b: [12, 20] }, 20, /tensor b: data_offsets start at 12, leaving a hole after byte 8/],
    ["padded", { a: [0, 8], b: [8, 16] }, 24, /the tensors cover 16 bytes of data but the file holds 24/],
  ])("rejects a header whose offsets lie about the data (%s)", (name, offsets, dataBytes, message) => {
    const header = Object.fromEntries(Object.entries(offsets).map(([k, o]) => [k, { dtype: "F32", shape: [(o[1] - o[0]) / 4], data_offsets: o }]));
    const path = join(dir, `${name}-offsets.safetensors`);
    writeFileSync(path, rawFile(header, Buffer.alloc(dataBytes)));
    expect(() => openSafetensors(path)).toThrow(message);
  });
});
