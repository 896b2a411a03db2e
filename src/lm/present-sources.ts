/**
 * The KV cache's new positions read where they enter the cache, so no layer's `present` output has to outlive
 * its attention.
 *
 * In a standard-attention export each `present.{i}.key / .value` is Concat(past, new) along the slot axis (or a
 * float16 Cast of it). ONNX Runtime keeps every graph output until the run ends, so all layers' concatenations
 * (a whole copy of the cache, 0.4 GB at 8 x 5 rows on the Llama-3.2-1B shape, 1.7 GB at 8B) were alive together
 * while the read-out sliced the new slot off them. Here the graph-output entries of the presents are renamed (a
 * fresh name of the same byte length written over the old one: no length prefix changes, nothing re-encoded), so
 * the concatenations become intermediates ONNX Runtime frees layer by layer, and the read-out defines the renamed
 * outputs from the Concat's second input: every position of the prompt at prefill (the past is empty), the new
 * token's slot at a step. Graphs whose presents come from elsewhere (merged decoders' If, GroupQueryAttention)
 * are left as they are.
 */
import { freshName, producers, type NodeInfo } from "./last-position-logits.js";
import { fields, mainGraphEntries, Reader } from "./onnx-scan.js";

/** Where one layer's new keys or values come from, and the graph output that will carry them. */
export interface PresentSource {
  /** The present output (`present.0.key`), an intermediate once demoted. */
  readonly present: string;
  /** The tensor Concat appends to the past: [batch, kv_heads, new positions, head_dim], float32. */
  readonly source: string;
  /** ONNX element type of the present (a float16 present gets a Cast of the source). */
  readonly elemType: number;
  /** The renamed graph output (same byte length as `present`) the read-out defines from `source`. */
  readonly output: string;
  /** Byte range of the present's name in its graph-output entry. */
  readonly at: number;
}

/** The Concat whose output is `present` (directly, or through the Cast of a float16 cache), or null. */
function concatOf(byOutput: ReadonlyMap<string, NodeInfo>, present: string): NodeInfo | null {
  let node = byOutput.get(present);
  if (node?.op === ":Cast") node = byOutput.get(node.inputs[0]?.name ?? "");
  return node?.op === ":Concat" && node.inputs.length === 2 ? node : null;
}

/** Byte offset of each graph output's name (main graph). */
function outputNameOffsets(bytes: Uint8Array): Map<string, number> {
  const at = new Map<string, number>();
  const model = new Reader(bytes);
  for (const info of mainGraphEntries(model, 12)) {
    for (const [f, , name] of fields(model.sub(info))) if (f === 1 && name) at.set(model.string(name), name[0]);
  }
  return at;
}

/** The sources of every present, or null when any present is not a Concat of past and new (nothing is demoted). */
export function findPresentSources(bytes: Uint8Array, presents: readonly { name: string; elemType: number }[]): PresentSource[] | null {
  if (presents.length === 0) return null;
  try {
    const byOutput = producers(bytes);
    const offsets = outputNameOffsets(bytes);
    const taken = new Set<string>();
    const sources: PresentSource[] = [];
    for (const [i, p] of presents.entries()) {
      const concat = concatOf(byOutput, p.name);
      const at = offsets.get(p.name);
      const output = freshName(bytes, Buffer.byteLength(p.name), `syncabel_kv${i}_`, taken);
      if (concat === null || at === undefined || output === null) return null;
      taken.add(output);
      sources.push({ present: p.name, source: concat.inputs[1].name, elemType: p.elemType, output, at });
    }
    return sources;
  } catch {
    return null; // Unreadable here: the runtime's own load reports the file's problem.
  }
}

/** Rename the presents' graph-output entries in `bytes` (a copy of the file's bytes) to their `output` names. */
export function demotePresents(bytes: Uint8Array, sources: readonly PresentSource[]): void {
  const encoder = new TextEncoder();
  for (const s of sources) bytes.set(encoder.encode(s.output), s.at);
}
