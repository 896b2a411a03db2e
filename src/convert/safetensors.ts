/**
 * The safetensors file format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {..}}`,
 * then the tensor bytes (offsets are relative to the end of the header).
 *
 * Reading is lazy (header first, each tensor read on demand by file offset) so that a multi-GB checkpoint
 * can be inspected without loading it. F32, F16 and BF16 tensors are returned as Float32Array.
 * Writing supports F32 and goes to a temp file renamed over the target.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { writeAll, writeFileAtomicWith } from "../io/atomic-write.js";

export type SafetensorsDtype = "F32" | "F16" | "BF16";

const BYTES_PER_ELEMENT: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

/** One tensor as listed in the header. `begin`/`end` are absolute byte offsets in the file. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A tensor to write: row-major float32 data whose length is the product of `shape`. */
export interface Float32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** An open safetensors file. Call `close()` when done. */
export interface SafetensorsFile {
  readonly path: string;
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Read one tensor as float32. Throws MODEL_FILE_MISSING if the file has no tensor of that name. */
  read(name: string): Float32Tensor;
  close(): void;
}

/** Headers larger than this are not plausible (the format itself caps them at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function invalid(path: string, problem: string): SyncabelError {
  return new SyncabelError("MODEL_CONFIG_INVALID", `${path}: invalid safetensors file: ${problem}`, { file: path });
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Validate the parsed JSON header against the file size; returns entries with absolute offsets. */
function parseHeader(
  path: string,
  header: unknown,
  dataStart: number,
  fileSize: number,
): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw invalid(path, "the header is not a JSON object");
  }
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw invalid(path, "__metadata__ is not an object");
      }
      metadata = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") throw invalid(path, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof value !== "object" || value === null) throw invalid(path, `tensor ${name}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") {
      throw invalid(path, `tensor ${name}: unsupported dtype ${JSON.stringify(dtype)} (F32, F16, BF16 are supported)`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw invalid(path, `tensor ${name}: shape is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    ) {
      throw invalid(path, `tensor ${name}: data_offsets is not [begin, end]`);
    }
    const [b, e] = offsets as [number, number];
    const bytes = product(shape as number[]) * BYTES_PER_ELEMENT[dtype];
    if (e - b !== bytes) {
      throw invalid(path, `tensor ${name}: data_offsets span ${e - b} bytes but shape ${JSON.stringify(shape)} needs ${bytes}`);
    }
    if (dataStart + e > fileSize) {
      throw invalid(path, `tensor ${name}: data_offsets end ${e} lies past the end of the file (truncated?)`);
    }
    entries.set(name, { name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  return { entries, metadata };
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Convert raw little-endian bytes of `dtype` into float32 values. */
function toFloat32(bytes: Buffer, dtype: SafetensorsDtype, count: number): Float32Array {
  if (dtype === "F32" && LITTLE_ENDIAN) {
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + count * 4));
  }
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === "BF16") {
    // bfloat16 is the top half of a float32.
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return out;
}

/** IEEE 754 binary16 -> number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Open a safetensors file and validate its header. */
export function openSafetensors(path: string): SafetensorsFile {
  if (!existsSync(path)) {
    throw new SyncabelError("MODEL_FILE_MISSING", `${path}: safetensors file not found`, { file: path });
  }
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw invalid(path, `file is ${size} bytes, shorter than the 8-byte header length`);
    const headerLen = Number(readExactly(fd, 8, 0).readBigUInt64LE(0));
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      throw invalid(path, `header length ${headerLen} does not fit the file of ${size} bytes`);
    }
    let header: unknown;
    try {
      header = JSON.parse(readExactly(fd, headerLen, 8).toString("utf8"));
    } catch (e) {
      throw invalid(path, `header is not valid JSON (${(e as Error).message})`);
    }
    const { entries, metadata } = parseHeader(path, header, 8 + headerLen, size);
    let closed = false;
    return {
      path,
      entries,
      metadata,
      read(name: string): Float32Tensor {
        if (closed) throw new SyncabelError("IO_ERROR", `${path}: safetensors file is closed`, { file: path });
        const entry = entries.get(name);
        if (entry === undefined) {
          throw new SyncabelError("MODEL_FILE_MISSING", `${path}: no tensor named ${name}`, { file: path, tensor: name });
        }
        const bytes = readExactly(fd, entry.end - entry.begin, entry.begin);
        if (bytes.length !== entry.end - entry.begin) throw invalid(path, `tensor ${name}: short read`);
        return { shape: entry.shape, data: toFloat32(bytes, entry.dtype, product(entry.shape)) };
      },
      close(): void {
        if (!closed) closeSync(fd);
        closed = true;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Read every tensor of a (small) safetensors file into memory. */
export function readSafetensors(path: string): Map<string, Float32Tensor> {
  const file = openSafetensors(path);
  try {
    const out = new Map<string, Float32Tensor>();
    for (const name of file.entries.keys()) out.set(name, file.read(name));
    return out;
  } finally {
    file.close();
  }
}

/**
 * Write tensors as F32 safetensors, streaming each tensor to a temp file then renaming over `path`.
 * Tensors are stored in the given order; the header is space-padded to a multiple of 8 bytes.
 */
export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Float32Tensor> | Iterable<readonly [string, Float32Tensor]>,
  metadata: Readonly<Record<string, string>> = {},
): void {
  const list = [...tensors];
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    if (name === "__metadata__") throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: reserved tensor name ${name}`);
    if (product(t.shape) !== t.data.length) {
      throw new SyncabelError(
        "MODEL_CONFIG_INVALID",
        `${path}: tensor ${name} has ${t.data.length} values but shape ${JSON.stringify(t.shape)}`,
        { file: path, tensor: name },
      );
    }
    const bytes = t.data.length * 4;
    header[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const lengthBytes = Buffer.alloc(8);
  lengthBytes.writeBigUInt64LE(BigInt(headerBytes.length));

  writeFileAtomicWith(path, (fd) => {
    writeSync(fd, lengthBytes);
    writeSync(fd, headerBytes);
    for (const [, t] of list) writeAll(fd, float32ToLEBytes(t.data));
  });
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Write float32 data as little-endian bytes (a view on the same memory on little-endian hosts). */
export function float32ToLEBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}
