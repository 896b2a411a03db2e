/**
 * The weights of an ONNX graph written from a Hugging Face checkpoint: each tensor is requested from the
 * WeightSource once, converted (transposed to [in, out] for MatMul, float16, or MatMulNBits blocks), handed to the
 * sink and dropped. Returns small handles that emit the nodes using the weight into any (sub)graph builder.
 * Architecture-specific weight sets (Llama, mBART) extend GraphWeights.
 */
import { SyncabelError } from "../errors.js";
import { DT, type GraphBuilder, type WeightSink } from "./onnx-graph-builder.js";
import { float32ToFloat16Bits, quantizeBlockwise, quantizeInt8PerTensor, type QuantBits } from "./quantize.js";
import { float32ToLEBytes, type Float32Tensor } from "./safetensors.js";

/** A weight by its Hugging Face name; called lazily, once per use. May read from disk asynchronously. */
export type WeightSource = (name: string) => Float32Tensor | Promise<Float32Tensor>;

/** Storage of a float weight in the ONNX file. */
export type FloatStorage = "fp32" | "fp16";

export interface LinearStorage {
  /**
   * Float storage, MatMulNBits with these bits, or "int8-dynamic": onnxruntime `quantize_dynamic`'s layout
   * (per-tensor int8 weights, DynamicQuantizeLinear on the activations, MatMulInteger; DequantizeLinear after Gather).
   */
  readonly kind: FloatStorage | "nbits" | "int8-dynamic";
  readonly bits?: QuantBits;
  readonly blockSize?: number;
  readonly symmetric?: boolean;
  readonly accuracyLevel?: number;
}

/** Emits `x @ W^T` (W a HF [out, in] weight) into a builder. */
export type LinearOp = (g: GraphBuilder, x: string) => string;

export interface WeightProgress {
  /** Hugging Face name of the tensor just written. */
  readonly tensor: string;
  readonly tensorsDone: number;
}

function expectShape(t: Float32Tensor, name: string, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new SyncabelError(
      "MODEL_CONFIG_INVALID",
      `weight ${name} has shape ${JSON.stringify(t.shape)}, config.json implies ${JSON.stringify(shape)}`,
      { tensor: name },
    );
  }
}

/**
 * Transpose a row-major [rows, cols] matrix into [cols, rows] (HF Linear weights are [out, in]), in 64 x 64 tiles
 * so reads and writes both stay in cache.
 */
export function transpose2d<T extends Float32Array | Uint16Array | Int8Array>(src: T, rows: number, cols: number): T {
  const out = new (src.constructor as new (n: number) => T)(rows * cols);
  const T = 64;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = src[base + c];
      }
    }
  }
  return out;
}

/** Little-endian bytes of `data` in `storage`, optionally transposed from [rows, cols] (after the float16 rounding: half the memory). */
function floatBytes(data: Float32Array, storage: FloatStorage, transposeShape?: readonly [number, number]): { bytes: Uint8Array; type: number } {
  const t = <T extends Float32Array | Uint16Array>(x: T): T => (transposeShape ? transpose2d(x, transposeShape[0], transposeShape[1]) : x);
  if (storage === "fp32") return { bytes: float32ToLEBytes(t(data)), type: DT.FLOAT };
  const half = t(float32ToFloat16Bits(data));
  return { bytes: new Uint8Array(half.buffer, half.byteOffset, half.byteLength), type: DT.FLOAT16 };
}

/** A float initializer used as float32 inside the graph (a Cast follows float16 storage). */
function floatUse(g: GraphBuilder, name: string, storage: FloatStorage): string {
  return storage === "fp32" ? name : g.cast(name, DT.FLOAT);
}

export class GraphWeights<C = unknown> {
  private done = 0;
  private readonly memo = new Map<string, Promise<unknown>>();

  constructor(
    /** The architecture's hyper-parameters (config.json). */
    readonly config: C,
    private readonly source: WeightSource,
    protected readonly sink: WeightSink,
    private readonly onTensor?: (p: WeightProgress) => void,
  ) {}

  protected once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let hit = this.memo.get(key) as Promise<T> | undefined;
    if (hit === undefined) this.memo.set(key, (hit = make()));
    return hit;
  }

  protected async fetch(name: string, shape: readonly number[]): Promise<Float32Tensor> {
    const t = await this.source(name);
    expectShape(t, name, shape);
    return t;
  }

  protected tensorDone(name: string): void {
    this.onTensor?.({ tensor: name, tensorsDone: ++this.done });
  }

  /** A [dim] vector (norm weights), always float32. */
  vector(name: string, dim: number): Promise<string> {
    return this.once(name, async () => {
      const t = await this.fetch(name, [dim]);
      await this.sink.add(name, [dim], DT.FLOAT, float32ToLEBytes(t.data));
      this.tensorDone(name);
      return name;
    });
  }

  /**
   * The linear layer made of HF weights `parts` (each [outs[i], inDim]) stacked along the output axis (several
   * parts = a packed QKV projection), stored as `initName`.
   */
  linear(initName: string, parts: readonly string[], outs: readonly number[], inDim: number, storage: LinearStorage): Promise<LinearOp> {
    return this.once(initName, async () => {
      const n = outs.reduce((a, b) => a + b, 0);
      let w: Float32Array;
      if (parts.length === 1) {
        w = (await this.fetch(parts[0], [n, inDim])).data; // no copy: peak memory matters at 8B
      } else {
        w = new Float32Array(n * inDim);
        let row = 0;
        for (let i = 0; i < parts.length; i++) {
          w.set((await this.fetch(parts[i], [outs[i], inDim])).data, row * inDim);
          row += outs[i];
        }
      }
      const op = await this.storeLinear(initName, w, n, inDim, storage);
      for (const p of parts) this.tensorDone(p);
      return op;
    });
  }

  private async storeLinear(name: string, w: Float32Array, n: number, k: number, storage: LinearStorage): Promise<LinearOp> {
    if (storage.kind === "int8-dynamic") return this.storeDynamicInt8(name, w, n, k);
    if (storage.kind !== "nbits") {
      const { bytes, type } = floatBytes(w, storage.kind, [n, k]);
      await this.sink.add(name, [k, n], type, bytes);
      return (g, x) => g.op("MatMul", [x, floatUse(g, name, storage.kind as FloatStorage)]);
    }
    const bits = storage.bits!;
    const q = quantizeBlockwise(w, n, k, bits, storage.blockSize!, storage.symmetric!);
    const blob = (q.blockSize * bits) / 8;
    const names = { b: `${name}_Q${bits}`, scales: `${name}_scales`, zp: `${name}_zero_points` };
    await this.sink.add(names.b, [n, q.blocksPerRow, blob], DT.UINT8, q.packed);
    await this.sink.add(names.scales, [n * q.blocksPerRow], DT.FLOAT, float32ToLEBytes(q.scales));
    if (q.zeroPoints !== null) await this.sink.add(names.zp, [q.zeroPoints.length], DT.UINT8, q.zeroPoints);
    const inputs = [names.b, names.scales, ...(q.zeroPoints !== null ? [names.zp] : [])];
    const attrs = { K: k, N: n, bits, block_size: q.blockSize, accuracy_level: storage.accuracyLevel ?? 0 };
    return (g, x) => g.msNode("MatMulNBits", [x, ...inputs], attrs, [g.fresh("MatMulNBits")])[0];
  }

  /** A constant float table (rotary cos/sin caches), stored once. */
  table(name: string, dims: readonly number[], data: Float32Array, storage: FloatStorage): Promise<string> {
    return this.once(name, async () => {
      const { bytes, type } = floatBytes(data, storage);
      await this.sink.add(name, dims, type, bytes);
      return name;
    });
  }

  /** Per-tensor int8 weight [k, n] with its scale and zero point, under onnxruntime's quantize_dynamic names. */
  private async storeInt8Tensor(name: string, codes: Int8Array, dims: readonly number[], scale: number): Promise<{ q: string; scale: string; zp: string }> {
    const names = { q: `${name}_quantized`, scale: `${name}_scale`, zp: `${name}_zero_point` };
    await this.sink.add(names.q, dims, DT.INT8, new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength));
    await this.sink.add(names.scale, [], DT.FLOAT, float32ToLEBytes(new Float32Array([scale])));
    await this.sink.add(names.zp, [], DT.INT8, new Uint8Array(1));
    return names;
  }

  private async storeDynamicInt8(name: string, w: Float32Array, n: number, k: number): Promise<LinearOp> {
    const { codes, scale } = quantizeInt8PerTensor(w);
    const names = await this.storeInt8Tensor(name, transpose2d(codes, n, k), [k, n], scale);
    return (g, x) => {
      const [xq, xScale, xZp] = g.node("DynamicQuantizeLinear", [x], {}, [g.fresh("xq"), g.fresh("x_scale"), g.fresh("x_zp")]);
      const acc = g.op("MatMulInteger", [xq, names.q, xZp, names.zp]);
      return g.op("Mul", [g.cast(acc, DT.FLOAT), g.op("Mul", [xScale, names.scale])]);
    };
  }

  /**
   * Token embedding lookup on `ids`: Gather on a float32 / float16 table, or com.microsoft.GatherBlockQuantized on
   * rows quantized like MatMulNBits weights (uint8 data [V, H * bits / 8], scales [V, H / block]).
   */
  embeddingTable(name: string, V: number, H: number, storage: LinearStorage): Promise<(g: GraphBuilder, ids: string) => string> {
    return this.once(`${name}#gather`, async () => {
      const table = (await this.fetch(name, [V, H])).data;
      let lookup: (g: GraphBuilder, ids: string) => string;
      if (storage.kind === "int8-dynamic") {
        const { codes, scale } = quantizeInt8PerTensor(table);
        const names = await this.storeInt8Tensor(name, codes, [V, H], scale);
        lookup = (g, ids) => g.op("DequantizeLinear", [g.op("Gather", [names.q, ids], { axis: 0 }), names.scale, names.zp]);
      } else if (storage.kind === "nbits") {
        const { bits, blockSize, symmetric } = storage as Required<LinearStorage>;
        if (H % blockSize !== 0) {
          throw new SyncabelError("MODEL_CONFIG_INVALID", `quantized embeddings need hidden_size (${H}) to be a multiple of the block size ${blockSize}`);
        }
        const q = quantizeBlockwise(table, V, H, bits, blockSize, symmetric);
        const names = { data: `${name}_Q${bits}`, scales: `${name}_scales`, zp: `${name}_zero_points` };
        await this.sink.add(names.data, [V, (H * bits) / 8], DT.UINT8, q.packed);
        await this.sink.add(names.scales, [V, q.blocksPerRow], DT.FLOAT, float32ToLEBytes(q.scales));
        if (q.zeroPoints !== null) await this.sink.add(names.zp, [V, q.zeroPoints.length / V], DT.UINT8, q.zeroPoints);
        const inputs = (ids: string): string[] => [names.data, ids, names.scales, ...(q.zeroPoints !== null ? [names.zp] : [])];
        const attrs = { bits, block_size: blockSize, gather_axis: 0, quantize_axis: 1 };
        lookup = (g, ids) => g.msNode("GatherBlockQuantized", inputs(ids), attrs, [g.fresh("GatherBlockQuantized")])[0];
      } else {
        const kind = storage.kind as FloatStorage;
        const { bytes, type } = floatBytes(table, kind);
        await this.sink.add(name, [V, H], type, bytes);
        lookup = (g, ids) => {
          const rows = g.op("Gather", [name, ids], { axis: 0 });
          return kind === "fp32" ? rows : g.cast(rows, DT.FLOAT);
        };
      }
      this.tensorDone(name);
      return lookup;
    });
  }
}
