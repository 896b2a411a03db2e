import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { candidatesOf, FEATURE_NAMES } from "../../src/linker/hybrid-features.js";
import { HybridIndex } from "../../src/linker/hybrid-index.js";
import { HybridLinker, kbNamesOf } from "../../src/linker/hybrid-linker.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import type { Linker } from "../../src/linker/types.js";
import { queryOfSentence } from "../../src/data/mention-queries.js";
import { buildKbFromRows } from "../support/kb.js";
import { BHA_DOCUMENT, KB_ROWS, TRAIN, writePubtator } from "../support/abbreviation-fixture.js";

describe("hybrid linker: document abbreviations", () => {
  let dir: string;
  let kbPath: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-abbrev-"));
    kbPath = await buildKbFromRows(dir, KB_ROWS);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("adds the long form's candidates and doc_* features only when an expansion is given", () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      const index = HybridIndex.build(kbNamesOf(kb), [], { language: "en" });
      const f = (name: string) => FEATURE_NAMES.indexOf(name as (typeof FEATURE_NAMES)[number]);
      const plain = candidatesOf(index, { mention: "BHA", group: "Chemical" });
      expect(plain.every((c) => c.features[f("doc_exact")] === 0 && c.features[f("doc_expanded")] === 0)).toBe(true);
      const expanded = candidatesOf(index, { mention: "BHA", group: "Chemical", expansion: "butylated hydroxyanisole" });
      const gold = expanded.find((c) => c.code === "D001");
      expect(gold?.features[f("doc_exact")]).toBe(1);
      expect(gold?.features[f("doc_expanded")]).toBe(1);
      expect(gold?.matched).toBe("butylated hydroxyanisole");
      // Only the code that has the long form as a name is an exact long-form match.
      expect(expanded.filter((c) => c.features[f("doc_exact")] === 1).map((c) => c.code)).toEqual(["D001"]);
    } finally {
      kb.close();
    }
  });

  it("learns from defined short forms in training and resolves an unseen short form through its long form at link time", async () => {
    const train = join(dir, "train.txt");
    writePubtator(train, TRAIN);
    await trainLinker(kbPath, { train: [{ path: train, format: "pubtator" }], seed: 1, folds: 3 });
    const kb = openKnowledgeBase(kbPath);
    try {
      const linker = HybridLinker.fromKnowledgeBase(kb);
      // "BHA" never occurs in training; its document defines it.
      const dev = join(dir, "dev.txt");
      writePubtator(dev, [BHA_DOCUMENT]);
      const seen: (string | undefined)[][] = [];
      // The real linker, watched: link-documents must hand it the document's expansions.
      const watched: Linker = { kind: linker.kind, close: () => linker.close(), sample: (s, o) => linker.sample(s, o), link: (q, o) => (seen.push(q.map((x) => x.expansion)), linker.link(q, o)) };
      const out = join(dir, "out.jsonl");
      await linkDocuments(await readDataset(dev, { format: "pubtator" }), watched, { outPath: out, format: "jsonl" });
      expect(seen).toEqual([[undefined, "Butylated hydroxyanisole", "Butylated hydroxyanisole"]]);
      const records = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { beams: { pred_concept_code: string }[] });
      expect(records.map((r) => r.beams[0]?.pred_concept_code)).toEqual(["D001", "D001", "D001"]);
      // Without the expansion the same sentence does not reach the long form's code first.
      const sentence = "[BHA]{Chemical} was added to the diet.";
      const [without] = await linker.sample([sentence]);
      const [withIt] = await linker.link([{ ...queryOfSentence(sentence), expansion: "Butylated hydroxyanisole" }]);
      expect(withIt?.beams?.[0]?.pred_concept_code).toBe("D001");
      expect(without?.error).toBeUndefined();
      expect(without?.beams?.[0]?.pred_concept_code).not.toBe("D001");
    } finally {
      kb.close();
    }
  });
});
