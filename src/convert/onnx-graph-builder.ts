/**
 * A small ONNX graph builder: nodes (any domain), unique value names, deduplicated small constants and value
 * infos. Large initializers are not kept here: they go through a `WeightSink` (see onnx-weight-writer.ts) so the
 * weights of a multi-GB model are never all in memory; only their TensorProto stubs are collected.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type IGraphProto = onnxProto.onnx.IGraphProto;

export const DT = onnx.TensorProto.DataType;
export const MS_DOMAIN = "com.microsoft";

/** Attribute values: int, ints, float (boxed: JS cannot tell 1 from 1.0), or a subgraph (If branches). */
export type AttrValue = number | readonly number[] | { readonly float: number } | { readonly graph: IGraphProto };

function attribute(name: string, v: AttrValue): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "number") return { name, type: T.INT, i: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: [...(v as number[])] };
  if ("float" in (v as object)) return { name, type: T.FLOAT, f: (v as { float: number }).float };
  return { name, type: T.GRAPH, g: (v as { graph: IGraphProto }).graph };
}

export function tensorInfo(name: string, elemType: number, dims: readonly (string | number)[]): IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Where initializers go; returns the TensorProto to list in the graph (inline bytes or an external reference). */
export interface WeightSink {
  add(name: string, dims: readonly number[], dataType: number, bytes: Uint8Array): Promise<void>;
}

/** State shared by a graph and its subgraphs (If branches): one name counter, one constant table, one sink. */
interface SharedState {
  counter: number;
  readonly constants: Map<string, string>;
  /** Small constants, always inline in the top-level graph (visible from subgraphs). */
  readonly smallInitializers: ITensorProto[];
}

export class GraphBuilder {
  readonly nodes: INodeProto[] = [];

  constructor(private readonly shared: SharedState = { counter: 0, constants: new Map(), smallInitializers: [] }) {}

  /** A builder for a subgraph: own node list, same names, constants and initializers. */
  branch(): GraphBuilder {
    return new GraphBuilder(this.shared);
  }

  get smallInitializers(): readonly ITensorProto[] {
    return this.shared.smallInitializers;
  }

  fresh(hint: string): string {
    return `${hint}_${this.shared.counter++}`;
  }

  node(
    op: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, AttrValue>> = {},
    outputs?: readonly string[],
    domain = "",
  ): string[] {
    const outs = outputs ? [...outputs] : [this.fresh(op)];
    const attribute_ = Object.entries(attrs).map(([name, v]) => attribute(name, v));
    this.nodes.push({ opType: op, domain, input: [...inputs], output: outs, name: this.fresh(`n_${op}`), attribute: attribute_ });
    return outs;
  }

  op(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}): string {
    return this.node(op, inputs, attrs)[0];
  }

  /** A com.microsoft contrib op with one or more outputs. */
  msNode(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>>, outputs: readonly string[]): string[] {
    return this.node(op, inputs, attrs, outputs, MS_DOMAIN);
  }

  private constant(key: string, dims: readonly number[], dataType: number, bytes: Uint8Array): string {
    const hit = this.shared.constants.get(key);
    if (hit !== undefined) return hit;
    const name = this.fresh("const");
    this.shared.smallInitializers.push({ name, dims: [...dims], dataType, rawData: bytes });
    this.shared.constants.set(key, name);
    return name;
  }

  /** An int64 constant (shapes, axes, indices), deduplicated. `dims` [] makes a scalar. */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const bytes = new Uint8Array(new BigInt64Array(values.map((v) => BigInt(v))).buffer);
    return this.constant(`i64:${dims.join("x")}:${values.join(",")}`, dims, DT.INT64, bytes);
  }

  /** A float32 scalar constant, deduplicated. */
  float(value: number): string {
    return this.constant(`f32:${value}`, [], DT.FLOAT, new Uint8Array(new Float32Array([value]).buffer));
  }

  /** A small float32 constant tensor (e.g. the rotary inverse frequencies), by name hint, deduplicated. */
  floatConstant(hint: string, data: Float32Array, dims: readonly number[] = [data.length]): string {
    const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    return this.constant(`f32v:${hint}:${dims.join("x")}:${Array.from(data).join(",")}`, dims, DT.FLOAT, bytes);
  }

  cast(x: string, to: number): string {
    return this.op("Cast", [x], { to });
  }

  /** x[:, -n:] along `axis` where `n` is a [1] int64 tensor name (n = 0 keeps everything, as Python's x[-0:]). */
  lastAlong(x: string, n: string, axis: number): string {
    return this.op("Slice", [x, this.op("Neg", [n]), this.int64([Number.MAX_SAFE_INTEGER]), this.int64([axis])]);
  }
}
