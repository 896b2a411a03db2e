/**
 * TokenTrie vs the naive nested-Map trie on n synthetic Spanish-like clinical names tokenised with the real
 * Llama-3 tokenizer (` es {name}` + EOS, the per-group candidate sequences of constrained decoding).
 *
 *   node --expose-gc --import tsx bench/trie.bench.ts [n]      (or: npx tsx --expose-gc bench/trie.bench.ts [n])
 *
 * Prints one JSON object. Memory: TokenTrie = its serialised size (== its in-memory arrays); Map trie = growth
 * of `heapUsed` across its build, measured after `global.gc()` (reported as `gcAvailable`; without
 * --expose-gc the figure is noisier). Load: TokenTrie = read the bytes file + `fromBytes`; Map trie = read a
 * JSON file of the token sequences + `JSON.parse` + rebuild (what loading a pickled/JSON trie amounts to).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import { writeTestTokenizer } from "../src/testing/test-tokenizer.js";
import { IntBuffer } from "../src/trie/int-buffer.js";
import { MapTrie } from "../src/trie/map-trie.js";
import { TokenTrie } from "../src/trie/token-trie.js";
import { mulberry32 as rng } from "../src/util/random.js";


const STEMS = ["cardi", "gastr", "neur", "hepat", "nefr", "oste", "derm", "arteri", "bronqu", "colec", "pancre", "mielo", "encefal", "linf", "trombo", "angi", "esplen", "cist", "rin", "otor", "oftalm", "hemat", "mio", "artr", "col", "tiroid", "adeno", "fibr", "lipo", "quer"];
const SUFFIXES = ["itis", "osis", "algia", "oma", "ectomía", "patía", "grafía", "scopia", "plastia", "emia", "ólisis", "ostomía", "megalia", "rragia", "ismo", "al", "ico", "ía"];
const SYLLABLES = ["ca", "lo", "mi", "ra", "ne", "to", "sa", "pu", "ri", "ve", "gu", "ce", "do", "ma", "ti", "que", "bra", "zo", "ña", "li", "fe", "no", "cu", "per", "tan", "sal", "mor"];
const LINKS = ["de", "del", "de la", "con", "sin", "por", "en", "y"];
const ADJECTIVES = ["agudo", "crónico", "izquierdo", "derecho", "bilateral", "primario", "secundario", "congénito", "maligno", "benigno", "grave", "leve", "recurrente", "difuso", "focal", "superior", "inferior", "posterior", "anterior", "distal"];

/** Seeded generator of Spanish-like clinical names of 2-8 words. */
export function* spanishLikeNames(n: number, seed = 42): Generator<string> {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const word = (): string => {
    const r = rand();
    if (r < 0.45) return pick(STEMS) + pick(SUFFIXES);
    if (r < 0.7) return pick(ADJECTIVES);
    let w = "";
    for (let k = 2 + Math.floor(rand() * 3); k > 0; k--) w += pick(SYLLABLES);
    return w;
  };
  for (let i = 0; i < n; i++) {
    const words = 2 + Math.floor(rand() * 7);
    const parts = [word()];
    while (parts.length < words) parts.push(rand() < 0.25 && parts.length < words - 1 ? pick(LINKS) : word());
    yield parts.join(" ");
  }
}

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

function* views(flat: Int32Array, offsets: Int32Array): Generator<Int32Array> {
  for (let i = 0; i + 1 < offsets.length; i++) yield flat.subarray(offsets[i], offsets[i + 1]);
}

export async function benchTrie(nNames = 1_000_000): Promise<Record<string, number>> {
  const work = mkdtempSync(join(tmpdir(), "syncabel-trie-bench-"));
  try {
    const tokDir = join(work, "tokenizer");
    mkdirSync(tokDir);
    writeTestTokenizer(tokDir);
    const tokenizer = await loadTokenizer(tokDir);

    // Tokenise into one flat buffer (no per-name arrays kept alive).
    let t = performance.now();
    const flatBuf = new IntBuffer(nNames * 12);
    const offBuf = new IntBuffer(nNames + 1);
    offBuf.push(0);
    for (const name of spanishLikeNames(nNames)) {
      for (const id of tokenizer.encode(` es ${name}`, { addSpecialTokens: false })) flatBuf.push(id);
      flatBuf.push(tokenizer.eosTokenId);
      offBuf.push(flatBuf.length);
    }
    const flat = flatBuf.toArray();
    const offsets = offBuf.toArray();
    const tokenizeSeconds = (performance.now() - t) / 1000;

    // TokenTrie: build, serialise, load from disk.
    t = performance.now();
    const trie = TokenTrie.build(views(flat, offsets));
    const tokenTrieBuildSeconds = (performance.now() - t) / 1000;
    const bytesPath = join(work, "trie.bin");
    writeFileSync(bytesPath, trie.toBytes());
    t = performance.now();
    const loaded = TokenTrie.fromBytes(readFileSync(bytesPath));
    const tokenTrieLoadSeconds = (performance.now() - t) / 1000;
    const tokenTrieBytes = loaded.byteLength;

    // Map trie: heap growth across its build.
    const before = heapAfterGc();
    t = performance.now();
    let mapTrie: MapTrie | undefined = MapTrie.build(views(flat, offsets));
    const mapTrieBuildSeconds = (performance.now() - t) / 1000;
    const mapTrieHeapBytes = heapAfterGc() - before;
    const mapNodes = mapTrie.nodeCount;
    const mapSequences = mapTrie.sequenceCount;
    mapTrie = undefined;

    // Map trie load: JSON of the sequences -> parse -> rebuild.
    const jsonPath = join(work, "sequences.json");
    {
      const parts: string[] = [];
      for (const v of views(flat, offsets)) parts.push(`[${v.join(",")}]`);
      writeFileSync(jsonPath, `[${parts.join(",")}]`);
    }
    heapAfterGc();
    t = performance.now();
    const reloaded = MapTrie.build(JSON.parse(readFileSync(jsonPath, "utf8")) as number[][]);
    const mapTrieLoadSeconds = (performance.now() - t) / 1000;
    if (reloaded.nodeCount !== loaded.nodeCount || mapNodes !== loaded.nodeCount || mapSequences !== loaded.sequenceCount) {
      throw new Error("bench: the two tries disagree on their size");
    }

    return {
      names: nNames,
      distinctSequences: loaded.sequenceCount,
      tokens: flat.length,
      nodes: loaded.nodeCount,
      gcAvailable: typeof (globalThis as { gc?: unknown }).gc === "function" ? 1 : 0,
      tokenizeSeconds,
      tokenTrieBuildSeconds,
      tokenTrieLoadSeconds,
      tokenTrieBytes,
      tokenTrieBytesPerName: tokenTrieBytes / nNames,
      mapTrieBuildSeconds,
      mapTrieLoadSeconds,
      mapTrieHeapBytes,
      mapTrieBytesPerName: mapTrieHeapBytes / nNames,
      mapToTokenTrieMemoryRatio: mapTrieHeapBytes / tokenTrieBytes,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = process.argv[2] === undefined ? 1_000_000 : Number(process.argv[2]);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write("usage: trie.bench.ts [number of names]\n");
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(await benchTrie(n), null, 2)}\n`);
}
