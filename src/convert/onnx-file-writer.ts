/**
 * Writes one ONNX model file whose weights stream through a StreamingWeightWriter: the graph is built while each
 * tensor is converted and appended to `<model>_data` (or put back inline below the threshold), then the ModelProto
 * is encoded and both files are renamed into place (data first, so a new .onnx never refers to a missing file).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import onnxProto from "onnx-proto";
import { tempPathFor, writeAll } from "../io/atomic-write.js";
import { MS_DOMAIN, type GraphBuilder, type IValueInfoProto } from "./onnx-graph-builder.js";
import { StreamingWeightWriter } from "./onnx-weight-writer.js";

const { onnx } = onnxProto;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
/** Above this many bytes of weights the initializers stay in `model.onnx_data` (a protobuf cannot exceed 2 GB). */
export const DEFAULT_EXTERNAL_DATA_THRESHOLD = 1.5e9;

export interface WriteOnnxResult {
  readonly modelPath: string;
  /** Path of the external data file, or null when the weights are inside the .onnx file. */
  readonly externalDataPath: string | null;
  readonly weightBytes: number;
}

/** What a builder hands back: the graph and its declared interface. */
export interface BuiltGraph {
  readonly name: string;
  readonly graph: GraphBuilder;
  readonly inputs: readonly IValueInfoProto[];
  readonly outputs: readonly IValueInfoProto[];
  /** The graph uses com.microsoft operators (MatMulNBits, GroupQueryAttention...). */
  readonly usesMs: boolean;
  /** ModelProto metadata_props. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Build a graph against a streaming weight sink and write it to `modelPath` (+ `<modelPath>_data` above `threshold` bytes). */
export async function writeOnnxModelFile(modelPath: string, threshold: number, build: (sink: StreamingWeightWriter) => Promise<BuiltGraph>): Promise<WriteOnnxResult> {
  mkdirSync(dirname(modelPath), { recursive: true });
  const dataPath = join(dirname(modelPath), `${basename(modelPath)}_data`);
  const sink = new StreamingWeightWriter(dataPath);
  const tmp = tempPathFor(modelPath);
  try {
    const built = await build(sink);
    const external = sink.weightBytes > threshold;
    sink.finish(external);
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: "", version: ONNX_OPSET }, ...(built.usesMs ? [{ domain: MS_DOMAIN, version: 1 }] : [])],
      producerName: "syncabel",
      producerVersion: "1",
      graph: {
        name: built.name,
        node: built.graph.nodes,
        initializer: [...built.graph.smallInitializers, ...sink.initializers],
        input: [...built.inputs],
        output: [...built.outputs],
      },
      metadataProps: Object.entries(built.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    const bytes = onnx.ModelProto.encode(model).finish();
    const fd = openSync(tmp, "w");
    try {
      writeAll(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (external) sink.commit();
    else rmSync(dataPath, { force: true });
    renameSync(tmp, modelPath);
    return { modelPath, externalDataPath: external ? dataPath : null, weightBytes: sink.weightBytes };
  } catch (e) {
    sink.abort();
    rmSync(tmp, { force: true });
    throw e;
  }
}
