/**
 * Hierarchy edges from every reader that has them, in the exact published layouts: an RF2 release with its
 * inferred relationship snapshot (and the stated / concrete-value files it ships beside it), UMLS MRREL.RRF,
 * OBO is_a and part_of, a gazetteer JSONL `parents` field. Expected edges are written out by hand.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, openHierarchy } from "../../../src/kb/index.js";
import { findRf2Files, gazetteerSource, oboSource, rf2Source, umlsSource } from "../../../src/kb/sources/index.js";
import { writeRf2Release } from "../../../src/testing/terminology-generator.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-relations-readers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The edges stored in an index, as sorted "child>parent:kind" strings. */
function storedEdges(kbPath: string): string[] {
  const db = new Database(kbPath, { readonly: true });
  try {
    return (db.prepare("SELECT child, parent, kind FROM relations").all() as { child: string; parent: string; kind: string }[]).map((r) => `${r.child}>${r.parent}:${r.kind}`).sort();
  } finally {
    db.close();
  }
}

// ---- SNOMED CT RF2 -------------------------------------------------------------------------------------------
const CORE = "900000000000207008";
const FSN = "900000000000003001";
const SYN = "900000000000013009";
const IS_A = "116680003"; // |Is a (attribute)|
const FINDING_SITE = "363698007";
const INFERRED = "900000000000011006";
const STATED = "900000000000010007";
const EXISTENTIAL = "900000000000451002";

function rf2(path: string, header: string, rows: string[][]): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, [header, ...rows.map((r) => r.join("\t"))].join("\r\n") + "\r\n");
}
const REL_H = "id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId\tcharacteristicTypeId\tmodifierId";
const rel = (id: string, et: string, active: string, source: string, dest: string, type = IS_A, char = INFERRED) => [id, et, active, CORE, source, dest, "0", type, char, EXISTENTIAL];

const RELEASE = join(dir, "SnomedCT_InternationalRF2_PRODUCTION_20240101T120000Z", "Snapshot", "Terminology");
const concepts: [string, string, string][] = [
  ["404684003", "1", "Clinical finding (finding)"],
  ["64572001", "1", "Disease (disorder)"],
  ["414545008", "1", "Ischemic heart disease (disorder)"],
  ["57809008", "1", "Myocardial disease (disorder)"],
  ["22298006", "1", "Myocardial infarction (disorder)"],
  ["11111111", "0", "Retired concept (disorder)"],
  ["123037004", "1", "Body structure (body structure)"],
  ["80891009", "1", "Heart structure (body structure)"],
];
rf2(join(RELEASE, "sct2_Concept_Snapshot_INT_20240101.txt"), "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId", concepts.map(([id, active]) => [id, "20020131", active, CORE, "900000000000074008"]));
rf2(
  join(RELEASE, "sct2_Description_Snapshot-en_INT_20240101.txt"),
  "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId",
  concepts.flatMap(([id, , fsn], i) => [
    [`${i + 1}0011`, "20020131", "1", CORE, id, "en", FSN, fsn, "900000000000448009"],
    [`${i + 1}0012`, "20020131", "1", CORE, id, "en", SYN, fsn.replace(/ \([^)]*\)$/, ""), "900000000000448009"],
  ]),
);
rf2(join(RELEASE, "sct2_Relationship_Snapshot_INT_20240101.txt"), REL_H, [
  rel("1001", "20020131", "1", "22298006", "414545008"), // kept
  rel("1002", "20020131", "1", "22298006", "57809008"), // kept: a second parent
  rel("1003", "20020131", "1", "414545008", "64572001"), // kept
  rel("1004", "20020131", "1", "57809008", "64572001"), // kept
  rel("1005", "20020131", "1", "64572001", "404684003"), // kept
  rel("1006", "20020131", "1", "22298006", "80891009", FINDING_SITE), // an attribute, not is-a
  rel("1007", "20020131", "1", "22298006", "11111111"), // to an inactive concept
  rel("1008", "20020131", "1", "22298006", "404684003"), // superseded by the next row
  rel("1008", "20200131", "0", "22298006", "404684003"), // ... which retires it
  rel("1009", "20020131", "0", "80891009", "123037004"), // inactive, then re-activated by the next row
  rel("1009", "20210131", "1", "80891009", "123037004"), // kept (both ends outside the KB's groups)
  rel("1010", "20020131", "0", "414545008", "404684003"), // inactive
  rel("1011", "20020131", "1", "57809008", "99999999"), // to a concept no concept file has
  ["1012", "20020131", "1", CORE, "22298006", "64572001", "0", IS_A, INFERRED], // malformed: 9 columns
]);
// Shipped beside it and not read: the stated view (another edge) and the concrete values (another layout).
rf2(join(RELEASE, "sct2_StatedRelationship_Snapshot_INT_20240101.txt"), REL_H, [rel("2001", "20020131", "1", "22298006", "64572001", IS_A, STATED)]);
rf2(join(RELEASE, "sct2_RelationshipConcreteValues_Snapshot_INT_20240101.txt"), "id\teffectiveTime\tactive\tmoduleId\tsourceId\tvalue\trelationshipGroup\ttypeId\tcharacteristicTypeId\tmodifierId", [["3001", "20020131", "1", CORE, "22298006", "#1", "0", "1142135004", INFERRED, EXISTENTIAL]]);

describe("hierarchy edges of the readers", () => {
  it("RF2: active inferred |Is a| rows, latest effectiveTime, between active concepts; stated and concrete files not read", async () => {
    const files = findRf2Files([join(dir, "SnomedCT_InternationalRF2_PRODUCTION_20240101T120000Z")]).map((f) => f.split("/").pop());
    expect(files).toContain("sct2_Relationship_Snapshot_INT_20240101.txt");
    expect(files).not.toContain("sct2_StatedRelationship_Snapshot_INT_20240101.txt");
    expect(files).not.toContain("sct2_RelationshipConcreteValues_Snapshot_INT_20240101.txt");
    const out = join(dir, "rf2.sqlite");
    const report = await buildKnowledgeBase([rf2Source([join(dir, "SnomedCT_InternationalRF2_PRODUCTION_20240101T120000Z")])], out);
    expect(storedEdges(out)).toEqual(
      ["22298006>414545008", "22298006>57809008", "414545008>64572001", "57809008>64572001", "64572001>404684003", "80891009>123037004"].map((e) => `${e}:is_a`).sort(),
    );
    expect(report.relations.outsideKb).toBe(1);
    expect(report.skippedByReason["malformed RF2 relationship row"]?.count).toBe(1);
    expect(openHierarchy(out).ancestors("22298006")).toEqual([
      { code: "414545008", distance: 1 },
      { code: "57809008", distance: 1 },
      { code: "64572001", distance: 2 },
      { code: "404684003", distance: 3 },
    ]);
  });

  it("the synthetic release of bench:kb: its relationship file is read whole, a DAG rooted once per semantic tag", async () => {
    const release = await writeRf2Release(join(dir, "generated"), { concepts: 200, seed: 5, relationships: true });
    const out = join(dir, "generated.sqlite");
    const report = await buildKnowledgeBase([rf2Source([release.folder], { includeFsn: true })], out);
    expect(report.relations.stored).toBe(release.relationships);
    const h = openHierarchy(out);
    expect(h.cycleEdgesIgnored).toBe(0);
    // Every concept but the first of each of the 4 tags (one is outside the KB's groups) has a parent; every ancestor chain ends at a tag root.
    const db = new Database(out, { readonly: true });
    const ids = db.prepare("SELECT child FROM relations UNION SELECT parent FROM relations").pluck().all() as string[];
    db.close();
    const roots = ids.filter((c) => h.parentsOf(c).length === 0);
    expect(roots).toHaveLength(4);
    for (const c of ids) if (!roots.includes(c)) expect(h.ancestors(c).some((a) => roots.includes(a.code))).toBe(true);
  });

  it("UMLS MRREL: PAR / CHD read right to left, the SAB filter, SUPPRESS, self edges and other RELs left out", async () => {
    const atom = (cui: string, aui: string, sab: string, code: string, str: string) => `${[cui, "ENG", "P", `L${aui}`, "PF", `S${aui}`, "Y", `A${aui}`, "", "", "", sab, "PT", code, str, "0", "N", "256"].join("|")}|`;
    writeFileSync(join(dir, "MRCONSO.RRF"), [
      atom("C0012634", "01", "SNOMEDCT_US", "64572001", "Disease"),
      atom("C0018799", "02", "SNOMEDCT_US", "56265001", "Heart disease"),
      atom("C0027051", "03", "SNOMEDCT_US", "22298006", "Myocardial infarction"),
      atom("C0015967", "04", "MSH", "D005334", "Fever"),
    ].join("\n") + "\n");
    writeFileSync(join(dir, "MRSTY.RRF"), ["C0012634", "C0018799", "C0027051", "C0015967"].map((c) => `${c}|T047|B2.2.1.2.1|Disease or Syndrome|AT1|256|`).join("\n") + "\n");
    // CUI1|AUI1|STYPE1|REL|CUI2|AUI2|STYPE2|RELA|RUI|SRUI|SAB|SL|RG|DIR|SUPPRESS|CVF|
    const r = (cui1: string, relName: string, cui2: string, sab: string, suppress = "N") => `${[cui1, "A1", "AUI", relName, cui2, "A2", "AUI", "", "R1", "", sab, sab, "", "", suppress, ""].join("|")}|`;
    writeFileSync(join(dir, "MRREL.RRF"), [
      r("C0027051", "PAR", "C0018799", "SNOMEDCT_US"), // MI has parent heart disease
      r("C0018799", "CHD", "C0027051", "SNOMEDCT_US"), // the same edge, other direction
      r("C0012634", "CHD", "C0018799", "SNOMEDCT_US"), // heart disease is a child of disease
      r("C0015967", "PAR", "C0012634", "MSH"), // another source
      r("C0027051", "RB", "C0012634", "SNOMEDCT_US"), // broader, not a hierarchy edge
      r("C0027051", "PAR", "C0027051", "SNOMEDCT_US"), // self
      r("C0015967", "PAR", "C0018799", "SNOMEDCT_US", "O"), // obsolete
      "C0027051|A1|AUI|PAR|C0018799|", // malformed
    ].join("\n") + "\n");
    const umls = (options: Parameters<typeof umlsSource>[1]) => umlsSource(join(dir, "MRCONSO.RRF"), { mrsty: join(dir, "MRSTY.RRF"), mrrel: join(dir, "MRREL.RRF"), ...options });
    const one = join(dir, "umls-one.sqlite");
    const report = await buildKnowledgeBase([umls({ sab: ["SNOMEDCT_US"] })], one);
    expect(storedEdges(one)).toEqual(["C0018799>C0012634:is_a", "C0027051>C0018799:is_a"]);
    expect(report.skippedByReason["malformed MRREL row"]?.count).toBe(1);
    const both = join(dir, "umls-both.sqlite");
    await buildKnowledgeBase([umls({ sab: ["SNOMEDCT_US", "MSH"] })], both);
    expect(storedEdges(both)).toEqual(["C0015967>C0012634:is_a", "C0018799>C0012634:is_a", "C0027051>C0018799:is_a"]);
    const codes = join(dir, "umls-codes.sqlite");
    await buildKnowledgeBase([umls({ sab: ["SNOMEDCT_US"], codeFrom: "SNOMEDCT_US" })], codes);
    expect(storedEdges(codes)).toEqual(["22298006>56265001:is_a", "56265001>64572001:is_a"]);
  });

  it("OBO: is_a and relationship: part_of kept apart, obsolete terms give none; JSONL parents arrays", async () => {
    const obo = join(dir, "anatomy.obo");
    writeFileSync(obo, [
      "format-version: 1.4", "", "[Term]", "id: A:1", "name: heart", "is_a: A:0 ! organ", "relationship: part_of A:9 {source=\"x\"} ! cardiovascular system", "relationship: has_part A:7 ! valve",
      "", "[Term]", "id: A:2", "name: mitral valve", "is_a: A:7 ! valve", "relationship: BFO:0000050 A:1 ! heart",
      "", "[Term]", "id: A:3", "name: old heart", "is_obsolete: true", "is_a: A:0", "",
      "[Typedef]", "id: part_of", "name: part of", "",
    ].join("\n"));
    const oboKb = join(dir, "obo.sqlite");
    const report = await buildKnowledgeBase([oboSource(obo, { group: "ANAT" })], oboKb);
    expect(storedEdges(oboKb)).toEqual(["A:1>A:0:is_a", "A:1>A:9:part_of", "A:2>A:1:part_of", "A:2>A:7:is_a"]);
    expect(report.relations.byKind).toEqual({ is_a: 2, part_of: 2 });
    expect(openHierarchy(oboKb).ancestors("A:2")).toEqual([{ code: "A:7", distance: 1 }]);
    expect(openHierarchy(oboKb, { kinds: ["part_of"] }).ancestors("A:2")).toEqual([{ code: "A:1", distance: 1 }, { code: "A:9", distance: 2 }]);

    const jsonl = join(dir, "terms.jsonl");
    writeFileSync(jsonl, [{ code: "X1", name: "root", group: "G" }, { code: "X2", name: "child", group: "G", parents: ["X1"] }, { code: "X3", name: "grandchild", group: "G", parents: "X2|X1" }].map((o) => JSON.stringify(o)).join("\n") + "\n");
    const jsonlKb = join(dir, "jsonl.sqlite");
    await buildKnowledgeBase([gazetteerSource(jsonl, "jsonl")], jsonlKb);
    expect(storedEdges(jsonlKb)).toEqual(["X2>X1:is_a", "X3>X1:is_a", "X3>X2:is_a"]);
  });
});
