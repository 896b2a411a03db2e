import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSpaccc } from "../../src/data/spaccc.js";
import type { Dataset } from "../../src/data/types.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../../src/kb/index.js";
import { addTrainingMentions, trainingMentionsOf } from "../../src/kb/mentions.js";
import { HybridLinker } from "../../src/linker/hybrid-linker.js";
import { TfidfLinker } from "../../src/linker/tfidf-linker.js";
import { trainLinker } from "../../src/linker/train-linker.js";

const DATA = new URL("../../../shared/data/spaccc/", import.meta.url).pathname;
const present = existsSync(join(DATA, "train.tsv"));
if (!present) console.warn(`hybrid-spaccc.test: skipped, no SPACCC data at ${DATA}`);

/**
 * Train on a slice of SPACCC train.tsv and score on OTHER documents of train.tsv (never the dev file): the hybrid
 * linker must beat TF-IDF there.
 */
describe.skipIf(!present)("hybrid linker on real SPACCC training documents", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-hybrid-spaccc-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("beats TF-IDF on held-out training documents", async () => {
    const all = await readSpaccc(join(DATA, "train.tsv"));
    const docs = all.documents.slice(0, 100);
    const train: Dataset = { ...all, documents: docs.slice(0, 75) };
    const heldOut = docs.slice(75);
    const kbPath = join(dir, "kb.sqlite");
    await buildKnowledgeBase(join(DATA, "kb-proxy-dev.tsv"), kbPath);
    const trainFile = join(dir, "train-slice"); // provenance label only: the mentions come from the slice
    writeFileSync(trainFile, "");
    addTrainingMentions(kbPath, train, trainFile);
    await trainLinker(kbPath, { folds: 3, seed: 1, grid: [{ hidden: 0, l2: 1e-4 }] });
    const kb = openKnowledgeBase(kbPath);
    const hybrid = HybridLinker.fromKnowledgeBase(kb);
    const tfidf = TfidfLinker.fromKnowledgeBase(kb);
    kb.close();
    const { mentions } = trainingMentionsOf({ ...all, documents: heldOut }, "held-out");
    const known = mentions.filter((m) => m.sentence !== "" && hybrid.groups().includes(m.group));
    expect(known.length).toBeGreaterThan(200);
    let hybridHits = 0;
    let tfidfHits = 0;
    for (const m of known) {
      if (hybrid.linkMention(m.sentence, 1)[0]?.pred_concept_code === m.code) hybridHits++;
      if (tfidf.linkMention(m.text, m.group, 1)[0]?.pred_concept_code === m.code) tfidfHits++;
    }
    console.log(`hybrid-spaccc.test: Recall@1 on ${known.length} held-out training mentions: hybrid ${(hybridHits / known.length).toFixed(3)}, tfidf ${(tfidfHits / known.length).toFixed(3)}`);
    expect(hybridHits / known.length).toBeGreaterThan(tfidfHits / known.length + 0.03);
  }, 120_000);
});
