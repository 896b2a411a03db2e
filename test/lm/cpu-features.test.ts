/** The int8 saturation check (src/lm/cpu-features.ts) on cpuinfo files and on a real dynamic-int8 export. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasVnni, int8SaturationWarning } from "../../src/lm/cpu-features.js";
import { loadOnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { makeTinyModel } from "../support/tiny-model.js";

describe("CPU features and the dynamic-int8 warning", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-cpu-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(arch() !== "x64")("reads VNNI from the flags line of a cpuinfo file", () => {
    const file = (flags: string): string => {
      const path = join(dir, `cpuinfo-${flags.length}`);
      writeFileSync(path, `processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 ${flags} avx2\nbogomips\t: 1\n`);
      return path;
    };
    expect(hasVnni(file("avx512f avx512_vnni"))).toBe(true);
    expect(hasVnni(file("avx_vnni"))).toBe(true);
    expect(hasVnni(file("avx512f avx512bw"))).toBe(false);
    expect(hasVnni(join(dir, "missing"))).toBeUndefined();
  });

  it("warns for MatMulInteger graphs on CPUs without VNNI only", () => {
    const ops = new Set([":MatMulInteger", ":DynamicQuantizeLinear"]);
    expect(int8SaturationWarning(ops, "m.onnx", false)).toMatch(/m\.onnx.*MatMulInteger.*without VNNI.*q4/);
    expect(int8SaturationWarning(ops, "m.onnx", true)).toBeNull();
    expect(int8SaturationWarning(ops, "m.onnx", undefined)).toBeNull();
    expect(int8SaturationWarning(new Set([":MatMul"]), "m.onnx", false)).toBeNull();
  });

  it("a dynamic-int8 export (model_quantized.onnx) carries the warning exactly where this CPU lacks VNNI", async () => {
    const model = await makeTinyModel({ seed: 4 }, { weightDtype: "int8-dynamic" });
    const plain = await makeTinyModel({ seed: 4 });
    const lm = await loadOnnxCausalLM(model.dir, { threads: 1 });
    const fp32 = await loadOnnxCausalLM(plain.dir, { threads: 1 });
    try {
      expect(lm.warnings.length).toBe(hasVnni() === false ? 1 : 0);
      expect(fp32.warnings).toEqual([]);
    } finally {
      await lm.dispose();
      await fp32.dispose();
      model.cleanup();
      plain.cleanup();
    }
  });
});
