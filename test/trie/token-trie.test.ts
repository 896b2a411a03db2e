import { describe, expect, it } from "vitest";
import { MapTrie } from "../../src/trie/map-trie.js";
import { TokenTrie } from "../../src/trie/token-trie.js";
import { mulberry32 as rng } from "../../src/util/random.js";


/** Random sequences over a small alphabet, so prefixes are shared, some sequences are prefixes of others. */
function randomSequences(seed: number): number[][] {
  const rand = rng(seed);
  const alphabet = 1 + Math.floor(rand() * 6);
  const big = rand() < 0.3; // large token ids (Llama-3 range)
  const n = Math.floor(rand() * 80);
  const seqs: number[][] = [];
  for (let i = 0; i < n; i++) {
    if (seqs.length > 0 && rand() < 0.15) {
      const s = seqs[Math.floor(rand() * seqs.length)];
      seqs.push(rand() < 0.5 ? [...s] : s.slice(0, Math.floor(rand() * s.length))); // duplicate or prefix
      continue;
    }
    const len = Math.floor(rand() * 9);
    seqs.push(Array.from({ length: len }, () => Math.floor(rand() * alphabet) * (big ? 25_013 : 1)));
  }
  return seqs;
}

/** Every prefix of every sequence, plus random probes that are mostly not prefixes. */
function probes(seqs: readonly number[][], seed: number): number[][] {
  const rand = rng(seed);
  const out: number[][] = [[]];
  for (const s of seqs) for (let k = 0; k <= s.length; k++) out.push(s.slice(0, k));
  for (let i = 0; i < 50; i++) out.push(Array.from({ length: Math.floor(rand() * 6) }, () => Math.floor(rand() * 8)));
  return out;
}

function expectSameAsOracle(trie: TokenTrie, oracle: MapTrie, seqs: readonly number[][], seed: number): void {
  expect(trie.sequenceCount).toBe(oracle.sequenceCount);
  expect(trie.nodeCount).toBe(oracle.nodeCount);
  for (const p of probes(seqs, seed)) {
    expect([...trie.next(p)], `next(${p})`).toEqual(oracle.next(p));
    expect(trie.isComplete(p), `isComplete(${p})`).toBe(oracle.isComplete(p));
    const node = trie.walk(p);
    // Walking token by token with child() agrees with walk().
    let step = trie.root;
    for (const t of p) step = trie.child(step, t);
    expect(step).toBe(node);
  }
}

describe("TokenTrie vs the nested-Map trie", () => {
  it("agrees on every prefix of random sequence sets", () => {
    for (let seed = 1; seed <= 150; seed++) {
      const seqs = randomSequences(seed);
      const trie = TokenTrie.build(seqs);
      expectSameAsOracle(trie, MapTrie.build(seqs), seqs, seed);
      // The stored set is exactly the distinct input sequences.
      const distinct = [...new Set(seqs.map((s) => JSON.stringify(s)))].sort();
      expect([...trie.sequences()].map((s) => JSON.stringify(s)).sort()).toEqual(distinct);
    }
  });

  it("handles the empty set, the empty sequence, and input given as typed arrays", () => {
    const empty = TokenTrie.build([]);
    expect(empty.sequenceCount).toBe(0);
    expect(empty.nodeCount).toBe(1);
    expect([...empty.next([])]).toEqual([]);
    expect(empty.isComplete([])).toBe(false);
    const withEmpty = TokenTrie.build([[], [3]]);
    expect(withEmpty.isComplete([])).toBe(true);
    expect([...withEmpty.next([])]).toEqual([3]);
    const typed = TokenTrie.build([Int32Array.of(5, 1), Int32Array.of(5, 0)]);
    expect([...typed.next([5])]).toEqual([0, 1]);
    expect(typed.child(typed.root, 4)).toBe(-1);
    expect(typed.child(-1, 5)).toBe(-1);
    expect(typed.walk([5, 1, 9])).toBe(-1);
    expect([...typed.next([7])]).toEqual([]);
  });

  it("rejects tokens that are not non-negative integers", () => {
    expect(() => TokenTrie.build([[1, -2]])).toThrow(expect.objectContaining({ code: "TRIE_BUILD_FAILED" }));
    expect(() => TokenTrie.build([[1.5]])).toThrow(expect.objectContaining({ code: "TRIE_BUILD_FAILED" }));
  });

  it("childTokens is a view, not a copy", () => {
    const trie = TokenTrie.build([[1, 2], [1, 3], [4]]);
    const a = trie.childTokens(trie.walk([1]));
    const b = trie.childTokens(trie.walk([1]));
    expect([...a]).toEqual([2, 3]);
    expect(a.buffer).toBe(b.buffer);
    expect(a.buffer).toBe(trie.childTokens(trie.root).buffer);
  });
});

describe("TokenTrie bytes", () => {
  it("round-trips through toBytes/fromBytes, aligned (zero copy) and unaligned", () => {
    for (let seed = 200; seed < 240; seed++) {
      const seqs = randomSequences(seed);
      const trie = TokenTrie.build(seqs);
      const bytes = trie.toBytes();
      expect(bytes.length).toBe(trie.byteLength);
      const back = TokenTrie.fromBytes(bytes);
      expectSameAsOracle(back, MapTrie.build(seqs), seqs, seed);
      // Zero copy: the loaded trie's arrays live in the given buffer.
      if (back.nodeCount > 1) expect(back.childTokens(back.root).buffer).toBe(bytes.buffer);
      // Unaligned: the same bytes at offset 1 of a larger buffer.
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      const unaligned = TokenTrie.fromBytes(shifted.subarray(1));
      expectSameAsOracle(unaligned, MapTrie.build(seqs), seqs, seed);
      expect(unaligned.toBytes()).toEqual(bytes);
    }
  });

  it("rejects every single corrupted byte, truncation and foreign bytes with TRIE_INVALID", () => {
    const trie = TokenTrie.build([[10, 20, 30], [10, 21], [11], [10, 20]]);
    const bytes = trie.toBytes();
    const invalid = expect.objectContaining({ code: "TRIE_INVALID" });
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i] ^= 0x41;
      expect(() => TokenTrie.fromBytes(bad), `byte ${i}`).toThrow(invalid);
    }
    expect(() => TokenTrie.fromBytes(bytes.subarray(0, bytes.length - 4))).toThrow(invalid);
    expect(() => TokenTrie.fromBytes(new Uint8Array(10))).toThrow(invalid);
    expect(() => TokenTrie.fromBytes(new TextEncoder().encode("x".repeat(200)))).toThrow(invalid);
  });
});
