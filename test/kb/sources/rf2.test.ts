import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, openKnowledgeBase } from "../../../src/kb/index.js";
import { findRf2Files, rf2Source, semanticTag } from "../../../src/kb/sources/index.js";

// RF2 metadata ids as published (not imported from the code under test).
const FSN = "900000000000003001";
const SYN = "900000000000013009";
const PREF = "900000000000548007";
const ACC = "900000000000549004";
const CORE = "900000000000207008";
const CASE = "900000000000448009";
const EN_US = "900000000000509007"; // US English language refset
const ES = "450828004"; // Latin-American Spanish language refset

const dir = mkdtempSync(join(tmpdir(), "syncabel-rf2-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write an RF2 file: header + rows, tab-separated, CRLF line ends (as released). */
function rf2(path: string, header: string[], rows: string[][]): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, [header, ...rows].map((r) => r.join("\t")).join("\r\n") + "\r\n");
  return path;
}
const CONCEPT_H = ["id", "effectiveTime", "active", "moduleId", "definitionStatusId"];
const DESC_H = ["id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term", "caseSignificanceId"];
const LANG_H = ["id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "acceptabilityId"];
const c = (id: string, et: string, active: string) => [id, et, active, CORE, "900000000000074008"];
const d = (id: string, et: string, active: string, concept: string, lang: string, type: string, term: string) => [id, et, active, CORE, concept, lang, type, term, CASE];
const l = (uuid: string, et: string, active: string, refset: string, desc: string, acc: string) => [uuid, et, active, CORE, refset, desc, acc];

// International edition (English).
const INT = join(dir, "SnomedCT_InternationalRF2_PRODUCTION_20240101T120000Z", "Snapshot");
rf2(join(INT, "Terminology", "sct2_Concept_Snapshot_INT_20240101.txt"), CONCEPT_H, [
  c("22298006", "20020131", "1"), // myocardial infarction
  c("386661006", "20020131", "1"), // fever
  c("80146002", "20020131", "1"), // appendectomy
  c("123037004", "20020131", "1"), // body structure (tag not mapped)
  c("11111111", "20020131", "0"), // inactive concept
]);
rf2(join(INT, "Terminology", "sct2_Description_Snapshot-en_INT_20240101.txt"), DESC_H, [
  d("751689013", "20020131", "1", "22298006", "en", FSN, "Myocardial infarction (disorder)"), // line 2
  d("37436014", "20020131", "1", "22298006", "en", SYN, "Myocardial infarction"), // 3: preferred
  d("37441018", "20020131", "1", "22298006", "en", SYN, "Cardiac infarction"), // 4: acceptable
  d("1784872019", "20020131", "0", "22298006", "en", SYN, "Heart attack old"), // 5: inactive
  d("1220506015", "20020131", "1", "386661006", "en", FSN, "Fever (finding)"), // 6
  d("503560018", "20020131", "1", "386661006", "en", SYN, "Fever"), // 7
  d("132967011", "20020131", "1", "80146002", "en", FSN, "Excision of appendix (procedure)"), // 8
  d("132970010", "20020131", "1", "80146002", "en", SYN, "Appendectomy"), // 9
  d("3000000001", "20020131", "1", "123037004", "en", FSN, "Body structure (body structure)"), // 10
  d("3000000002", "20020131", "1", "123037004", "en", SYN, "Body structure"), // 11: tag not mapped
  d("3000000003", "20020131", "1", "11111111", "en", FSN, "Old concept (disorder)"), // 12
  d("3000000004", "20020131", "1", "11111111", "en", SYN, "Old concept"), // 13: inactive concept
  d("3000000005", "20020131", "1", "99999999", "en", SYN, "Orphan"), // 14: concept absent
  d("3000000006", "20020131", "1", "22298006", "en", SYN, "Not in any refset"), // 15
]);
rf2(join(INT, "Refset", "Language", "der2_cRefset_LanguageSnapshot-en_INT_20240101.txt"), LANG_H, [
  l("a1", "20020131", "1", EN_US, "751689013", PREF),
  l("a2", "20020131", "1", EN_US, "37436014", PREF),
  l("a3", "20020131", "1", EN_US, "37441018", ACC),
  l("a4", "20020131", "1", EN_US, "1220506015", PREF),
  l("a5", "20020131", "1", EN_US, "503560018", PREF),
  l("a6", "20020131", "1", EN_US, "132967011", PREF),
  l("a7", "20020131", "1", EN_US, "132970010", PREF),
  l("a8", "20020131", "1", EN_US, "3000000002", PREF),
  l("a9", "20020131", "1", EN_US, "3000000004", PREF),
  l("a10", "20020131", "1", EN_US, "3000000005", PREF),
]);

// Spanish edition: a Full-style description file (two versions of one description) and its language refset.
const SPA = join(dir, "SnomedCT_SpanishRF2_PRODUCTION_20240331T120000Z", "Snapshot");
rf2(join(SPA, "Terminology", "sct2_Concept_SpanishExtensionSnapshot_INT_20240331.txt"), CONCEPT_H, []);
const SPA_DESC = rf2(join(SPA, "Terminology", "sct2_Description_SpanishExtensionSnapshot-es_INT_20240331.txt"), DESC_H, [
  d("2000001011", "20200131", "1", "22298006", "es", SYN, "infarto de miocardio antiguo"), // 2: superseded by line 3
  d("2000001011", "20231031", "1", "22298006", "es", SYN, "infarto de miocardio"), // 3: preferred es
  d("2000002011", "20231031", "1", "22298006", "es", SYN, "infarto cardíaco"), // 4: acceptable es
  d("2000003011", "20231031", "1", "386661006", "es", SYN, "fiebre"), // 5: preferred es
  d("2000004011", "20210131", "1", "386661006", "es", SYN, "pirexia"), // 6: later inactivated (line 7)
  d("2000004011", "20231031", "0", "386661006", "es", SYN, "pirexia"), // 7
  d("2000005011", "20231031", "1", "22298006", "es", FSN, "infarto de miocardio (trastorno)"), // 8
]);
rf2(join(SPA, "Refset", "Language", "der2_cRefset_LanguageSpanishExtensionSnapshot-es_INT_20240331.txt"), LANG_H, [
  l("b1", "20231031", "1", ES, "2000001011", PREF),
  l("b2", "20231031", "1", ES, "2000002011", ACC),
  l("b3", "20231031", "1", ES, "2000003011", PREF),
  l("b4", "20210131", "1", ES, "2000004011", ACC),
  l("b5", "20231031", "1", ES, "2000005011", PREF),
  l("b6", "20200131", "1", ES, "2000002011", PREF), // an older member row: the later one (acceptable) wins
]);

const editions = [join(dir, "SnomedCT_InternationalRF2_PRODUCTION_20240101T120000Z"), join(dir, "SnomedCT_SpanishRF2_PRODUCTION_20240331T120000Z")];

describe("SNOMED CT RF2 reader", () => {
  it("finds the Snapshot files of release folders and reads semantic tags", () => {
    expect(findRf2Files(editions).map((p) => p.split("/").pop())).toEqual([
      "der2_cRefset_LanguageSnapshot-en_INT_20240101.txt",
      "sct2_Concept_Snapshot_INT_20240101.txt",
      "sct2_Description_Snapshot-en_INT_20240101.txt",
      "der2_cRefset_LanguageSpanishExtensionSnapshot-es_INT_20240331.txt",
      "sct2_Concept_SpanishExtensionSnapshot_INT_20240331.txt",
      "sct2_Description_SpanishExtensionSnapshot-es_INT_20240331.txt",
    ]);
    expect(semanticTag("Excision of appendix (procedure)")).toBe("procedure");
    expect(semanticTag("Fracture (of bone) (disorder)")).toBe("disorder");
    expect(semanticTag("no tag")).toBeUndefined();
  });

  it("merges editions: active rows, latest effectiveTime, language refsets, FSN tag -> group", async () => {
    const out = join(dir, "kb.sqlite");
    const report = await buildKnowledgeBase([rf2Source(editions)], out);
    // 14 English + 7 Spanish description rows.
    expect(report.rowsRead).toBe(21);
    const reasons = Object.fromEntries(Object.entries(report.skippedByReason).map(([k, v]) => [k, v.count]));
    expect(reasons).toEqual({
      "fully specified name (use the FSN option to keep)": 5,
      "inactive description": 2,
      "semantic tag not mapped to a group": 1,
      "inactive concept": 2, // lines 12 (its FSN) and 13
      "concept not in any sct2_Concept file": 1,
      "not in a selected language refset": 1,
      "superseded by a later effectiveTime": 2,
    });
    const superseded = report.skippedByReason["superseded by a later effectiveTime"].examples.map((e) => `${e.file.split("/").pop()}:${e.line}`);
    expect(superseded).toEqual(["sct2_Description_SpanishExtensionSnapshot-es_INT_20240331.txt:2", "sct2_Description_SpanishExtensionSnapshot-es_INT_20240331.txt:6"]);
    expect(report.rowsKept).toBe(7); // 4 English synonyms + 3 current Spanish ones
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.groups()).toEqual(["ENFERMEDAD", "PROCEDIMIENTO", "SINTOMA"]);
      expect(kb.lookup("Myocardial infarction", "ENFERMEDAD")?.code).toBe("22298006");
      expect(kb.lookup("infarto de miocardio", "ENFERMEDAD")?.code).toBe("22298006");
      expect(kb.lookup("infarto cardíaco", "ENFERMEDAD")?.code).toBe("22298006");
      expect(kb.lookup("infarto de miocardio antiguo", "ENFERMEDAD")).toBeUndefined();
      expect(kb.lookup("fiebre", "SINTOMA")?.code).toBe("386661006");
      expect(kb.lookup("pirexia", "SINTOMA")).toBeUndefined();
      expect(kb.lookup("Appendectomy", "PROCEDIMIENTO")?.code).toBe("80146002");
      expect(kb.lookup("Excision of appendix", "PROCEDIMIENTO")).toBeUndefined(); // FSN not kept by default
      expect(kb.lookup("Body structure", "ENFERMEDAD")).toBeUndefined();
      const card = kb.concept("22298006");
      expect(card?.title).toBe("Myocardial infarction"); // the first preferred synonym read
      expect(card?.semanticTypes).toEqual(["disorder"]);
      expect([...(card?.names ?? [])].sort()).toEqual(["Cardiac infarction", "Myocardial infarction", "infarto cardíaco", "infarto de miocardio"]);
    } finally {
      kb.close();
    }
  });

  it("filters by language and acceptability, keeps FSNs on request, maps tags through a custom map", async () => {
    const out = join(dir, "kb-es.sqlite");
    const tagGroups = new Map([["trastorno", "DIS"], ["disorder", "DIS"], ["finding", "FIND"]]);
    await buildKnowledgeBase([rf2Source(editions, { languages: ["es"], acceptability: "preferred", includeFsn: true, tagGroups })], out);
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.groups()).toEqual(["DIS", "FIND"]);
      const names = [...kb.entriesOfGroup("DIS")].map((e) => e.name);
      // es preferred synonyms + the es FSN without its tag; "infarto cardíaco" is only acceptable.
      expect(names).toEqual(["infarto de miocardio"]);
      expect([...kb.entriesOfGroup("FIND")].map((e) => e.name)).toEqual(["fiebre"]);
    } finally {
      kb.close();
    }
    // Only the Spanish language refset counts: the 6 English synonyms of active, known concepts are in no
    // selected refset (lines 3, 4, 7, 9, 11, 15).
    const report = await buildKnowledgeBase([rf2Source(editions, { languageRefsets: [ES] })], join(dir, "kb-refset.sqlite"));
    expect(report.skippedByReason["not in a selected language refset"].count).toBe(6);
  });

  it("rejects a file that is not RF2, naming it", () => {
    const bad = join(dir, "bad", "sct2_Description_Snapshot-en_INT_20240101.txt");
    mkdirSync(join(dir, "bad"), { recursive: true });
    writeFileSync(bad, "id\tterm\n1\tx\n");
    return expect(buildKnowledgeBase([rf2Source([bad])], join(dir, "x.sqlite"))).rejects.toMatchObject({ code: "KB_FILE_INVALID", message: expect.stringContaining("bad/sct2_Description") });
  });
});
