/**
 * A read-out appended to a causal LM's ONNX graph so the logits never leave the runtime whole. onnxruntime-node
 * copies every fetched output into a fresh JavaScript buffer; [rows, 128k] float logits per step made that copy
 * (and the page faults of the fresh memory) cost more than the forward pass of a small model. The read-out takes
 * the last position's logits inside the graph and returns only:
 *
 *   syncabel_logz         [batch, 1]  log-sum-exp of the row (LogSoftmax trick: logit[0] - logsoftmax[0])
 *   syncabel_picked       [batch, n]  the logits of the token ids fed in syncabel_pick [batch, n] (trie children)
 *   syncabel_top_logits / syncabel_top_ids  [batch, k]  TopK with k fed in syncabel_top_k [1]
 *   syncabel_last_logits  [batch, vocab] float32, when a caller wants the whole row
 *
 * It is added by appending a serialized ModelProto holding only these nodes to the file's bytes: protobuf merges
 * concatenated messages (repeated fields append), so the original graph is untouched and nothing is re-encoded.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

export const READOUT = {
  pick: "syncabel_pick",
  topK: "syncabel_top_k",
  logZ: "syncabel_logz",
  picked: "syncabel_picked",
  topLogits: "syncabel_top_logits",
  topIds: "syncabel_top_ids",
  lastLogits: "syncabel_last_logits",
} as const;

/** Serialized ModelProto fragment to append to a model whose output `logits` is [batch, positions, vocab] of `type`. */
export function logitReadoutBytes(logitsName: string, type: "float32" | "float16"): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const I64 = onnx.TensorProto.DataType.INT64;
  const { INT } = onnx.AttributeProto.AttributeType;
  const n = (name: string): string => `syncabel_readout_${name}`;
  const i64 = (name: string, values: number[], dims: number[]) => ({ name: n(name), dataType: I64, dims, int64Data: values });
  const node = (op: string, input: string[], output: string[], attrs: Record<string, number> = {}) => ({
    opType: op,
    name: n(`${op}_${output[0]}`),
    input,
    output,
    attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: INT, i })),
  });
  const info = (name: string, elemType: number, dims: (string | number)[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  });
  const last = type === "float16" ? n("last16") : READOUT.lastLogits;
  const model = onnx.ModelProto.create({
    graph: {
      initializer: [i64("minus_one", [-1], []), i64("zero", [0], [1]), i64("one", [1], [1])],
      node: [
        node("Gather", [logitsName, n("minus_one")], [last], { axis: 1 }),
        ...(type === "float16" ? [node("Cast", [last], [READOUT.lastLogits], { to: F })] : []),
        node("LogSoftmax", [READOUT.lastLogits], [n("log_probs")], { axis: -1 }),
        node("Slice", [READOUT.lastLogits, n("zero"), n("one"), n("one")], [n("first_logit")]),
        node("Slice", [n("log_probs"), n("zero"), n("one"), n("one")], [n("first_log_prob")]),
        node("Sub", [n("first_logit"), n("first_log_prob")], [READOUT.logZ]),
        node("GatherElements", [READOUT.lastLogits, READOUT.pick], [READOUT.picked], { axis: 1 }),
        node("TopK", [READOUT.lastLogits, READOUT.topK], [READOUT.topLogits, READOUT.topIds], { axis: -1, largest: 1, sorted: 1 }),
      ],
      input: [info(READOUT.pick, I64, ["batch_size", "picked"]), info(READOUT.topK, I64, [1])],
      output: [
        info(READOUT.logZ, F, ["batch_size", 1]),
        info(READOUT.picked, F, ["batch_size", "picked"]),
        info(READOUT.topLogits, F, ["batch_size", "top_k"]),
        info(READOUT.topIds, I64, ["batch_size", "top_k"]),
        info(READOUT.lastLogits, F, ["batch_size", "vocab"]),
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
