/**
 * The compact form of one relation kind's graph, stored in the KB index as an artifact at build so opening the
 * hierarchy of a 10^6-concept KB reads one blob instead of hashing millions of code strings:
 * codes sorted (JavaScript string order, so lookups are a binary search), and each code's parents as a CSR pair of
 * Int32 arrays (parents of code i: parentIds[parentStart[i] .. parentStart[i + 1]), sorted, distinct).
 *
 * Layout (little-endian): "SYNCREL1", u32 codes, u32 edges, u32 bytes of the codes text; the codes joined by "\n"
 * (UTF-8), zero padding to 4 bytes; Int32 parentStart[codes + 1]; Int32 parentIds[edges].
 */
const MAGIC = "SYNCREL1";

export interface HierarchyCsr {
  readonly codes: readonly string[];
  readonly parentStart: Int32Array;
  readonly parentIds: Int32Array;
}

/** Artifact key of a relation kind's graph. */
export const hierarchyArtifactKey = (kind: string): string => `relations-csr:${kind}:v1`;

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The CSR of (child, parent) code pairs: codes sorted, parents of each code sorted and distinct, self edges dropped. */
export function csrFromEdges(edges: Iterable<readonly [string, string]>): HierarchyCsr {
  const ids = new Map<string, number>();
  const names: string[] = [];
  const children: number[] = [];
  const parents: number[] = [];
  const idOf = (code: string): number => {
    let id = ids.get(code);
    if (id === undefined) {
      id = names.length;
      ids.set(code, id);
      names.push(code);
    }
    return id;
  };
  for (const [child, parent] of edges) {
    if (child === parent) continue;
    children.push(idOf(child));
    parents.push(idOf(parent));
  }
  // Renumber in sorted order.
  const order = names.map((_, i) => i).sort((a, b) => byString(names[a], names[b]));
  const rank = new Int32Array(names.length);
  order.forEach((old, i) => (rank[old] = i));
  const n = names.length;
  const parentStart = new Int32Array(n + 1);
  for (const c of children) parentStart[rank[c] + 1]++;
  for (let v = 0; v < n; v++) parentStart[v + 1] += parentStart[v];
  const fill = parentStart.slice(0, n);
  const raw = new Int32Array(children.length);
  for (let e = 0; e < children.length; e++) raw[fill[rank[children[e]]]++] = rank[parents[e]];
  // Sort and de-duplicate each code's parents, compacting the arrays.
  const parentIds = new Int32Array(raw.length);
  let out = 0;
  for (let v = 0; v < n; v++) {
    const list = raw.subarray(parentStart[v], parentStart[v + 1]).sort();
    parentStart[v] = out;
    for (let k = 0; k < list.length; k++) if (k === 0 || list[k] !== list[k - 1]) parentIds[out++] = list[k];
  }
  parentStart[n] = out;
  return { codes: order.map((i) => names[i]), parentStart, parentIds: parentIds.slice(0, out) };
}

export function encodeHierarchy(csr: HierarchyCsr): Uint8Array {
  const text = Buffer.from(csr.codes.join("\n"), "utf8");
  const head = 8 + 12;
  const textEnd = head + text.length;
  const arraysAt = Math.ceil(textEnd / 4) * 4;
  const bytes = Buffer.alloc(arraysAt + 4 * (csr.parentStart.length + csr.parentIds.length));
  bytes.write(MAGIC, 0, "latin1");
  bytes.writeUInt32LE(csr.codes.length, 8);
  bytes.writeUInt32LE(csr.parentIds.length, 12);
  bytes.writeUInt32LE(text.length, 16);
  text.copy(bytes, head);
  let at = arraysAt;
  for (const v of csr.parentStart) at = bytes.writeInt32LE(v, at);
  for (const v of csr.parentIds) at = bytes.writeInt32LE(v, at);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Parse a stored graph; throws an Error saying what is wrong (the caller falls back to the relations table). */
export function decodeHierarchy(bytes: Uint8Array): HierarchyCsr {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 20 || buf.toString("latin1", 0, 8) !== MAGIC) throw new Error("not a hierarchy artifact");
  const n = buf.readUInt32LE(8);
  const edges = buf.readUInt32LE(12);
  const textBytes = buf.readUInt32LE(16);
  const arraysAt = Math.ceil((20 + textBytes) / 4) * 4;
  if (buf.length !== arraysAt + 4 * (n + 1 + edges)) throw new Error("hierarchy artifact of the wrong size");
  // One toString per code (not a split of the whole text): split gives strings that point into one big string,
  // and comparing those (the binary searches of every lookup) is several times slower.
  const codes: string[] = [];
  if (n > 0) {
    let from = 20;
    const end = 20 + textBytes;
    for (let i = 20; i <= end; i++) {
      if (i === end || buf[i] === 10) {
        codes.push(buf.toString("utf8", from, i));
        from = i + 1;
      }
    }
  }
  if (codes.length !== n) throw new Error("hierarchy artifact code count mismatch");
  // Copies: the source buffer may not be 4-byte aligned.
  const ints = new Int32Array(n + 1 + edges);
  for (let i = 0; i < ints.length; i++) ints[i] = buf.readInt32LE(arraysAt + 4 * i);
  const parentStart = ints.subarray(0, n + 1);
  const parentIds = ints.subarray(n + 1);
  if (parentStart[0] !== 0 || parentStart[n] !== edges) throw new Error("hierarchy artifact offsets are inconsistent");
  for (let v = 0; v < n; v++) if (parentStart[v + 1] < parentStart[v]) throw new Error("hierarchy artifact offsets are inconsistent");
  for (const p of parentIds) if (p < 0 || p >= n) throw new Error("hierarchy artifact parent out of range");
  for (let i = 1; i < n; i++) if (!(codes[i - 1] < codes[i])) throw new Error("hierarchy artifact codes are not sorted");
  return { codes, parentStart, parentIds };
}
