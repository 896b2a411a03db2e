/**
 * The hybrid linker's hot-path shortcuts change no result: edit similarity against a textbook dynamic programme,
 * features of a query independent of the queries before it (per-query memo, shared feature buffer), training rows
 * standalone copies, and beams that rank the candidates as the reranker scores them (recomputed here).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { TrainingMention } from "../../src/kb/mentions.js";
import { queryOfSentence } from "../../src/data/mention-queries.js";
import { candidatesOf, editSimilarity, FEATURE_COUNT, FEATURE_NAMES } from "../../src/linker/hybrid-features.js";
import { HybridIndex } from "../../src/linker/hybrid-index.js";
import { HybridLinker, kbNamesOf } from "../../src/linker/hybrid-linker.js";
import { rankListOf } from "../../src/linker/hybrid-train.js";
import { Reranker } from "../../src/linker/reranker.js";
import { mulberry32 } from "../../src/util/random.js";
import { buildKbFromRows } from "../support/kb.js";

/** Levenshtein distance by the full (n+1) x (m+1) table. */
function referenceDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

describe("editSimilarity", () => {
  it("equals 1 - distance / longer length of the first 80 characters, call after call of any lengths", () => {
    const random = mulberry32(7);
    const word = (n: number) => Array.from({ length: n }, () => "abcd "[Math.floor(random() * 5)]).join("");
    for (let t = 0; t < 400; t++) {
      // Lengths up to 120 (past the 80-character cut), long and short calls interleaved (reused row buffers).
      const a = word(Math.floor(random() * (t % 3 === 0 ? 120 : 12)));
      const b = word(Math.floor(random() * (t % 2 === 0 ? 120 : 12)));
      const x = a.slice(0, 80);
      const y = b.slice(0, 80);
      const m = Math.max(x.length, y.length);
      const expected = m === 0 ? 1 : 1 - referenceDistance(x, y) / m;
      expect(editSimilarity(a, b)).toBeCloseTo(expected, 12);
    }
    expect(editSimilarity("hipertension", "hipertensión")).toBeCloseTo(1 - 1 / 12, 12);
  });
});

describe("hybrid hot path", () => {
  let dir: string;
  let index: HybridIndex;
  const GROUP = "ENFERMEDAD";
  const TRAIN: [string, string][] = [["HTA", "100"], ["hipertension", "100"], ["IRC", "500"], ["fallo renal", "500"], ["DM2", "200"], ["diabetes tipo 2", "200"], ["fallo cardiaco", "501"]];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-hybrid-speed-"));
    const kbPath = await buildKbFromRows(dir, [
      ["100", "hipertensión arterial", GROUP],
      ["101", "hipertensión pulmonar", GROUP],
      ["200", "diabetes mellitus tipo 2", GROUP],
      ["201", "diabetes mellitus tipo 1", GROUP],
      ["500", "insuficiencia renal crónica (IRC)", GROUP],
      ["501", "insuficiencia cardiaca", GROUP],
    ]);
    const kb = openKnowledgeBase(kbPath);
    const names = kbNamesOf(kb);
    kb.close();
    const mentions: TrainingMention[] = TRAIN.map(([text, code], i) => ({ source: "t.tsv", document: `d${i}`, group: GROUP, start: 13, end: 13 + text.length, text, code, sentence: `Paciente con [${text}]{${GROUP}} estable.`, origin: `t.tsv:${i + 2}` }));
    index = HybridIndex.build(names, mentions);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const QUERIES = ["fallo renal crónico", "hipertension arterial", "HTA", "diabetes mellitus tipo II", "insuficiencia"];
  const featuresOf = (mention: string) => new Map(candidatesOf(index, queryOfSentence(`Varón con [${mention}]{${GROUP}}.`)).map((c) => [c.code, [...c.features]]));

  it("gives a query the same features whatever was asked before it", () => {
    const alone = QUERIES.map((q) => featuresOf(q));
    const again = [...QUERIES].reverse().map((q) => featuresOf(q)).reverse();
    expect(again).toEqual(alone);
    for (const f of alone) for (const x of f.values()) expect(x).toHaveLength(FEATURE_COUNT);
    // Each candidate has its own row (different names, different features).
    for (const f of alone) expect(new Set([...f.values()].map((x) => x.join(","))).size).toBe(f.size);
    expect(alone[0]?.size).toBeGreaterThan(1);
    expect(alone[0]?.get("500")?.some((v) => v !== 0)).toBe(true);
  });

  it("keeps training rows as standalone copies of the candidates' features", () => {
    const cands = candidatesOf(index, { mention: "fallo renal", group: GROUP });
    const list = rankListOf(cands, GROUP, "500");
    expect(list.rows.length).toBeGreaterThan(1);
    for (const row of list.rows) expect(row.buffer.byteLength).toBe(FEATURE_COUNT * Float64Array.BYTES_PER_ELEMENT);
  });

  it("links with the reranker's ranking of the candidates, recomputed from the public parts", async () => {
    const lists = TRAIN.map(([text, code]) => rankListOf(candidatesOf(index, { mention: text, group: GROUP }), GROUP, code));
    const reranker = Reranker.train(lists, { hidden: 2, seed: 3, epochs: 4 });
    const linker = new HybridLinker(index, reranker);
    // k = 1: queries with more candidates than k (the softmax is over the k returned, not over all of them).
    expect(QUERIES.filter((q) => candidatesOf(index, queryOfSentence(`Varón con [${q}]{${GROUP}}.`)).length > 1).length).toBeGreaterThan(2);
    for (const [k, q] of [1, 4].flatMap((n) => QUERIES.map((x) => [n, x] as const))) {
      const query = queryOfSentence(`Varón con [${q}]{${GROUP}}.`);
      // Reference: every candidate scored by the reranker, best first (ties: code order), softmax over the k kept.
      const scored = candidatesOf(index, query)
        .map((c) => ({ code: c.code, score: reranker.score(c.features, GROUP), features: [...c.features] }))
        .sort((a, b) => b.score - a.score || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
        .slice(0, k);
      const total = scored.reduce((a, c) => a + Math.exp(c.score - (scored[0]?.score ?? 0)), 0);
      const expected = scored.map((c) => [c.code, Math.exp(c.score - (scored[0]?.score ?? 0)) / total] as const);
      expect(expected.length).toBeGreaterThan(0);
      const [linked] = await linker.link([query], { numBeams: k });
      const beams = linked?.beams ?? [];
      expect(beams.map((b) => b.pred_concept_code)).toEqual(expected.map(([c]) => c));
      beams.forEach((b, i) => expect(b.beam_score).toBeCloseTo(expected[i]?.[1] as number, 12));
      expect(beams.map((b) => b.pred_concept_name)).toEqual(expected.map(([c]) => index.group(GROUP)?.display.get(c)));
      // The candidate records carry the features the reranker scored.
      const records = linker.candidates(query, k);
      expect(records.map((c) => FEATURE_NAMES.map((n) => c.features[n]))).toEqual(scored.map((c) => c.features));
    }
  });
});
