import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/util/random.js";
import { charWbNgrams } from "../../src/lexical/char-ngrams.js";
import { LexicalIndex, type LexicalEntry } from "../../src/lexical/lexical-index.js";
import { sparseCosine } from "../../src/lexical/sparse.js";
import { TfidfCharVectorizer } from "../../src/lexical/tfidf-vectorizer.js";

/** Independent reference: scikit-learn char_wb semantics written out plainly, dense vectors. */
function refNgrams(text: string, n: number): string[] {
  const out: string[] = [];
  const words = text.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
  for (const w of words) {
    const chars = [...` ${w} `];
    let offset = 0;
    out.push(chars.slice(offset, offset + n).join(""));
    while (offset + n < chars.length) {
      offset += 1;
      out.push(chars.slice(offset, offset + n).join(""));
    }
  }
  return out;
}

function refModel(names: string[], n = 3) {
  const vocab = [...new Set(names.flatMap((x) => refNgrams(x, n)))].sort();
  const idf = vocab.map((f) => {
    const df = names.filter((x) => refNgrams(x, n).includes(f)).length;
    return Math.log((1 + names.length) / (1 + df)) + 1;
  });
  const vec = (text: string): number[] => {
    const grams = refNgrams(text, n);
    const v = vocab.map((f, i) => grams.filter((x) => x === f).length * idf[i]);
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return norm === 0 ? v : v.map((x) => x / norm);
  };
  const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  return { vocab, idf, vec, cos };
}

function randomNames(seed: number, count: number): string[] {
  const rnd = mulberry32(seed);
  const syllables = ["ca", "ro", "de", "ma", "ti", "sis", "ña", "A", "OS", "é", "lo", "pe", "ar", "x", "itis"];
  const word = () => Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => syllables[Math.floor(rnd() * syllables.length)]).join("");
  return Array.from({ length: count }, () => Array.from({ length: 1 + Math.floor(rnd() * 3) }, word).join(rnd() < 0.2 ? "  " : " "));
}

describe("char_wb n-grams", () => {
  it("pads each word with one space and keeps short words whole", () => {
    expect(charWbNgrams("Ab  cd", 3)).toEqual([" ab", "ab ", " cd", "cd "]);
    expect(charWbNgrams("a", 3)).toEqual([" a "]);
    expect(charWbNgrams("", 3)).toEqual([]);
    expect(charWbNgrams("tos", 3)).toEqual([" to", "tos", "os "]);
  });

  it("counts code points, not UTF-16 units", () => {
    expect(charWbNgrams("a𝛼b", 3)).toEqual([" a𝛼", "a𝛼b", "𝛼b "]);
  });

  it("matches the reference analyzer on random names", () => {
    for (const name of randomNames(3, 200)) expect(charWbNgrams(name, 3)).toEqual(refNgrams(name, 3));
  });
});

describe("TfidfCharVectorizer", () => {
  it("matches a dense brute-force TF-IDF (smooth idf, raw tf, L2) on random names", () => {
    const names = randomNames(11, 120);
    const ref = refModel(names);
    const v = TfidfCharVectorizer.fit(names);
    expect(v.features).toEqual(ref.vocab);
    ref.idf.forEach((x, i) => expect(v.idf[i]).toBeCloseTo(x, 12));
    const queries = [...names.slice(0, 20), ...randomNames(12, 20), "zzz qqq"];
    for (const q of queries) {
      const dense = ref.vec(q);
      const sparse = v.transform(q);
      const back = new Array<number>(dense.length).fill(0);
      sparse.indices.forEach((f, i) => (back[f] = sparse.values[i]));
      back.forEach((x, i) => expect(x).toBeCloseTo(dense[i], 12));
      for (const other of names.slice(20, 30)) {
        expect(v.similarity(q, other)).toBeCloseTo(ref.cos(dense, ref.vec(other)), 12);
        expect(sparseCosine(sparse, v.transform(other))).toBeCloseTo(ref.cos(dense, ref.vec(other)), 12);
      }
    }
  });

  it("gives an all-zero vector for text with no known n-gram", () => {
    const v = TfidfCharVectorizer.fit(["abc"]);
    expect(v.transform("xyz").indices.length).toBe(0);
    expect(v.similarity("xyz", "abc")).toBe(0);
  });
});

describe("LexicalIndex", () => {
  function makeEntries(seed: number, count: number): LexicalEntry[] {
    const rnd = mulberry32(seed);
    const names = [...new Set(randomNames(seed, count))].sort();
    return names.map((name, i) => {
      const codes = rnd() < 0.15 ? [`C${i}`, `C${Math.floor(rnd() * count)}`].sort() : [`C${Math.floor(rnd() * (count / 2))}`];
      return { name, codes: [...new Set(codes)].sort(), code: codes[0] };
    });
  }

  /** Brute force: cosine to every name, names ranked by (score desc, row asc), codes expanded and de-duplicated. */
  function bruteSearch(index: LexicalIndex, entries: LexicalEntry[], text: string, k: number) {
    const v = index.vectorizer;
    const q = v.transform(text);
    const scored = entries.map((e, row) => ({ row, score: sparseCosine(q, v.transform(e.name)) })).filter((s) => s.score > 1e-12);
    scored.sort((a, b) => b.score - a.score || a.row - b.row);
    const out: { code: string; name: string; score: number }[] = [];
    for (const s of scored) {
      const e = entries[s.row];
      for (const code of [e.code, ...e.codes.filter((c) => c !== e.code)]) {
        if (out.some((o) => o.code === code)) continue;
        out.push({ code, name: e.name, score: s.score });
      }
    }
    return out.slice(0, k);
  }

  it("returns the same top-k distinct codes as brute force, before and after serialisation", () => {
    const a = makeEntries(21, 300);
    const b = makeEntries(22, 150);
    const index = LexicalIndex.build(new Map([["A", a], ["B", b]]));
    const copy = LexicalIndex.deserialize(index.serialize());
    expect(copy.sizes()).toEqual({ A: a.length, B: b.length });
    const queries = [...randomNames(23, 40), a[5].name, b[3].name];
    for (const q of queries) {
      for (const [group, entries] of [["A", a], ["B", b]] as const) {
        for (const k of [1, 5, 30]) {
          const expected = bruteSearch(index, entries, q, k);
          for (const idx of [index, copy]) {
            const got = idx.search(q, group, k);
            expect(got.map((c) => c.code)).toEqual(expected.map((c) => c.code));
            expect(got.map((c) => c.name)).toEqual(expected.map((c) => c.name));
            got.forEach((c, i) => expect(c.score).toBeCloseTo(expected[i].score, 10));
          }
        }
      }
    }
  });

  it("restricts a search to the group and finds an exact name first", () => {
    const index = LexicalIndex.build(
      new Map<string, LexicalEntry[]>([
        ["DIS", [{ name: "embolia pulmonar", codes: ["1"], code: "1" }, { name: "edema pulmonar", codes: ["2"], code: "2" }]],
        ["PROC", [{ name: "embolia pulmonar", codes: ["9"], code: "9" }]],
      ]),
    );
    expect(index.search("Embolia  pulmonar", "DIS", 5).map((c) => c.code)).toEqual(["1", "2"]);
    expect(index.search("Embolia pulmonar", "DIS", 1)[0].score).toBeCloseTo(1, 12);
    expect(index.search("embolia pulmonar", "PROC", 5).map((c) => c.code)).toEqual(["9"]);
    expect(() => index.search("x", "NOPE", 5)).toThrow(/unknown group/);
  });

  it("rejects corrupt bytes", () => {
    const bytes = LexicalIndex.build(new Map([["A", [{ name: "abc", codes: ["1"], code: "1" }]]])).serialize();
    expect(() => LexicalIndex.deserialize(bytes.subarray(0, bytes.length - 9))).toThrow(/corrupt/);
    const bad = new Uint8Array(bytes);
    bad[10] = 0x7b; // break the JSON header
    expect(() => LexicalIndex.deserialize(bad)).toThrow(/corrupt/);
  });
});
