/**
 * Weight conversions for the ONNX writer: float32 -> float16 bits, and block-wise weight-only quantization in the
 * exact layout of ONNX Runtime's com.microsoft.MatMulNBits:
 *
 *   B            uint8 [N, n_blocks, blob_size], n_blocks = ceil(K / block_size), blob_size = block_size * bits / 8;
 *                row n holds column n of the [K, N] matrix (= row n of a Hugging Face [out, in] Linear weight),
 *                codes packed low bits first (4-bit: element 2j in the low nibble, 2j+1 in the high nibble)
 *   scales       float [N * n_blocks]
 *   zero_points  uint8 [N * ceil(n_blocks * bits / 8)] packed the same way, or absent (then 2^(bits-1))
 *
 * and dequantized value = (code - zero_point) * scale. The last block of a row is padded with zeros (code = zero
 * point) when K is not a multiple of block_size.
 */
import { SyncabelError } from "../errors.js";
import { floatToHalfBits } from "./safetensors.js";

export type QuantBits = 4 | 8;

export interface BlockQuantized {
  readonly n: number;
  readonly k: number;
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly blocksPerRow: number;
  /** [N, n_blocks, blob_size] */
  readonly packed: Uint8Array;
  /** [N * n_blocks] */
  readonly scales: Float32Array;
  /** [N * ceil(n_blocks * bits / 8)], or null when symmetric (implicit zero point 2^(bits-1)). */
  readonly zeroPoints: Uint8Array | null;
}

export function validateBlockSize(blockSize: number): void {
  if (!Number.isSafeInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `quantization block size must be a power of two >= 16, got ${blockSize}`);
  }
}

/** Write `code` (bits wide) as element `index` of a low-first packed byte array. */
function packCode(out: Uint8Array, base: number, index: number, code: number, bits: QuantBits): void {
  if (bits === 8) out[base + index] = code;
  else out[base + (index >> 1)] |= (index & 1) === 0 ? code : code << 4;
}

/**
 * Quantize a row-major [n, k] matrix (a Hugging Face Linear weight [out, in]) block by block along k.
 * Symmetric: the value of largest magnitude m maps to code 0 (scale = m / -2^(bits-1), zero point 2^(bits-1)), as
 * ONNX Runtime's own quantizer does. Asymmetric: [min(block, 0), max(block, 0)] spans codes 0..2^bits-1.
 */
export function quantizeBlockwise(w: Float32Array, n: number, k: number, bits: QuantBits, blockSize: number, symmetric: boolean): BlockQuantized {
  validateBlockSize(blockSize);
  if (w.length !== n * k) throw new SyncabelError("INTERNAL", `quantizeBlockwise: ${w.length} values for [${n}, ${k}]`);
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const maxCode = (1 << bits) - 1;
  const mid = 1 << (bits - 1);
  const zpRow = Math.ceil((blocks * bits) / 8);
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zeroPoints = symmetric ? null : new Uint8Array(n * zpRow);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * k + b * blockSize;
      const end = r * k + Math.min(k, (b + 1) * blockSize);
      let scale: number;
      let zp: number;
      if (symmetric) {
        let m = 0;
        for (let i = start; i < end; i++) if (Math.abs(w[i]) > Math.abs(m)) m = w[i];
        scale = Math.fround(m / -mid);
        zp = mid;
      } else {
        let lo = 0;
        let hi = 0;
        for (let i = start; i < end; i++) {
          lo = Math.min(lo, w[i]);
          hi = Math.max(hi, w[i]);
        }
        scale = Math.fround((hi - lo) / maxCode);
        zp = scale === 0 ? mid : Math.min(maxCode, Math.max(0, Math.round(-lo / scale)));
        packCode(zeroPoints!, r * zpRow, b, zp, bits);
      }
      scales[r * blocks + b] = scale;
      const inv = scale === 0 ? 0 : 1 / scale;
      const base = (r * blocks + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        const v = start + i < end ? w[start + i] : 0;
        const code = Math.min(maxCode, Math.max(0, Math.round(v * inv) + zp));
        packCode(packed, base, i, code, bits);
      }
    }
  }
  return { n, k, bits, blockSize, blocksPerRow: blocks, packed, scales, zeroPoints };
}

/** IEEE 754 float32 -> binary16 bits, round to nearest even (as numpy / torch .half()). */
export function float32ToFloat16Bits(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = floatToHalfBits(data[i]);
  return out;
}

/**
 * Per-tensor symmetric int8 quantization as onnxruntime's `quantize_dynamic` does for weights (QInt8, symmetric:
 * codes -127..127, zero point 0, scale = max|w| / 127). Returns the codes in the input's order.
 */
export function quantizeInt8PerTensor(w: Float32Array): { codes: Int8Array; scale: number } {
  let m = 0;
  for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]));
  const scale = Math.fround(m / 127);
  const codes = new Int8Array(w.length);
  if (scale === 0) return { codes, scale };
  for (let i = 0; i < w.length; i++) codes[i] = Math.max(-127, Math.min(127, Math.round(w[i] / scale)));
  return { codes, scale };
}
