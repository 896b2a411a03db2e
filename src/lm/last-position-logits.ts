/**
 * Logits of the last prompt position only, for graphs that compute every position's (plain Optimum and
 * torch.onnx exports: logits [batch, sequence, vocab]). Only the last position is ever read, and at a 128k
 * vocabulary the others cost one lm_head row per prompt token: for a small model, prefill was mostly that, and
 * it does not batch away (compute-bound per row).
 *
 * The lm_head (the MatMul / MatMulNBits that `logits` comes from, through Cast / Identity) gets a new input name
 * of the same byte length, written over the old one in the file's bytes, so no length prefix changes and nothing
 * is re-encoded; the read-out fragment (src/lm/logit-readout.ts) defines that name as the hidden states' last
 * position. Graphs whose lm_head is elsewhere (inside a merged decoder's If branches) are left as they are.
 */
import { fields, mainGraphEntries, Reader } from "./onnx-scan.js";

/** Where the lm_head's hidden-state input name sits in the file and what to rename it to. */
export interface LmHeadInput {
  /** The hidden states [batch, positions, hidden] the lm_head reads. */
  readonly hidden: string;
  /** Byte offset and length of that name inside the lm_head's NodeProto. */
  readonly at: number;
  readonly length: number;
  /** The new name (same byte length, found nowhere in the file). */
  readonly sliced: string;
}

export interface NodeInfo {
  readonly op: string;
  readonly inputs: { readonly name: string; readonly range: [number, number] }[];
}

const PASS_THROUGH = new Set([":Cast", ":Identity"]);
const LM_HEAD = new Set([":MatMul", "com.microsoft:MatMulNBits"]);

function readNode(r: Reader): { node: NodeInfo; outputs: string[] } {
  let op = "";
  let domain = "";
  const inputs: NodeInfo["inputs"] = [];
  const outputs: string[] = [];
  for (const [field, , range] of fields(r)) {
    if (!range) continue;
    if (field === 1) inputs.push({ name: r.string(range), range });
    else if (field === 2) outputs.push(r.string(range));
    else if (field === 4) op = r.string(range);
    else if (field === 7) domain = r.string(range);
  }
  return { node: { op: `${domain === "ai.onnx" ? "" : domain}:${op}`, inputs }, outputs };
}

/** The producer of every output of the main graph's nodes (subgraphs are not entered). */
export function producers(bytes: Uint8Array): Map<string, NodeInfo> {
  const byOutput = new Map<string, NodeInfo>();
  const model = new Reader(bytes);
  for (const nodeRange of mainGraphEntries(model, 1)) {
    const { node, outputs } = readNode(model.sub(nodeRange));
    for (const o of outputs) byOutput.set(o, node);
  }
  return byOutput;
}

/**
 * A tensor name of `length` bytes that occurs nowhere in the file (so it cannot clash with any name) and is not
 * in `taken` (names handed out before, not yet written).
 */
export function freshName(bytes: Uint8Array, length: number, base = "syncabel_last_hidden", taken: ReadonlySet<string> = new Set()): string | null {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < 64; i++) {
    const stem = i === 0 ? base : `${base}${i}`;
    const name = length >= stem.length ? stem + "_".repeat(length - stem.length) : `s${i}_${"x".repeat(Math.max(0, length - 2 - String(i).length))}`;
    if (name.length === length && name.length >= 4 && !taken.has(name) && buf.indexOf(name) < 0) return name;
  }
  return null;
}

/** The lm_head's hidden-state input of a graph whose `logits` output has every position, or null. */
export function findLmHeadInput(bytes: Uint8Array, logitsName = "logits"): LmHeadInput | null {
  let byOutput: Map<string, NodeInfo>;
  try {
    byOutput = producers(bytes);
  } catch {
    return null; // Unreadable here: the runtime's own load reports the file's problem.
  }
  let node = byOutput.get(logitsName);
  for (let hops = 0; node && PASS_THROUGH.has(node.op) && hops < 4; hops++) node = byOutput.get(node.inputs[0]?.name ?? "");
  if (!node || !LM_HEAD.has(node.op) || node.inputs.length < 2) return null;
  const input = node.inputs[0];
  const length = input.range[1] - input.range[0];
  const sliced = freshName(bytes, length);
  return sliced === null ? null : { hidden: input.name, at: input.range[0], length, sliced };
}

/** Make the lm_head read `lm.sliced`: the name is written over the old one in `bytes` (same length). */
export function renameLmHeadInput(bytes: Uint8Array, lm: LmHeadInput): void {
  bytes.set(new TextEncoder().encode(lm.sliced), lm.at);
}
