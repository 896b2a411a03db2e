/**
 * Reads the weights back out of an ONNX Llama export as Hugging Face tensors, for reference computations on
 * exactly the weights the graph uses (float16-rounded or quantized). Independent of the writer's conversion code:
 * it decodes the protobuf, the external data file and the com.microsoft.MatMulNBits blocks with plain loops, taking
 * K / N / bits / block_size from the nodes' attributes.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import onnxProto from "onnx-proto";
import { SyncabelError } from "../errors.js";
import { halfToFloat, type Float32Tensor } from "../convert/safetensors.js";
import type { LlamaConfig } from "../convert/llama-config.js";

const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type INodeProto = onnxProto.onnx.INodeProto;

interface RawTensor {
  readonly dims: number[];
  readonly dataType: number;
  readonly bytes: Uint8Array;
}

/** The bytes of an initializer, inline or in its external data file (`files` caches the files read). */
function tensorBytes(t: ITensorProto, dir: string, files: Map<string, Buffer>): Uint8Array {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
    const location = kv.get("location")!;
    let file = files.get(location);
    if (file === undefined) files.set(location, (file = readFileSync(join(dir, location))));
    const offset = Number(kv.get("offset") ?? 0);
    return file.subarray(offset, offset + Number(kv.get("length")));
  }
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  throw new SyncabelError("MODEL_CONFIG_INVALID", `initializer ${t.name} has no raw data`);
}

/** All nodes of a graph, If branches included. */
function allNodes(nodes: readonly INodeProto[]): INodeProto[] {
  const out: INodeProto[] = [];
  for (const n of nodes) {
    out.push(n);
    for (const a of n.attribute ?? []) if (a.g) out.push(...allNodes(a.g.node ?? []));
  }
  return out;
}

function toFloats(t: RawTensor): Float32Array {
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  if (t.dataType === onnx.TensorProto.DataType.FLOAT) return Float32Array.from({ length: t.bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
  if (t.dataType === onnx.TensorProto.DataType.FLOAT16) return Float32Array.from({ length: t.bytes.length / 2 }, (_, i) => halfToFloat(view.getUint16(i * 2, true)));
  throw new SyncabelError("MODEL_CONFIG_INVALID", `unexpected float initializer type ${t.dataType}`);
}

/**
 * The [N, K] matrix of a MatMulNBits node (or the [V, H] table of a GatherBlockQuantized node):
 * w[n][k] = (code - zero_point) * scale, codes low bits first.
 */
function dequantizeNBits(node: INodeProto, init: ReadonlyMap<string, RawTensor>): Float32Tensor {
  const attr = (name: string): number => Number(node.attribute!.find((a) => a.name === name)!.i);
  const gather = node.opType === "GatherBlockQuantized";
  const bits = attr("bits");
  const [bName, sName, zName] = gather ? [node.input![0], node.input![2], node.input![3]] : node.input!.slice(1);
  const N = gather ? init.get(bName)!.dims[0] : attr("N");
  const K = gather ? (init.get(bName)!.dims[1] * 8) / bits : attr("K");
  const block = attr("block_size");
  const b = init.get(bName)!.bytes;
  const scales = toFloats(init.get(sName)!);
  const zp = zName ? init.get(zName)!.bytes : null;
  const blocks = Math.ceil(K / block);
  const perByte = 8 / bits;
  const code = (bytes: Uint8Array, index: number): number => (bytes[Math.floor(index / perByte)] >> ((index % perByte) * bits)) & ((1 << bits) - 1);
  const zpPerRow = Math.ceil(blocks / perByte);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const blk = Math.floor(k / block);
      const z = zp ? code(zp.subarray(n * zpPerRow), blk) : 1 << (bits - 1);
      const q = code(b, (n * blocks + blk) * block + (k % block));
      out[n * K + k] = (q - z) * scales[n * blocks + blk];
    }
  }
  return { shape: [N, K], data: out };
}

/** (q - zero_point) * scale of a per-tensor int8 / uint8 initializer (onnxruntime quantize_dynamic). */
function dequantizeInt8(q: RawTensor, scale: RawTensor, zeroPoint: RawTensor): Float32Array {
  const signed = q.dataType === onnx.TensorProto.DataType.INT8;
  const value = (b: Uint8Array, i: number): number => (signed ? (b[i] << 24) >> 24 : b[i]);
  const s = toFloats(scale)[0];
  const z = value(zeroPoint.bytes, 0);
  return Float32Array.from({ length: q.bytes.length }, (_, i) => (value(q.bytes, i) - z) * s);
}

function transpose(t: Float32Tensor): Float32Tensor {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  return { shape: [cols, rows], data: out };
}

/**
 * The Hugging Face weights (name -> [out, in] etc.) an ONNX Llama export computes with. Packed QKV projections
 * (`model.layers.{l}.attn.qkv_proj.weight`) are split back into q/k/v; the vocabulary projection is always
 * returned as `lm_head.weight` (also for tied checkpoints).
 */
export function hfWeightsFromOnnx(modelPath: string, config: LlamaConfig): Map<string, Float32Tensor> {
  const model = onnx.ModelProto.decode(readFileSync(modelPath));
  const dir = dirname(modelPath);
  const init = new Map<string, RawTensor>();
  const files = new Map<string, Buffer>();
  for (const t of model.graph!.initializer ?? []) {
    init.set(t.name!, { dims: (t.dims ?? []).map(Number), dataType: t.dataType!, bytes: tensorBytes(t, dir, files) });
  }
  const out = new Map<string, Float32Tensor>();
  const add = (name: string, t: Float32Tensor): void => {
    const m = /^model\.layers\.(\d+)\.attn\.qkv_proj\.weight$/.exec(name);
    if (m === null) {
      out.set(name, t);
      return;
    }
    const sizes = [config.numAttentionHeads, config.numKeyValueHeads, config.numKeyValueHeads].map((h) => h * config.headDim);
    const K = t.shape[1];
    let row = 0;
    ["q_proj", "k_proj", "v_proj"].forEach((part, i) => {
      out.set(`model.layers.${m[1]}.self_attn.${part}.weight`, { shape: [sizes[i], K], data: t.data.slice(row * K, (row + sizes[i]) * K) });
      row += sizes[i];
    });
  };
  for (const node of allNodes(model.graph!.node ?? [])) {
    if (node.opType === "MatMulNBits") add(node.input![1].replace(/_Q\d$/, ""), dequantizeNBits(node, init));
    if (node.opType === "GatherBlockQuantized") add(node.input![0].replace(/_Q\d$/, ""), dequantizeNBits(node, init));
  }
  for (const [name, t] of init) {
    const dynamic = name.endsWith("_quantized");
    const hfName = name.replace(/_quantized$/, "");
    if (!hfName.startsWith("model.") && hfName !== "lm_head.weight") continue;
    if (/_(Q\d|scales|zero_points|scale|zero_point)$/.test(name)) continue;
    const tensor = { shape: t.dims, data: dynamic ? dequantizeInt8(t, init.get(`${hfName}_scale`)!, init.get(`${hfName}_zero_point`)!) : toFloats(t) };
    // MatMul weights are stored [in, out]; the embedding and norms keep the HF layout.
    const isMatMul = t.dims.length === 2 && hfName !== "model.embed_tokens.weight";
    add(hfName, isMatMul ? transpose(tensor) : tensor);
  }
  return out;
}
