import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, openKnowledgeBase } from "../../../src/kb/index.js";
import { groupMapFrom, rf2Source, umlsSource } from "../../../src/kb/sources/index.js";
import { generatedConcepts, sctid, verhoeffDigit, writeRf2Release, writeRrfRelease } from "../../../src/testing/terminology-generator.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-gen-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("synthetic terminology releases", () => {
  it("SCTIDs carry a valid Verhoeff check digit (published ids as reference)", () => {
    // 22298006 myocardial infarction, 404684003 clinical finding, 138875005 SNOMED CT concept.
    for (const id of ["22298006", "404684003", "138875005"]) expect(verhoeffDigit(id.slice(0, -1))).toBe(Number(id.at(-1)));
    expect(sctid(42, "concept")).toMatch(/^42100099910\d$/);
  });

  it("RF2 and RRF releases of the same concepts build KBs with every generated name", async () => {
    const concepts = [...generatedConcepts({ concepts: 300, seed: 3 })];
    const rf2 = await writeRf2Release(dir, { concepts: 300, seed: 3 });
    const rrf = await writeRrfRelease(dir, { concepts: 300, seed: 3 });
    expect(rf2.descriptions).toBe(concepts.reduce((s, c) => s + c.names.length, 0));
    // Exact published layouts: RF2 headers and CRLF; MRCONSO 18 fields and a trailing bar.
    expect(readFileSync(rf2.files.description, "utf8").split("\r\n")[0]).toBe("id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId");
    expect(readFileSync(rrf.mrconso, "utf8").split("\n").every((l) => l === "" || (l.endsWith("|") && l.split("|").length === 19))).toBe(true);

    const tagGroups = groupMapFrom([["trastorno", "ENFERMEDAD"], ["procedimiento", "PROCEDIMIENTO"], ["hallazgo", "SINTOMA"], ["estructura corporal", "ANATOMIA"]]);
    const groupOf = (tag: string): string => tagGroups.get(tag) as string;
    // Independent expectation from the generator's concepts: every name, FSN without its tag included.
    const expected = new Set(concepts.flatMap((c) => c.names.map((n) => `${groupOf(c.tag.tag)}\t${n}`)));
    const kbRf2 = join(dir, "rf2.sqlite");
    const r = await buildKnowledgeBase([rf2Source([rf2.folder], { includeFsn: true, tagGroups })], kbRf2);
    expect(r.names).toBe(expected.size);
    expect(r.concepts).toBe(300);
    const byTui = groupMapFrom([["T047", "ENFERMEDAD"], ["T061", "PROCEDIMIENTO"], ["T184", "SINTOMA"], ["T023", "ANATOMIA"]]);
    const kbRrf = join(dir, "rrf.sqlite");
    const u = await buildKnowledgeBase([umlsSource(rrf.mrconso, { mrsty: rrf.mrsty, semGroups: rrf.semGroups, groupMap: byTui, sab: ["SCTSPA"], codeFrom: "SCTSPA" })], kbRrf);
    // The FSN atoms keep their tag in RRF (STR is the full FSN): the other names are the same.
    expect(u.names).toBe(expected.size);
    const a = openKnowledgeBase(kbRf2);
    const b = openKnowledgeBase(kbRrf);
    try {
      const c = concepts[7];
      const code = sctid(c.index + 1, "concept");
      expect(a.lookup(c.names[1], groupOf(c.tag.tag))?.codes).toContain(code);
      expect(b.lookup(c.names[1], groupOf(c.tag.tag))?.codes).toContain(code);
      expect(a.concept(code)?.title).toBe(c.names[1]); // the preferred synonym
    } finally {
      a.close();
      b.close();
    }
  });
});
