/**
 * An immutable prefix trie over token-id sequences in three flat arrays (about 8 bytes per node, no objects):
 *
 *  - nodes are numbered in breadth-first order, children of a node in increasing token order, so the children
 *    of every node are consecutive and the edges, listed node by node, lead to nodes 1, 2, 3, ...:
 *    edge e ends at node e + 1 (no child-node array is needed);
 *  - `childStart[n] .. childStart[n + 1]` is node n's range of edges; `edgeTokens[e]` is edge e's token,
 *    sorted within a range (binary search);
 *  - `complete` is a bit set: node n ends a stored sequence.
 *
 * Serialised form (little-endian): a 32-byte header (magic "SYTR", format version, node count, sequence count,
 * edge count, size of the bit set, checksum, 0) then childStart, edgeTokens and the bit set padded to 4 bytes.
 * `fromBytes` makes views straight onto the bytes when they are 4-byte aligned (zero copy).
 */
import { SyncabelError } from "../errors.js";
import { IntBuffer } from "./int-buffer.js";

const MAGIC = 0x52545953; // "SYTR" read as a little-endian u32
export const TOKEN_TRIE_FORMAT_VERSION = 1;
const HEADER_BYTES = 32;
const EMPTY = new Int32Array(0);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** FNV-1a style hash over the int32 values then the bit-set bytes (independent of host endianness). */
function checksum(childStart: Int32Array, edgeTokens: Int32Array, complete: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < childStart.length; i++) h = Math.imul(h ^ childStart[i], 0x01000193);
  for (let i = 0; i < edgeTokens.length; i++) h = Math.imul(h ^ edgeTokens[i], 0x01000193);
  for (let i = 0; i < complete.length; i++) h = Math.imul(h ^ complete[i], 0x01000193);
  return h >>> 0;
}

function corrupt(problem: string): SyncabelError {
  return new SyncabelError("TRIE_INVALID", `token trie bytes are invalid: ${problem}`);
}

/** Int32 values at `offset`: a view when aligned on a little-endian host, else a decoded copy. */
function int32At(bytes: Uint8Array, offset: number, count: number): Int32Array {
  const at = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && at % 4 === 0) return new Int32Array(bytes.buffer, at, count);
  const view = new DataView(bytes.buffer, at, count * 4);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
  return out;
}

export class TokenTrie {
  /** Node id of the empty prefix. */
  readonly root = 0;

  private constructor(
    private readonly childStart: Int32Array,
    private readonly edgeTokens: Int32Array,
    private readonly complete: Uint8Array,
    readonly sequenceCount: number,
  ) {}

  get nodeCount(): number {
    return this.childStart.length - 1;
  }

  /** Size of the serialised form (`toBytes().length`); the in-memory arrays are the same size. */
  get byteLength(): number {
    return HEADER_BYTES + 4 * (this.childStart.length + this.edgeTokens.length) + pad4(this.complete.length);
  }

  /** Build from sequences of non-negative integer token ids (duplicates are stored once). */
  static build(sequences: Iterable<ArrayLike<number>>): TokenTrie {
    // Flatten (one Int32 buffer + offsets), then sort the sequences: siblings become contiguous runs.
    const flat = new IntBuffer(1 << 16);
    const offsets = new IntBuffer(1 << 12);
    offsets.push(0);
    for (const seq of sequences) {
      for (let i = 0; i < seq.length; i++) {
        const t = seq[i];
        if (!Number.isInteger(t) || t < 0 || t > 0x7fffffff) {
          throw new SyncabelError("TRIE_BUILD_FAILED", `token ${String(t)} at position ${i} of sequence ${offsets.length - 1} is not a non-negative int32`);
        }
        flat.push(t);
      }
      offsets.push(flat.length);
    }
    const tokens = flat.view();
    const off = offsets.view();
    const m = offsets.length - 1;
    const order = new Int32Array(m);
    for (let i = 0; i < m; i++) order[i] = i;
    order.sort((a, b) => {
      let i = off[a];
      let j = off[b];
      const ie = off[a + 1];
      const je = off[b + 1];
      for (; i < ie && j < je; i++, j++) {
        const d = tokens[i] - tokens[j];
        if (d !== 0) return d;
      }
      return ie - i - (je - j);
    });

    // Breadth-first, level by level: each node of a level is a run [start, end) of `order` sharing its prefix.
    const childStart = new IntBuffer(m + 16);
    const edgeTokens = new IntBuffer(m + 16);
    const completeNodes = new IntBuffer();
    let levelStart = new IntBuffer();
    let levelEnd = new IntBuffer();
    levelStart.push(0);
    levelEnd.push(m);
    let node = 0;
    for (let depth = 0; levelStart.length > 0; depth++) {
      const nextStart = new IntBuffer(levelStart.length * 2);
      const nextEnd = new IntBuffer(levelStart.length * 2);
      for (let k = 0; k < levelStart.length; k++, node++) {
        childStart.push(edgeTokens.length);
        let i = levelStart.get(k);
        const end = levelEnd.get(k);
        // Sequences ending here sort first within the run.
        let ends = false;
        while (i < end && off[order[i] + 1] - off[order[i]] === depth) {
          ends = true;
          i++;
        }
        if (ends) completeNodes.push(node);
        while (i < end) {
          const tok = tokens[off[order[i]] + depth];
          let j = i + 1;
          while (j < end && tokens[off[order[j]] + depth] === tok) j++;
          edgeTokens.push(tok);
          nextStart.push(i);
          nextEnd.push(j);
          i = j;
        }
      }
      levelStart = nextStart;
      levelEnd = nextEnd;
    }
    childStart.push(edgeTokens.length);
    const complete = new Uint8Array(Math.ceil(node / 8));
    for (let k = 0; k < completeNodes.length; k++) {
      const n = completeNodes.get(k);
      complete[n >> 3] |= 1 << (n & 7);
    }
    return new TokenTrie(childStart.toArray(), edgeTokens.toArray(), complete, completeNodes.length);
  }

  /** Child of `node` by `token`, or -1. */
  child(node: number, token: number): number {
    if (node < 0 || node >= this.nodeCount) return -1;
    const e = this.edgeTokens;
    let lo = this.childStart[node];
    let hi = this.childStart[node + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const t = e[mid];
      if (t === token) return mid + 1;
      if (t < token) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Sorted tokens that extend `node` (a view into the trie: do not modify it). */
  childTokens(node: number): Int32Array {
    if (node < 0 || node >= this.nodeCount) return EMPTY;
    return this.edgeTokens.subarray(this.childStart[node], this.childStart[node + 1]);
  }

  /** Whether `node` ends a stored sequence. */
  isCompleteNode(node: number): boolean {
    if (node < 0 || node >= this.nodeCount) return false;
    return (this.complete[node >> 3] & (1 << (node & 7))) !== 0;
  }

  /** Node of `prefix`, or -1 when no stored sequence starts with it. */
  walk(prefix: ArrayLike<number>, from: number = this.root): number {
    let node = from;
    for (let i = 0; i < prefix.length && node >= 0; i++) node = this.child(node, prefix[i]);
    return node;
  }

  /** Allowed next tokens after `prefix` (sorted view; empty when `prefix` is not a prefix or is a leaf). */
  next(prefix: ArrayLike<number>): Int32Array {
    return this.childTokens(this.walk(prefix));
  }

  /** Whether `prefix` is a whole stored sequence. */
  isComplete(prefix: ArrayLike<number>): boolean {
    return this.isCompleteNode(this.walk(prefix));
  }

  /** Every stored sequence, in token order (for tests and debugging; not for hot paths). */
  *sequences(): Generator<number[]> {
    const path: number[] = [];
    const self = this;
    function* visit(node: number): Generator<number[]> {
      if (self.isCompleteNode(node)) yield [...path];
      const start = self.childStart[node];
      const end = self.childStart[node + 1];
      for (let e = start; e < end; e++) {
        path.push(self.edgeTokens[e]);
        yield* visit(e + 1);
        path.pop();
      }
    }
    yield* visit(this.root);
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    const view = new DataView(out.buffer);
    const words = [MAGIC, TOKEN_TRIE_FORMAT_VERSION, this.nodeCount, this.sequenceCount, this.edgeTokens.length, this.complete.length, checksum(this.childStart, this.edgeTokens, this.complete), 0];
    words.forEach((w, i) => view.setUint32(i * 4, w, true));
    let at = HEADER_BYTES;
    for (const arr of [this.childStart, this.edgeTokens]) {
      if (LITTLE_ENDIAN) new Int32Array(out.buffer, at, arr.length).set(arr);
      else for (let i = 0; i < arr.length; i++) view.setInt32(at + i * 4, arr[i], true);
      at += arr.length * 4;
    }
    out.set(this.complete, at);
    return out;
  }

  /** Read `toBytes` output; views share `bytes` when aligned. Corrupt or foreign bytes throw TRIE_INVALID. */
  static fromBytes(bytes: Uint8Array): TokenTrie {
    if (bytes.length < HEADER_BYTES) throw corrupt(`${bytes.length} bytes, shorter than the header`);
    const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
    const word = (i: number): number => header.getUint32(i * 4, true);
    if (word(0) !== MAGIC) throw corrupt("bad magic (not a syncabel token trie)");
    if (word(1) !== TOKEN_TRIE_FORMAT_VERSION) throw corrupt(`format version ${word(1)}, expected ${TOKEN_TRIE_FORMAT_VERSION}`);
    const nodeCount = word(2);
    const sequenceCount = word(3);
    const edgeCount = word(4);
    const completeBytes = word(5);
    if (nodeCount < 1 || edgeCount !== nodeCount - 1 || completeBytes !== Math.ceil(nodeCount / 8)) throw corrupt("inconsistent counts");
    const expected = HEADER_BYTES + 4 * (nodeCount + 1 + edgeCount) + pad4(completeBytes);
    if (bytes.length !== expected) throw corrupt(`length ${bytes.length}, expected ${expected}`);
    const childStart = int32At(bytes, HEADER_BYTES, nodeCount + 1);
    const edgeTokens = int32At(bytes, HEADER_BYTES + 4 * (nodeCount + 1), edgeCount);
    const complete = bytes.subarray(HEADER_BYTES + 4 * (nodeCount + 1 + edgeCount), HEADER_BYTES + 4 * (nodeCount + 1 + edgeCount) + completeBytes);
    if (checksum(childStart, edgeTokens, complete) !== word(6)) throw corrupt("checksum mismatch");
    if (word(7) !== 0) throw corrupt("reserved header word is not zero");
    for (let i = HEADER_BYTES + 4 * (nodeCount + 1 + edgeCount) + completeBytes; i < bytes.length; i++) {
      if (bytes[i] !== 0) throw corrupt("padding is not zero");
    }
    // Structure (guards against a writer bug): ranges partition the edges, children come after their parent,
    // tokens are non-negative and strictly increasing within a range.
    if (childStart[0] !== 0 || childStart[nodeCount] !== edgeCount) throw corrupt("edge ranges do not cover the edges");
    for (let n = 0; n < nodeCount; n++) {
      const s = childStart[n];
      const e = childStart[n + 1];
      if (e < s || (e > s && s < n)) throw corrupt(`bad edge range at node ${n}`);
      for (let k = s; k < e; k++) {
        if (edgeTokens[k] < 0 || (k > s && edgeTokens[k] <= edgeTokens[k - 1])) throw corrupt(`unsorted tokens at node ${n}`);
      }
    }
    let ones = 0;
    for (let i = 0; i < complete.length; i++) for (let b = complete[i]; b !== 0; b &= b - 1) ones++;
    if (ones !== sequenceCount) throw corrupt("sequence count does not match the completion bits");
    return new TokenTrie(childStart, edgeTokens, complete, sequenceCount);
  }
}
