/**
 * Cross-validation of train-linker scores each mention's FULL out-of-fold candidate list, as the linker ranks it,
 * while models learn from pruned lists: checked against candidates recomputed from an index built without the
 * mention's fold, and against a brute-force fold loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { addTrainingMentions, readTrainingMentions, type TrainingMention } from "../../src/kb/mentions.js";
import { candidatesOf } from "../../src/linker/hybrid-features.js";
import { HybridIndex, type KbName } from "../../src/linker/hybrid-index.js";
import { kbNamesOf } from "../../src/linker/hybrid-linker.js";
import { foldOf, outOfFoldLists, reweightSeen, trainHybrid, TRAIN_CANDIDATES } from "../../src/linker/hybrid-train.js";
import { Reranker, type RankList } from "../../src/linker/reranker.js";
import { parseMarkedSentence } from "../../src/markup/marked-sentence.js";
import { mulberry32 } from "../../src/util/random.js";
import { writeSpaccc } from "../support/hybrid-fixture.js";
import { buildKbFromRows } from "../support/kb.js";

const HEADS = ["dolor", "fractura", "quiste", "tumor"];

/** Seeded pseudo-words, so that many KB names share heads and character n-grams (long candidate lists). */
function words(n: number, seed: number): string[] {
  const random = mulberry32(seed);
  const syllables = ["ta", "ro", "mi", "sen", "cal", "bo", "ri", "tu", "pla", "ne"];
  const out = new Set<string>();
  while (out.size < n) out.add(Array.from({ length: 3 }, () => syllables[Math.floor(random() * syllables.length)]).join(""));
  return [...out];
}

describe("train-linker cross-validation", () => {
  let dir: string;
  let names: KbName[];
  let mentions: TrainingMention[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-hybrid-train-"));
    const mods = words(30, 3);
    const rows = HEADS.flatMap((h, i) => mods.map((m, j) => [String(1000 + i * 100 + j), `${h} ${m}`, "ENFERMEDAD"] as [string, string, string]));
    const kbPath = await buildKbFromRows(dir, rows);
    // Ten documents of six mentions: KB names with a word dropped, reordered or misspelt.
    const random = mulberry32(5);
    const docs: [string, string, [string, string, string][]][] = Array.from({ length: 10 }, (_, d) => {
      const picks = Array.from({ length: 6 }, () => rows[Math.floor(random() * rows.length)] as [string, string, string]);
      const spans = picks.map(([, name], k) => (k % 3 === 0 ? name.split(" ").reverse().join(" ") : k % 3 === 1 ? name.replace(/a/g, "e") : name));
      const text = spans.map((s) => `Presenta ${s}.`).join(" ");
      return [`es-t${d}`, text, picks.map(([code], k) => [spans[k] as string, "ENFERMEDAD", code] as [string, string, string])];
    });
    const tsv = writeSpaccc(dir, docs);
    addTrainingMentions(kbPath, await readDataset(tsv, { format: "spaccc" }), tsv);
    mentions = readTrainingMentions(kbPath);
    const kb = openKnowledgeBase(kbPath);
    names = kbNamesOf(kb);
    kb.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps every out-of-fold candidate in the full lists and learns from pruned subsets of them", () => {
    const folds = 3;
    const oof = outOfFoldLists(names, mentions, { folds, seed: 2 });
    expect(oof.full.length).toBe(mentions.length);
    expect(oof.full.some((l) => l.rows.length > TRAIN_CANDIDATES)).toBe(true); // pruning did happen
    // Rows come fold by fold: recompute each fold's candidates from an index without that fold.
    let k = 0;
    for (let f = 0; f < folds; f++) {
      const inFold = mentions.filter((m) => foldOf(m.document, folds, 2) === f);
      const index = HybridIndex.build(names, mentions.filter((m) => foldOf(m.document, folds, 2) !== f), { language: "es" });
      for (const m of inFold) {
        const documentMentions = mentions.filter((x) => x.document === m.document).map((x) => x.text);
        const { plain, fragments } = parseMarkedSentence(m.sentence);
        const cands = candidatesOf(index, { mention: m.text, group: m.group, plain, fragments, documentMentions });
        const full = oof.full[k] as RankList;
        const pruned = oof.lists[k] as RankList;
        expect(oof.fold[k]).toBe(f);
        expect(full.rows.map((r) => Array.from(r))).toEqual(cands.map((c) => Array.from(c.features)));
        expect(full.gold).toEqual(cands.flatMap((c, i) => (c.code === m.code ? [i] : [])));
        const fullRows = new Set(full.rows.map((r) => r.join(",")));
        expect(pruned.rows.length).toBe(Math.min(full.rows.length, TRAIN_CANDIDATES));
        for (const r of pruned.rows) expect(fullRows.has(r.join(","))).toBe(true);
        k++;
      }
    }
  });

  it("reports the mean fold Recall@1 of models trained on pruned lists, scored on full lists", () => {
    const folds = 2;
    // An untrained model (no epochs) scores every candidate alike and picks the first: gold rows lead the pruned
    // lists but not the full ones, so scoring one or the other gives different figures.
    const config = { hidden: 0, l2: 1e-4, epochs: 0 };
    const result = trainHybrid(names, mentions, { folds, seed: 4, grid: [config] });
    const oof = outOfFoldLists(names, mentions, { folds, seed: 4 });
    const lists = reweightSeen(oof.lists, oof.seen);
    const foldRecall = (scored: readonly RankList[]): number => {
      let total = 0;
      for (let f = 0; f < folds; f++) {
        const model = Reranker.train(lists.filter((_, i) => oof.fold[i] !== f), { ...config, seed: 4 });
        let hits = 0;
        let weight = 0;
        scored.forEach((l, i) => {
          if (oof.fold[i] !== f) return;
          const scores = l.rows.map((r) => model.score(r, l.group));
          const best = scores.indexOf(Math.max(...scores));
          const w = lists[i]?.weight ?? 1;
          weight += w;
          if (l.gold.includes(best)) hits += w;
        });
        total += hits / weight;
      }
      return total / folds;
    };
    const onFull = foldRecall(oof.full);
    expect(Math.abs(onFull - foldRecall(oof.lists))).toBeGreaterThan(1e-6); // the fixture tells the two apart
    expect(result.cv[0]?.recallAt1).toBeCloseTo(onFull, 12);
  });

  it("ranks every training mention out of fold for the calibration, as that fold's model ranks its full list", () => {
    const folds = 2;
    const config = { hidden: 0, l2: 1e-4, epochs: 2 };
    const result = trainHybrid(names, mentions, { folds, seed: 6, grid: [config] });
    const oof = outOfFoldLists(names, mentions, { folds, seed: 6 });
    const lists = reweightSeen(oof.lists, oof.seen);
    expect(result.outOfFold.map((r) => r.mention).sort((a, b) => a - b)).toEqual(mentions.map((_, i) => i));
    const byMention = new Map(result.outOfFold.map((r) => [r.mention, r]));
    for (let f = 0; f < folds; f++) {
      const model = Reranker.train(lists.filter((_, i) => oof.fold[i] !== f), { ...config, seed: 6 });
      oof.full.forEach((l, i) => {
        if (oof.fold[i] !== f) return;
        const scores = l.rows.map((r) => model.score(r, l.group));
        const order = scores.map((_, k) => k).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, 5);
        const z = order.map((k) => Math.exp(scores[k]! - scores[order[0]!]!));
        const total = z.reduce((a, b) => a + b, 0);
        const got = byMention.get(oof.mention[i]!)!;
        got.scores.forEach((v, k) => expect(v).toBeCloseTo(z[k]! / total, 12));
        expect(got.goldRank).toBe(order.findIndex((k) => l.gold.includes(k)) + 1);
        expect(got.seen).toBe(oof.seen[i]);
      });
    }
  });
});
