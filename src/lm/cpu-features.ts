/**
 * CPU features that change what ONNX Runtime computes. ORT's dynamic int8 MatMulInteger (onnxruntime
 * `quantize_dynamic`, transformers.js `model_quantized.onnx`) multiplies uint8 activations by int8 weights; on x86
 * CPUs without VNNI it uses VPMADDUBSW, whose int16 pair sums saturate, so logits can be far off (ORT documents
 * this and suggests uint8 weights or reduce_range). Linux only (read from /proc/cpuinfo); elsewhere unknown.
 */
import { existsSync, readFileSync } from "node:fs";
import { arch } from "node:os";

/** true / false on x86-64 Linux; undefined where it cannot be told (other systems, other architectures). */
export function hasVnni(cpuinfo = "/proc/cpuinfo"): boolean | undefined {
  if (arch() !== "x64" || !existsSync(cpuinfo)) return undefined;
  const flags = /^flags\s*:(.*)$/m.exec(readFileSync(cpuinfo, "utf8"))?.[1];
  if (flags === undefined) return undefined;
  return /\b(avx512_vnni|avx_vnni|amx_int8)\b/.test(flags);
}

/** The warning for a model whose graph uses MatMulInteger on a CPU that saturates it, or null. */
export function int8SaturationWarning(ops: ReadonlySet<string>, modelFile: string, vnni: boolean | undefined): string | null {
  if (!ops.has(":MatMulInteger") || vnni !== false) return null;
  return `${modelFile} uses dynamic int8 MatMulInteger, which ONNX Runtime computes with saturating 16-bit sums on this CPU (x86-64 without VNNI): its logits can be far from the model's. Prefer --dtype q4 or int8 MatMulNBits (syncabel model convert --dtype int4|int8), or fp32/fp16.`;
}
