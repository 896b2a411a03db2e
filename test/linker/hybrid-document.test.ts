import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { trainingMentionsOf } from "../../src/kb/mentions.js";
import { spellsOut } from "../../src/linker/hybrid-document.js";
import { candidatesOf, FEATURE_NAMES } from "../../src/linker/hybrid-features.js";
import { HybridIndex } from "../../src/linker/hybrid-index.js";
import { HybridLinker, kbNamesOf } from "../../src/linker/hybrid-linker.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import type { Linker } from "../../src/linker/types.js";
import { writePubtator } from "../support/abbreviation-fixture.js";
import { buildKbFromRows } from "../support/kb.js";

const DATA = new URL("../../../shared/data/bc5cdr/", import.meta.url).pathname;
const f = (name: string) => FEATURE_NAMES.indexOf(name as (typeof FEATURE_NAMES)[number]);

const KB_ROWS: [string, string, string][] = [
  ["D001", "pleural effusion", "Disease"],
  ["D002", "pericardial effusion", "Disease"],
  ["D003", "effusion", "Disease"],
  ["D004", "acute liver failure", "Disease"],
  ["D005", "liver failure", "Disease"],
  ["D006", "allograft failure", "Disease"],
  ["D007", "breast tumor", "Disease"],
  ["D008", "tumor", "Disease"],
  ["D009", "prostaglandin", "Chemical"],
  ["D010", "propranolol", "Chemical"],
];

describe("hybrid linker: document-level evidence and coordinated mentions", () => {
  let dir: string;
  let kbPath: string;
  let index: HybridIndex;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-hybrid-doc-"));
    kbPath = await buildKbFromRows(dir, KB_ROWS);
    const kb = openKnowledgeBase(kbPath);
    index = HybridIndex.build(kbNamesOf(kb), [], { language: "en" });
    kb.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("spellsOut: a short form's letters in order from the first letter of the longer text", () => {
    expect(spellsOut("PG", "prostaglandin")).toBe(true);
    expect(spellsOut("ALF", "acute liver failure")).toBe(true);
    expect(spellsOut("PG", "propranolol")).toBe(false); // no g
    expect(spellsOut("LF", "acute liver failure")).toBe(false); // first letter differs
    expect(spellsOut("PG", "pg")).toBe(false); // not longer
  });

  it("an undefined short form gets the code of the document mention it spells out, as a candidate with doc_contained", () => {
    const alone = candidatesOf(index, { mention: "ALF", group: "Disease" });
    expect(alone.some((c) => c.code === "D004")).toBe(false);
    const texts = ["acute liver failure", "ALF", "allograft failure"];
    const inDoc = candidatesOf(index, { mention: "ALF", group: "Disease", documentMentions: texts });
    const gold = inDoc.find((c) => c.code === "D004");
    expect(gold?.features[f("doc_contained")]).toBe(1);
    expect(gold?.features[f("doc_support")]).toBeCloseTo(Math.log(2), 12);
    // allograft failure (D006) does not start with "a...l...f" in order? It does: a-l-l-...-f. Both are offered.
    expect(inDoc.find((c) => c.code === "D006")?.features[f("doc_contained")]).toBe(1);
    // A code no other mention names has no document support.
    expect(inDoc.find((c) => c.code === "D005")?.features[f("doc_support")] ?? 0).toBe(0);
  });

  it("a head-noun mention contained in a longer mention of the document gets that mention's code; its own text gives no support", () => {
    const texts = ["breast tumor", "tumor", "tumor"];
    const c = candidatesOf(index, { mention: "the tumor", group: "Disease", documentMentions: texts });
    expect(c.find((x) => x.code === "D007")?.features[f("doc_contained")]).toBe(1);
    // "tumor" (D008) is named by other mentions with the same text as the query: left out.
    expect(c.find((x) => x.code === "D008")?.features[f("doc_support")]).toBe(0);
    const without = candidatesOf(index, { mention: "the tumor", group: "Disease" });
    expect(without.every((x) => x.features[f("doc_support")] === 0 && x.features[f("doc_contained")] === 0)).toBe(true);
  });

  it("a coordinated mention gets the union of its pieces' codes as a composite candidate", () => {
    const c = candidatesOf(index, { mention: "pleural and pericardial effusion", group: "Disease" });
    const composite = c.find((x) => x.code === "D001+D002");
    expect(composite?.features[f("coordination")]).toBe(1);
    expect(composite?.features[f("composite")]).toBe(1);
    expect(composite?.features[f("coord_cover")]).toBe(1);
    expect(composite?.features[f("coord_pieces")]).toBeCloseTo(Math.log(2), 12);
    const off = candidatesOf(index, { mention: "pleural and pericardial effusion", group: "Disease" }, { coordination: false });
    expect(off.some((x) => x.code.includes("+"))).toBe(false);
    expect(candidatesOf(index, { mention: "pleural effusion", group: "Disease" }).some((x) => x.code.includes("+"))).toBe(false);
  });

  it("link-documents hands the hybrid linker one array of the document's mention texts per query", async () => {
    const train = join(dir, "train.txt");
    const docs: [string, string, [string, string, string][]][] = [
      ["1", "Pleural effusion and acute liver failure. Liver failure recovered.", [["Pleural effusion", "Disease", "D001"], ["acute liver failure", "Disease", "D004"], ["Liver failure", "Disease", "D005"]]],
      ["2", "Breast tumor in a woman; the tumor grew. Prostaglandin was given.", [["Breast tumor", "Disease", "D007"], ["tumor", "Disease", "D007"], ["Prostaglandin", "Chemical", "D009"]]],
      ["3", "Pericardial effusion after propranolol. Effusion resolved.", [["Pericardial effusion", "Disease", "D002"], ["propranolol", "Chemical", "D010"], ["Effusion", "Disease", "D002"]]],
    ];
    writePubtator(train, docs);
    await trainLinker(kbPath, { train: [{ path: train, format: "pubtator" }], seed: 1, folds: 3 });
    const kb = openKnowledgeBase(kbPath);
    try {
      const linker = HybridLinker.fromKnowledgeBase(kb);
      const passed: (readonly string[] | undefined)[] = [];
      // The real linker, watched: link-documents must hand it each document's mention texts.
      const watched: Linker = { kind: linker.kind, close: () => linker.close(), sample: (s, o) => linker.sample(s, o), link: (q, o) => (passed.push(...q.map((x) => x.documentMentions)), linker.link(q, o)) };
      const dataset = await readDataset(train, { format: "pubtator" });
      await linkDocuments(dataset, watched, { outPath: join(dir, "out.jsonl"), format: "jsonl" });
      expect(passed.map((x) => [...(x ?? [])])).toEqual(dataset.documents.flatMap((d) => d.mentions.map(() => d.mentions.map((m) => m.text))));
      // One shared array per document.
      expect(passed[0]).toBe(passed[1]);
      expect(passed[0]).not.toBe(passed[3]);
    } finally {
      kb.close();
    }
  });

  it("on real BC5CDR training data, document evidence adds gold codes to the candidates of unseen short forms", async () => {
    if (!existsSync(join(DATA, "train_corpus.txt"))) {
      console.warn(`skipped: no BC5CDR data at ${DATA}`);
      return;
    }
    const rows = readFileSync(join(DATA, "entities.txt"), "utf8").split(/\r?\n/).filter((l) => l.includes("\t")).flatMap((l) => {
      const [id, name] = l.split("\t") as [string, string];
      return [[id.trim(), name.trim(), "Chemical"], [id.trim(), name.trim(), "Disease"]] as [string, string, string][];
    });
    const realKb = await buildKbFromRows(dir, rows, join(dir, "real.sqlite"));
    const kb = openKnowledgeBase(realKb);
    try {
      const real = HybridIndex.build(kbNamesOf(kb), [], { language: "en" });
      const ds = await readDataset(join(DATA, "train_corpus.txt"), { format: "pubtator" });
      const { mentions } = trainingMentionsOf(ds, join(DATA, "train_corpus.txt"));
      const texts = new Map<string, string[]>();
      for (const m of mentions) (texts.get(m.document) ?? texts.set(m.document, []).get(m.document)!).push(m.text);
      // All-capital short forms of 2-5 letters with a single gold code (no memory: the KB names only).
      const shorts = mentions.filter((m) => /^[A-Z]{2,5}$/.test(m.text) && !m.code.includes("+")).slice(0, 400);
      let without = 0;
      let withDoc = 0;
      for (const m of shorts) {
        if (candidatesOf(real, { mention: m.text, group: m.group }).some((c) => c.code === m.code)) without++;
        if (candidatesOf(real, { mention: m.text, group: m.group, documentMentions: texts.get(m.document) as string[] }).some((c) => c.code === m.code)) withDoc++;
      }
      expect(shorts.length).toBeGreaterThan(100);
      expect(withDoc).toBeGreaterThan(without);
    } finally {
      kb.close();
    }
  }, 120_000);
});

describe("coordination pieces: the exact-name shortcut", () => {
  it("gives the same winner and score as the full first-stage ranking, on real SPACCC names and training mentions", async () => {
    const spaccc = new URL("../../../shared/data/spaccc/", import.meta.url).pathname;
    if (!existsSync(join(spaccc, "train.tsv"))) {
      console.warn(`skipped: no SPACCC data at ${spaccc}`);
      return;
    }
    const { exactPiece, firstStageScore } = await import("../../src/linker/hybrid-features.js");
    const dir = mkdtempSync(join(tmpdir(), "syncabel-pieces-"));
    try {
      const rows = readFileSync(join(spaccc, "kb-proxy-dev.tsv"), "utf8").split("\n").slice(1).filter((l) => l.trim() !== "");
      const kbPath = await buildKbFromRows(dir, rows);
      const kb = openKnowledgeBase(kbPath);
      try {
        const ds = await readDataset(join(spaccc, "train.tsv"), { format: "spaccc" });
        const { mentions } = trainingMentionsOf(ds, join(spaccc, "train.tsv"));
        const index = HybridIndex.build(kbNamesOf(kb), mentions, { language: "es" });
        let checked = 0;
        for (const m of mentions.filter((_, i) => i % 23 === 0)) {
          const g = index.group(m.group);
          if (g === undefined) continue;
          const shortcut = exactPiece(index, g, m.text);
          if (shortcut === undefined) continue;
          // Reference: every candidate of the piece ranked by the first-stage score (ties: lower code).
          const full = candidatesOf(index, { mention: m.text, group: m.group }, { coordination: false })
            .map((c) => ({ code: c.code, score: firstStageScore(c.features) }))
            .sort((a, b) => b.score - a.score || (a.code < b.code ? -1 : 1));
          expect(shortcut.c.code).toBe(full[0]?.code);
          expect(shortcut.score).toBeCloseTo(full[0]?.score ?? NaN, 9);
          checked++;
        }
        expect(checked).toBeGreaterThan(100);
      } finally {
        kb.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
