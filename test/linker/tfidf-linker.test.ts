import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { TfidfCharVectorizer } from "../../src/lexical/tfidf-vectorizer.js";
import { loadOrBuildLexicalIndex, TFIDF_ARTIFACT_KEY, TfidfLinker } from "../../src/linker/tfidf-linker.js";
import { buildKbFromRows } from "../support/kb.js";

const ROWS: [string, string, string][] = [
  ["100", "embolia pulmonar", "ENFERMEDAD"],
  ["100", "tromboembolismo pulmonar", "ENFERMEDAD"],
  ["200", "edema pulmonar", "ENFERMEDAD"],
  ["300", "neumonía", "ENFERMEDAD"],
  ["301", "neumonía", "ENFERMEDAD"],
  ["400", "tos", "SINTOMA"],
  ["500", "radiografía de tórax", "PROCEDIMIENTO"],
  ["501", "radiografía simple de abdomen", "PROCEDIMIENTO"],
];

describe("TfidfLinker over a real SQLite KB", () => {
  let dir: string;
  let kbPath: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-tfidf-"));
    kbPath = join(dir, "kb.sqlite");
    await buildKbFromRows(dir, ROWS, kbPath);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("builds the index once, stores it in the KB file and reloads it", () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      expect(kb.getArtifact(TFIDF_ARTIFACT_KEY)).toBeUndefined();
      const first = loadOrBuildLexicalIndex(kb);
      expect(first.built).toBe(true);
      expect(first.persistError).toBeUndefined();
      expect(kb.getArtifact(TFIDF_ARTIFACT_KEY)).toBeDefined();
      const second = loadOrBuildLexicalIndex(kb);
      expect(second.built).toBe(false);
      expect(second.index.sizes()).toEqual(first.index.sizes());
    } finally {
      kb.close();
    }
  });

  it("links marked sentences to ranked distinct codes of the mention's group, cosine as beam_score", async () => {
    const kb = openKnowledgeBase(kbPath);
    const linker = TfidfLinker.fromKnowledgeBase(kb);
    try {
      const [r] = await linker.sample(["Paciente con [embolia pulmonar masiva]{ENFERMEDAD} y tos."], { num_beams: 3 });
      expect(r.error).toBeUndefined();
      const beams = r.beams!;
      expect(beams.map((b) => b.pred_concept_code)).toEqual(["100", "200", "300"]);
      expect(beams[0]).toMatchObject({ mention: "embolia pulmonar masiva", semantic_group: "ENFERMEDAD", pred_concept_name: "embolia pulmonar" });
      // Independent check of the score: cosine under a vectorizer fitted on every distinct KB name.
      const v = TfidfCharVectorizer.fit([...new Set(ROWS.map((x) => x[1]))]);
      expect(beams[0].beam_score).toBeCloseTo(v.similarity("embolia pulmonar masiva", "embolia pulmonar"), 10);
      for (let i = 1; i < beams.length; i++) expect(beams[i].beam_score).toBeLessThanOrEqual(beams[i - 1].beam_score);
    } finally {
      await linker.close();
      kb.close();
    }
  });

  it("gives every code of an ambiguous name, reported code first", async () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      const linker = TfidfLinker.fromKnowledgeBase(kb);
      const beams = linker.linkMention("neumonía", "ENFERMEDAD", 2);
      const entry = kb.lookup("neumonía", "ENFERMEDAD")!;
      expect(beams.map((b) => b.pred_concept_code)).toEqual([entry.code, ...entry.codes.filter((c) => c !== entry.code)]);
      expect(beams[0].pred_concept_codes).toEqual(entry.codes);
      expect(beams[0].beam_score).toBeCloseTo(1, 12);
      expect(linker.linkMention("tos", "SINTOMA", 5).map((b) => b.pred_concept_code)).toEqual(["400"]);
    } finally {
      kb.close();
    }
  });

  it("returns an error for a bad sentence and still links the others", async () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      const linker = TfidfLinker.fromKnowledgeBase(kb);
      const results = await linker.sample(["sin marca", "[tos]{DESCONOCIDO}", "Se pidió [radiografía de tórax]{PROCEDIMIENTO}."]);
      expect(results[0].error?.code).toBe("MARKUP_NO_BRACKETS");
      expect(results[1].error?.code).toBe("MARKUP_UNKNOWN_GROUP");
      expect(results[2].beams?.[0].pred_concept_code).toBe("500");
      await expect(linker.sample(["[tos]{SINTOMA}"], { num_beams: 0 })).rejects.toThrow(/num_beams/);
    } finally {
      kb.close();
    }
  });
});
