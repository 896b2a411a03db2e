/**
 * A read-out appended to a causal LM's ONNX graph so the logits never leave the runtime whole. onnxruntime-node
 * copies every fetched output into a fresh JavaScript buffer; [rows, 128k] float logits per step made that copy
 * (and the page faults of the fresh memory) cost more than the forward pass of a small model. The read-out works
 * on the last position's logits inside the graph and returns only:
 *
 *   syncabel_logz         [batch, 1]  log-sum-exp of the row (LogSoftmax trick: logit[0] - logsoftmax[0])
 *   syncabel_picked       [batch, n]  the logits of the token ids fed in syncabel_pick [batch, n] (trie children)
 *   syncabel_top_logits / syncabel_top_ids  [rows, k]  TopK with k fed in syncabel_top_k [1]
 *   syncabel_last_logits  [rows, vocab] float32 whole rows
 *   syncabel_new.present.{i}.key / .value  [batch, kv_heads, 1, head_dim]  the cache's last slot (the new token)
 *   or, for presents demoted (src/lm/present-sources.ts), their renamed outputs: the new positions of each layer
 *
 * where rows = batch when syncabel_rows [1] is fed 1, and 0 when fed 0: ONNX Runtime runs every node whatever is
 * fetched, so the copy of the last position's rows that TopK and whole rows need is made empty when unused. The
 * other outputs index the [batch, positions * vocab] view of the logits (a reshape, no copy).
 *
 * With `lastHidden`, the fragment also slices the hidden states' last position for an lm_head renamed to read it
 * (src/lm/last-position-logits.ts): positions is then 1 and the expressions below stay the same.
 *
 * It is added by appending a serialized ModelProto holding only these nodes to the file's bytes: protobuf merges
 * concatenated messages (repeated fields append), so the original graph is untouched and nothing is re-encoded.
 */
import onnxProto from "onnx-proto";
import type { PresentSource } from "./present-sources.js";

const { onnx } = onnxProto;

export const READOUT = {
  pick: "syncabel_pick",
  topK: "syncabel_top_k",
  rows: "syncabel_rows",
  logZ: "syncabel_logz",
  picked: "syncabel_picked",
  topLogits: "syncabel_top_logits",
  topIds: "syncabel_top_ids",
  lastLogits: "syncabel_last_logits",
} as const;

/** The read-out's output holding the last position of a present KV tensor (`present.0.key` -> its new slot). */
export function newSlotName(present: string): string {
  return `syncabel_new.${present}`;
}

/**
 * Serialized ModelProto fragment to append to a model whose output `logits` is [batch, positions, vocab] of `type`.
 * `presents` (name, ONNX element type) also get their last position as outputs [batch, kv_heads, 1, head_dim]: a
 * step then fetches the new token's keys and values instead of the whole cache again.
 */
export function logitReadoutBytes(
  logitsName: string,
  type: "float32" | "float16",
  presents: readonly { name: string; elemType: number }[] = [],
  /** Defines `sliced` as the last position of `hidden` (src/lm/last-position-logits.ts renames the lm_head's input). */
  lastHidden?: { readonly hidden: string; readonly sliced: string },
  /** Demoted presents (src/lm/present-sources.ts): their renamed outputs defined from the Concat's new input. */
  demoted: readonly PresentSource[] = [],
): Uint8Array {
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
  // float16 logits are read as float32 (a Cast of every position: half-precision exports only).
  const logits = type === "float16" ? n("logits32") : logitsName;
  const model = onnx.ModelProto.create({
    graph: {
      initializer: [i64("one", [1], []), i64("zero_1", [0], [1]), i64("one_1", [1], [1]), i64("two_1", [2], [1]), i64("flat", [0, -1], [2]), i64("end", [2 ** 53 - 1], [1]), i64("cell", [1, 1], [2]), i64("minus_one_1", [-1], [1])],
      node: [
        ...(type === "float16" ? [node("Cast", [logitsName], [logits], { to: F })] : []),
        // base = (positions - 1) * vocab: where the last position starts in a row of the flat view.
        node("Shape", [logits], [n("shape")]),
        node("Gather", [n("shape"), n("one")], [n("positions")], { axis: 0 }),
        node("Gather", [n("shape"), n("two_1")], [n("vocab")], { axis: 0 }),
        node("Sub", [n("positions"), n("one")], [n("last_position")]),
        node("Mul", [n("last_position"), n("vocab")], [n("base")]),
        node("Reshape", [logits, n("flat")], [n("flat_logits")]),
        node("Add", [READOUT.pick, n("base")], [n("pick_flat")]),
        node("GatherElements", [n("flat_logits"), n("pick_flat")], [READOUT.picked], { axis: 1 }),
        // logZ = logit[0] - logsoftmax[0] at the last position.
        node("LogSoftmax", [logits], [n("log_probs")], { axis: -1 }),
        node("Reshape", [n("log_probs"), n("flat")], [n("flat_log_probs")]),
        node("Reshape", [n("base"), n("cell")], [n("base_cell")]),
        node("Slice", [n("shape"), n("zero_1"), n("one_1")], [n("batch")]),
        node("Concat", [n("batch"), n("one_1")], [n("batch_by_one")], { axis: 0 }),
        node("Expand", [n("base_cell"), n("batch_by_one")], [n("first_index")]),
        node("GatherElements", [n("flat_logits"), n("first_index")], [n("first_logit")], { axis: 1 }),
        node("GatherElements", [n("flat_log_probs"), n("first_index")], [n("first_log_prob")], { axis: 1 }),
        node("Sub", [n("first_logit"), n("first_log_prob")], [READOUT.logZ]),
        // Whole last rows (and TopK over them) only when syncabel_rows is 1: positions - rows .. end.
        node("Sub", [n("positions"), READOUT.rows], [n("from")]),
        node("Slice", [logits, n("from"), n("end"), n("one_1")], [n("last_rows")]),
        node("Reshape", [n("last_rows"), n("minus_one_vocab")], [READOUT.lastLogits]),
        node("TopK", [READOUT.lastLogits, READOUT.topK], [READOUT.topLogits, READOUT.topIds], { axis: -1, largest: 1, sorted: 1 }),
        node("Concat", [n("minus_one_1"), n("vocab")], [n("minus_one_vocab")], { axis: 0 }),
        ...presents.map((p) => node("Slice", [p.name, n("minus_one_1"), n("end"), n("two_1")], [newSlotName(p.name)])),
        ...(lastHidden ? [node("Slice", [lastHidden.hidden, n("minus_one_1"), n("end"), n("one_1")], [lastHidden.sliced])] : []),
        ...demoted.map((d) => (d.elemType !== F ? node("Cast", [d.source], [d.output], { to: d.elemType }) : node("Identity", [d.source], [d.output]))),
      ],
      input: [info(READOUT.pick, I64, ["batch_size", "picked"]), info(READOUT.topK, I64, [1]), info(READOUT.rows, I64, [1])],
      output: [
        info(READOUT.logZ, F, ["batch_size", 1]),
        info(READOUT.picked, F, ["batch_size", "picked"]),
        info(READOUT.topLogits, F, ["read_rows", "top_k"]),
        info(READOUT.topIds, I64, ["read_rows", "top_k"]),
        info(READOUT.lastLogits, F, ["read_rows", "vocab"]),
        ...presents.map((p) => info(newSlotName(p.name), p.elemType, ["batch_size", "kv_heads", 1, "head_dim"])),
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
