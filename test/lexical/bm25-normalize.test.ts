import { describe, expect, it } from "vitest";
import { Bm25Index } from "../../src/lexical/bm25.js";
import { foldText, Normalizer, stripSemanticTag, trailingAcronym } from "../../src/lexical/normalize.js";
import { DotAccumulator, topRows } from "../../src/lexical/score-accumulator.js";
import { mulberry32 } from "../../src/util/random.js";

/** Okapi BM25 written out term by term from its textbook definition (Lucene idf), for one document. */
function bruteBm25(docs: string[][], query: string[], d: number, k1 = 1.2, b = 0.75): number {
  const n = docs.length;
  const avgdl = docs.reduce((a, x) => a + x.length, 0) / n;
  let s = 0;
  for (const t of new Set(query)) {
    const df = docs.filter((x) => x.includes(t)).length;
    if (df === 0) continue;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    const tf = docs[d].filter((x) => x === t).length;
    s += (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * docs[d].length) / avgdl));
  }
  return s;
}

describe("Bm25Index", () => {
  const docs = [
    ["dolor", "toracico"],
    ["dolor", "abdominal", "agudo"],
    ["dolor", "dolor", "cronico"],
    ["fiebre"],
    ["insuficiencia", "renal", "cronica"],
    ["insuficiencia", "cardiaca"],
    [],
  ];
  const index = new Bm25Index(docs);

  it("scores every document as the textbook formula does", () => {
    for (const q of [["dolor"], ["dolor", "cronico"], ["insuficiencia", "renal", "renal"], ["nada"], ["fiebre", "dolor"]]) {
      for (let d = 0; d < docs.length; d++) expect(index.score(q, d)).toBeCloseTo(bruteBm25(docs, q, d), 12);
    }
  });

  it("search returns the positive-score documents best first, ties by row", () => {
    const q = ["dolor", "cronico"];
    const expected = docs
      .map((_, d) => ({ row: d, score: bruteBm25(docs, q, d) }))
      .filter((h) => h.score > 0)
      .sort((a, b) => b.score - a.score || a.row - b.row);
    const got = index.search(q, 10);
    expect(got.map((h) => h.row)).toEqual(expected.map((h) => h.row));
    got.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i].score, 12));
    expect(index.search(q, 2).map((h) => h.row)).toEqual(expected.slice(0, 2).map((h) => h.row));
    expect(index.search(["desconocido"], 5)).toEqual([]);
  });

  it("matches brute force on a random corpus", () => {
    const random = mulberry32(7);
    const vocab = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const corpus = Array.from({ length: 60 }, () => Array.from({ length: 1 + Math.floor(random() * 6) }, () => vocab[Math.floor(random() * vocab.length)]));
    const idx = new Bm25Index(corpus, { k1: 1.5, b: 0.6 });
    for (let t = 0; t < 10; t++) {
      const q = Array.from({ length: 1 + Math.floor(random() * 3) }, () => vocab[Math.floor(random() * vocab.length)]);
      const acc = idx.accumulate(q);
      for (let d = 0; d < corpus.length; d++) expect(acc.scores[d]).toBeCloseTo(bruteBm25(corpus, q, d, 1.5, 0.6), 12);
    }
  });
});

describe("DotAccumulator and topRows", () => {
  it("gives every row's dot product and the k best rows", () => {
    const rows = [
      { indices: Int32Array.from([0, 2]), values: Float64Array.from([0.6, 0.8]) },
      { indices: Int32Array.from([1]), values: Float64Array.from([1]) },
      { indices: Int32Array.from([0, 1, 2]), values: Float64Array.from([0.5, 0.5, 0.5]) },
      { indices: Int32Array.from([2]), values: Float64Array.from([1]) },
    ];
    const acc = new DotAccumulator(3, rows).accumulate({ indices: Int32Array.from([0, 2]), values: Float64Array.from([1, 1]) });
    expect(Array.from(acc.scores)).toEqual([0.6 + 0.8, 0, 1, 1].map((x) => expect.closeTo(x, 12)));
    expect(topRows(acc, 10)).toEqual([0, 2, 3]); // row 1 has no shared feature; 2 and 3 tie: lower row first
    expect(topRows(acc, 2)).toEqual([0, 2]);
  });
});

describe("normalisation", () => {
  it("folds accents, case and punctuation", () => {
    expect(foldText("Hipertensión  Arterial-Sistémica (HTA)")).toBe("hipertension arterial sistemica hta");
    expect(foldText("ﬁbrosis")).toBe("fibrosis"); // NFKD: the ligature becomes two letters
  });

  it("stems with Snowball, maps roman numerals and ignores word order and stop words in the key", () => {
    const es = new Normalizer("es");
    expect(es.normalize("diabetes mellitus tipo II").tokens).toEqual(["diabetes", "mellitus", "tipo", "2"]);
    expect(es.normalize("cáncer de mama").key).toBe(es.normalize("mama, cáncer").key);
    expect(es.normalize("lesiones nodulares pulmonares").stems).toEqual(es.normalize("lesión nodular pulmonar").stems);
    const en = new Normalizer("en");
    expect(en.normalize("infections of the lungs").key).toBe(en.normalize("lung infection").key);
  });

  it("strips SNOMED semantic tags but keeps acronyms in parentheses", () => {
    expect(stripSemanticTag("glaucoma maligno (trastorno)")).toBe("glaucoma maligno");
    expect(stripSemanticTag("fiebre (hallazgo)")).toBe("fiebre");
    expect(stripSemanticTag("insuficiencia renal crónica (IRC)")).toBe("insuficiencia renal crónica (IRC)");
    expect(trailingAcronym("insuficiencia renal crónica (IRC)")).toBe("IRC");
    expect(trailingAcronym("glaucoma maligno (trastorno)")).toBeUndefined();
  });
});
