/**
 * What the runtime must know about an ONNX file before running it, read without loading the weights: the
 * operator types of its nodes (subgraphs of If nodes included: merged decoders keep their layers there) and
 * the external data files its initializers point to. A minimal protobuf walk over positional reads, so a
 * 2 GB file with inline weights costs a few reads, not 2 GB of memory.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { SyncabelError } from "../errors.js";

export interface OnnxScan {
  /** `domain:op_type` of every node ("" domain for standard ONNX), e.g. "com.microsoft:GroupQueryAttention". */
  readonly ops: ReadonlySet<string>;
  /** `location` of every external-data initializer (relative to the model's folder). */
  readonly externalData: ReadonlySet<string>;
  /** ONNX element type (TensorProto.DataType: 1 float, 10 float16...) of every graph output, by name. */
  readonly outputs: ReadonlyMap<string, number>;
  /** ModelProto metadata_props (key -> value). */
  readonly metadata: ReadonlyMap<string, string>;
}

/** Messages larger than this are skipped unread (weights inline in the file). */
const READ_LIMIT = 64 * 1024 * 1024;

export class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos = 0,
    private readonly end = bytes.length,
  ) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error("truncated varint");
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  }

  /** Skip a value of `wireType`; for length-delimited ones return [start, end]. */
  skip(wireType: number): [number, number] | undefined {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 5) this.pos += 4;
    else if (wireType === 2) {
      const len = this.varint();
      const start = this.pos;
      this.pos += len;
      return [start, this.pos];
    } else throw new Error(`unsupported wire type ${wireType}`);
    return undefined;
  }

  sub(range: [number, number]): Reader {
    return new Reader(this.bytes, range[0], range[1]);
  }

  string(range: [number, number]): string {
    return new TextDecoder().decode(this.bytes.subarray(range[0], range[1]));
  }
}

/** Fields of one length-delimited message: [fieldNumber, wireType, range]. */
export function* fields(r: Reader): Generator<[number, number, [number, number] | undefined]> {
  while (!r.done()) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    yield [field, wire, r.skip(wire)];
  }
}

function scanNode(r: Reader, ops: Set<string>, externalData: Set<string>): void {
  let op = "";
  let domain = "";
  for (const [field, , range] of fields(r)) {
    if (!range) continue;
    if (field === 4) op = r.string(range);
    else if (field === 7) domain = r.string(range);
    else if (field === 5) {
      // AttributeProto: g (6) and graphs (11) hold subgraphs (If / Loop bodies).
      for (const [f, , ar] of fields(r.sub(range))) if (ar && (f === 6 || f === 11)) scanGraph(r.sub(ar), ops, externalData);
    }
  }
  ops.add(`${domain === "ai.onnx" ? "" : domain}:${op}`);
}

function scanInitializer(r: Reader, externalData: Set<string>): void {
  for (const [field, , range] of fields(r)) {
    if (field !== 13 || !range) continue;
    let key = "";
    let value = "";
    for (const [f, , er] of fields(r.sub(range))) {
      if (er && f === 1) key = r.string(er);
      if (er && f === 2) value = r.string(er);
    }
    if (key === "location") externalData.add(value);
  }
}

/** ValueInfoProto name (1) and type (2) -> tensor_type (1) -> elem_type (1). */
function scanValueInfo(r: Reader, outputs: Map<string, number>): void {
  let name = "";
  let elemType = 0;
  for (const [field, , range] of fields(r)) {
    if (range && field === 1) name = r.string(range);
    if (range && field === 2) {
      for (const [f, , tr] of fields(r.sub(range))) {
        if (!tr || f !== 1) continue;
        const t = r.sub(tr);
        while (!t.done()) {
          const tag = t.varint();
          if (tag === 8) elemType = t.varint();
          else t.skip(tag & 7);
        }
      }
    }
  }
  outputs.set(name, elemType);
}

interface Found {
  readonly ops: Set<string>;
  readonly externalData: Set<string>;
  readonly outputs: Map<string, number>;
  readonly metadata?: Map<string, string>;
}

/** StringStringEntryProto: key (1), value (2). */
function scanMetadataEntry(r: Reader, metadata: Map<string, string>): void {
  let key = "";
  let value = "";
  for (const [field, , range] of fields(r)) {
    if (range && field === 1) key = r.string(range);
    if (range && field === 2) value = r.string(range);
  }
  metadata.set(key, value);
}

/** A graph's nodes (1), initializers (5) and, for the main graph only, outputs (12). */
function visitGraphField(field: number, r: Reader, found: Found, main: boolean): void {
  if (field === 1) scanNode(r, found.ops, found.externalData);
  else if (field === 5) scanInitializer(r, found.externalData);
  else if (field === 12 && main) scanValueInfo(r, found.outputs);
}

function scanGraph(r: Reader, ops: Set<string>, externalData: Set<string>, outputs?: Map<string, number>): void {
  for (const [field, , range] of fields(r)) {
    if (range) visitGraphField(field, r.sub(range), { ops, externalData, outputs: outputs ?? new Map() }, outputs !== undefined);
  }
}

/**
 * Scan the top level of the file by positional reads: the graph message is read whole only when it is small;
 * otherwise node by node and initializer by initializer, skipping the big ones (inline weights hold no location).
 */
export function scanOnnxModel(path: string): OnnxScan {
  const found: Required<Found> = { ops: new Set(), externalData: new Set(), outputs: new Map(), metadata: new Map() };
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const read = (pos: number, len: number): Uint8Array => {
      const buf = new Uint8Array(len);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, buf, got, len - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    };
    /** Walk the fields of the message at [start, end) in windows, calling `visit` with each field's bytes when small. */
    const walk = (start: number, end: number, visit: (field: number, bytes: Uint8Array | null, at: number) => void): void => {
      let pos = start;
      while (pos < end) {
        const head = new Reader(read(pos, Math.min(20, end - pos)));
        const tag = head.varint();
        const field = Math.floor(tag / 8);
        const wire = tag & 7;
        if (wire !== 2) {
          head.skip(wire);
          pos += head.pos;
          continue;
        }
        const len = head.varint();
        const bodyAt = pos + head.pos;
        visit(field, len <= READ_LIMIT ? read(bodyAt, len) : null, bodyAt);
        if (len > READ_LIMIT && field === 7) walk(bodyAt, bodyAt + len, visitGraph);
        pos = bodyAt + len;
      }
    };
    const visitGraph = (field: number, bytes: Uint8Array | null): void => {
      if (bytes !== null) visitGraphField(field, new Reader(bytes), found, true);
    };
    walk(0, size, (field, bytes) => {
      if (field === 7 && bytes !== null) scanGraph(new Reader(bytes), found.ops, found.externalData, found.outputs);
      if (field === 14 && bytes !== null) scanMetadataEntry(new Reader(bytes), found.metadata);
    });
  } catch (e) {
    if (e instanceof SyncabelError) throw e;
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${path} is not a readable ONNX model: ${(e as Error).message}`, { path });
  } finally {
    closeSync(fd);
  }
  return found;
}

/** Each entry of `field` in the main graph of a ModelProto (1: nodes, 12: outputs), as a range of `model`'s bytes. */
export function* mainGraphEntries(model: Reader, field: number): Generator<[number, number]> {
  for (const [f, , graph] of fields(model)) {
    if (f !== 7 || !graph) continue;
    for (const [g, , entry] of fields(model.sub(graph))) if (g === field && entry) yield entry;
  }
}
