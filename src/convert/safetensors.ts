/**
 * The safetensors file format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {..}}`,
 * then the tensor bytes (offsets are relative to the end of the header).
 *
 * Reading is lazy (header first, each tensor read on demand by file offset) so that a multi-GB checkpoint
 * can be inspected without loading it; a 16 GB checkpoint is read one tensor at a time. F32, F16 and BF16 tensors
 * are returned as Float32Array (BF16 and F16 values exactly). Writing streams F32, F16 or BF16 tensors in pieces
 * to a temp file renamed over the target, so a shard of any size is written with bounded memory.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
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
  checkLayout(path, [...entries.values()], fileSize - dataStart, dataStart);
  return { entries, metadata };
}

/**
 * The tensors must tile the data region exactly (as the reference implementation demands): a header whose offsets
 * overlap, leave holes or stop short of the file's end is lying about the file, and would read wrong bytes.
 */
function checkLayout(path: string, entries: SafetensorsEntry[], dataBytes: number, dataStart: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = dataStart;
  let previous = "";
  for (const e of sorted) {
    if (e.begin < at) throw invalid(path, `tensor ${e.name}: data_offsets [${e.begin - dataStart}, ${e.end - dataStart}] overlap tensor ${previous}`);
    if (e.begin > at) throw invalid(path, `tensor ${e.name}: data_offsets start at ${e.begin - dataStart}, leaving a hole after byte ${at - dataStart}`);
    at = e.end;
    previous = e.name;
  }
  if (at - dataStart !== dataBytes) {
    throw invalid(path, `the tensors cover ${at - dataStart} bytes of data but the file holds ${dataBytes}`);
  }
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

/** Convert raw little-endian bytes of `dtype` into float32 values (exact for all three types). */
function toFloat32(bytes: Buffer, dtype: SafetensorsDtype, count: number): Float32Array {
  if (dtype === "F32" && LITTLE_ENDIAN) {
    // A fresh aligned buffer (Buffer.alloc) is viewed, not copied: one copy of the largest tensor, not two.
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + count * 4));
  }
  const out = new Float32Array(count);
  if (dtype === "F32") {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const halves = uint16View(bytes, count);
  if (dtype === "BF16") {
    // bfloat16 is the top half of a float32.
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = halves[i] << 16;
  } else {
    const table = halfTable();
    for (let i = 0; i < count; i++) out[i] = table[halves[i]];
  }
  return out;
}

/** The 16-bit little-endian words of `bytes` (a view when aligned on a little-endian host, else a copy). */
function uint16View(bytes: Uint8Array, count: number): Uint16Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
  return out;
}

let HALF_TABLE: Float32Array | null = null;
/** Every float16 bit pattern decoded once (256 KB), so F16 tensors decode by lookup. */
function halfTable(): Float32Array {
  if (HALF_TABLE === null) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
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

/** A tensor of a file to write: its name, stored element type and shape (the data comes later, in pieces). */
export interface SafetensorsTensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

/** Byte size of a tensor as stored. */
export function storedBytes(spec: Omit<SafetensorsTensorSpec, "name">): number {
  return product(spec.shape) * BYTES_PER_ELEMENT[spec.dtype];
}

/** The 8-byte length prefix and the JSON header (space-padded to a multiple of 8) of tensors stored in order. */
export function safetensorsHeader(
  path: string,
  specs: readonly SafetensorsTensorSpec[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of specs) {
    if (t.name === "__metadata__" || Object.hasOwn(header, t.name)) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: duplicate or reserved tensor name ${t.name}`, { file: path });
    }
    const bytes = storedBytes(t);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length);
  out.writeBigUInt64LE(BigInt(headerBytes.length));
  headerBytes.copy(out, 8);
  return out;
}

/** Receives the values of the current tensor in consecutive pieces. */
export type TensorSink = (values: Float32Array) => void;

/**
 * Write a safetensors file whose tensors are produced piece by piece, so memory stays bounded by the largest
 * piece: `fill(spec, sink)` is called for each tensor in order and must pass exactly its element count to `sink`.
 * Values are rounded to the stored dtype (round to nearest even). Atomic: temp file, fsync, rename.
 */
export function writeSafetensorsStreaming(
  path: string,
  specs: readonly SafetensorsTensorSpec[],
  metadata: Readonly<Record<string, string>>,
  fill: (spec: SafetensorsTensorSpec, sink: TensorSink) => void,
): void {
  const header = safetensorsHeader(path, specs, metadata);
  writeFileAtomicWith(path, (fd) => {
    writeAll(fd, header);
    for (const spec of specs) {
      let written = 0;
      const expected = product(spec.shape);
      fill(spec, (values) => {
        written += values.length;
        if (written > expected) throw shapeMismatch(path, spec, written);
        writeAll(fd, encodeValues(values, spec.dtype));
      });
      if (written !== expected) throw shapeMismatch(path, spec, written);
    }
  });
}

function shapeMismatch(path: string, spec: SafetensorsTensorSpec, count: number): SyncabelError {
  return new SyncabelError(
    "MODEL_CONFIG_INVALID",
    `${path}: tensor ${spec.name} got ${count} values but shape ${JSON.stringify(spec.shape)} holds ${product(spec.shape)}`,
    { file: path, tensor: spec.name },
  );
}

/** Little-endian bytes of `values` in `dtype`. */
function encodeValues(values: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  if (dtype === "F32") return float32ToLEBytes(values);
  const out = new Uint16Array(values.length);
  if (dtype === "BF16") {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) out[i] = bfloat16Bits(bits[i]);
  } else {
    for (let i = 0; i < values.length; i++) out[i] = floatToHalfBits(values[i]);
  }
  if (!LITTLE_ENDIAN) for (let i = 0; i < out.length; i++) out[i] = ((out[i] & 0xff) << 8) | (out[i] >>> 8);
  return new Uint8Array(out.buffer);
}

/** float32 bits -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function bfloat16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) / 65536 >>> 0 & 0xffff;
}

const F32_SCRATCH = new Float32Array(1);
const U32_SCRATCH = new Uint32Array(F32_SCRATCH.buffer);

/** number -> IEEE 754 binary16 bits, round to nearest even (overflow to infinity, underflow to subnormals / zero). */
export function floatToHalfBits(value: number): number {
  F32_SCRATCH[0] = value;
  const x = U32_SCRATCH[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is still correct
  return sign | h;
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
  const list = new Map(tensors);
  const specs = [...list].map(([name, t]): SafetensorsTensorSpec => {
    if (product(t.shape) !== t.data.length) throw shapeMismatch(path, { name, dtype: "F32", shape: t.shape }, t.data.length);
    return { name, dtype: "F32", shape: t.shape };
  });
  writeSafetensorsStreaming(path, specs, metadata, (spec, sink) => sink((list.get(spec.name) as Float32Tensor).data));
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
