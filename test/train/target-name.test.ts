import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKnowledgeBase } from "../../src/kb/sqlite-kb.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { candidateNames, TargetNameSelector } from "../../src/train/target-name.js";
import { interleave, mix } from "../../src/train/mix.js";
import { buildKbFromRows } from "../support/kb.js";

/** scikit-learn `char_wb` 3-grams, written from its documented algorithm (independent of src/lexical). */
function charWb(text: string, n = 3): string[] {
  const out: string[] = [];
  for (const word of text.toLowerCase().replace(/\s+/g, " ").split(" ").filter(Boolean)) {
    const w = ` ${word} `;
    let offset = 0;
    out.push(w.slice(offset, offset + n));
    while (offset + n < w.length) {
      offset++;
      out.push(w.slice(offset, offset + n));
    }
  }
  return out;
}

/** Dense brute force: smooth idf fitted on `corpus`, raw tf, L2 norm, cosine. */
function bruteForceBest(corpus: readonly string[], mention: string, names: readonly string[]): string {
  const df = new Map<string, number>();
  for (const doc of corpus) for (const g of new Set(charWb(doc))) df.set(g, (df.get(g) ?? 0) + 1);
  const idf = (g: string): number => Math.log((1 + corpus.length) / (1 + df.get(g)!)) + 1;
  const vec = (s: string): Map<string, number> => {
    const v = new Map<string, number>();
    for (const g of charWb(s)) if (df.has(g)) v.set(g, (v.get(g) ?? 0) + 1);
    let norm = 0;
    for (const [g, c] of v) {
      v.set(g, c * idf(g));
      norm += (c * idf(g)) ** 2;
    }
    for (const [g, x] of v) v.set(g, x / Math.sqrt(norm));
    return v;
  };
  const m = vec(mention);
  let best = names[0];
  let bestScore = -1;
  for (const name of names) {
    const v = vec(name);
    let dot = 0;
    for (const [g, x] of m) dot += x * (v.get(g) ?? 0);
    if (dot > bestScore + 1e-12) {
      bestScore = dot;
      best = name;
    }
  }
  return best;
}

const TERMS: [string, string, string][] = [
  ["1", "embolia pulmonar", "ENFERMEDAD"],
  ["1", "tromboembolismo pulmonar", "ENFERMEDAD"],
  ["1", "TEP", "ENFERMEDAD"],
  ["1", "embolia de arteria pulmonar (trastorno)", "ENFERMEDAD"],
  ["2", "diabetes mellitus tipo 2", "ENFERMEDAD"],
  ["2", "DM2", "ENFERMEDAD"],
  ["2", "diabetes del adulto", "ENFERMEDAD"],
  ["3", "dolor torácico", "SINTOMA"],
  ["3", "dolor en el pecho", "SINTOMA"],
  ["3", "toracalgia", "SINTOMA"],
  ["4", "tomografía computarizada de tórax", "PROCEDIMIENTO"],
  ["4", "TC torácica", "PROCEDIMIENTO"],
  ["4", "TAC de tórax", "PROCEDIMIENTO"],
];

describe("target name selection (TF-IDF char 3-gram cosine)", () => {
  let dir: string;
  let kb: KnowledgeBase;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sft-target-"));
    await buildKbFromRows(dir, TERMS);
    kb = openKnowledgeBase(join(dir, "kb.sqlite"));
  });
  afterAll(() => {
    kb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("agrees with a brute-force cosine for every mention", () => {
    const selector = TargetNameSelector.fitOnKnowledgeBase(kb);
    const corpus = TERMS.map((t) => t[1]);
    const mentions: [string, string, string][] = [
      ["embolismo pulmonar masivo", "1", "ENFERMEDAD"],
      ["TEP bilateral", "1", "ENFERMEDAD"],
      ["embolia en arteria pulmonar", "1", "ENFERMEDAD"],
      ["diabetes tipo 2", "2", "ENFERMEDAD"],
      ["DM tipo 2", "2", "ENFERMEDAD"],
      ["dolor pectoral", "3", "SINTOMA"],
      ["dolores torácicos", "3", "SINTOMA"],
      ["TAC torácico", "4", "PROCEDIMIENTO"],
      ["tomografía de tórax", "4", "PROCEDIMIENTO"],
    ];
    for (const [mention, code, group] of mentions) {
      const names = candidateNames(kb, code, group);
      expect(names.sort()).toEqual(TERMS.filter((t) => t[0] === code).map((t) => t[1]).sort());
      expect(selector.select(mention, names)!.name, mention).toBe(bruteForceBest(corpus, mention, names));
    }
  });
});

describe("1:1 round-robin mixing", () => {
  it("cycles the human set until the synthetic set is exhausted", () => {
    const h = ["h0", "h1", "h2"];
    const s = Array.from({ length: 8 }, (_, i) => `s${i}`);
    const out = interleave(h, s);
    expect(out).toHaveLength(16);
    expect(out.filter((x) => x.startsWith("h"))).toHaveLength(8);
    expect(out.filter((x, i) => (i % 2 === 0) !== x.startsWith("h"))).toEqual([]);
    expect(out.filter((x) => x.startsWith("s"))).toEqual(s);
    expect(out.filter((x) => x.startsWith("h"))).toEqual(["h0", "h1", "h2", "h0", "h1", "h2", "h0", "h1"]);
  });
  it("cycles the synthetic set when it is the smaller one, and honours the other modes", () => {
    const out = interleave(["a", "b", "c", "d", "e"], ["x", "y"]);
    expect(out).toEqual(["a", "x", "b", "y", "c", "x", "d", "y", "e", "x"]);
    expect(mix("human-only", ["a"], ["x"])).toEqual(["a"]);
    expect(mix("synthetic-only", ["a"], ["x"])).toEqual(["x"]);
    expect(mix("interleave", [], ["x", "y"])).toEqual(["x", "y"]);
  });
});
