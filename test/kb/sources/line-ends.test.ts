/**
 * Line ends in the terminology readers (RF2, UMLS RRF, OBO 1.2, translation tables): only LF ends a record, CRLF
 * reads like LF, and a lone CR inside a term stays in it, so the builder's row checks report that row at its own
 * file:line instead of the reader splitting it in two and shifting every later line number.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, openKnowledgeBase, type BuildReport, type SourceItem, type TermSource } from "../../../src/kb/index.js";
import { oboSource, rf2Source, translationSource, umlsSource } from "../../../src/kb/sources/index.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-line-ends-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EOLS = { LF: "\n", CRLF: "\r\n" } as const;
type Eol = keyof typeof EOLS;

function write(path: string, lines: readonly string[], eol: Eol): { path: string; text: string } {
  mkdirSync(join(path, ".."), { recursive: true });
  const text = lines.map((l) => l + EOLS[eol]).join("");
  writeFileSync(path, text);
  return { path, text };
}

/** 1-based line of the first occurrence of `marker` in `text`, counting LF only (the reference for reports). */
function lineOf(text: string, marker: string): number {
  const at = text.indexOf(marker);
  expect(at).toBeGreaterThanOrEqual(0);
  return text.slice(0, at).split("\n").length;
}

async function itemsOf(source: TermSource): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const item of source.items()) out.push(item);
  return out;
}
const rowsOf = (items: readonly SourceItem[]) => items.flatMap((i) => (i.kind === "row" ? [{ line: i.line, code: i.row.code, name: i.row.name }] : []));
const skipsOf = (items: readonly SourceItem[]) => items.flatMap((i) => (i.kind === "skip" ? [{ line: i.line, reason: i.reason }] : []));
/** Items without their file path, to compare the LF and CRLF copies of one file. */
const withoutFile = (items: readonly SourceItem[]) => items.map(({ file: _file, ...rest }) => rest);

/** The skipped rows the builder's row checks refused for a control character in the term. */
function controlCharSkips(report: BuildReport): { file: string; line: number }[] {
  return Object.entries(report.skippedByReason)
    .filter(([reason]) => /control character/.test(reason))
    .flatMap(([, r]) => r.examples.map((e) => ({ file: e.file, line: e.line })));
}

// ---------------------------------------------------------------------------------------------------------------
// SNOMED CT RF2: sct2_Concept / sct2_Description Snapshot files, tab-separated with the published header.
const CORE = "900000000000207008";
const FSN = "900000000000003001";
const SYN = "900000000000013009";
const CASE = "900000000000448009";
const PRIMITIVE = "900000000000074008";
const CONCEPT_H = "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId";
const DESC_H = "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId";
const desc = (id: string, concept: string, type: string, term: string): string => [id, "20020131", "1", CORE, concept, "en", type, term, CASE].join("\t");

function writeRf2(eol: Eol): { root: string; descPath: string; text: string } {
  const root = join(dir, `rf2-${eol}`, "SnomedCT_InternationalRF2_PRODUCTION_20240101T120000Z", "Snapshot", "Terminology");
  write(join(root, "sct2_Concept_Snapshot_INT_20240101.txt"), [CONCEPT_H, ["22298006", "20020131", "1", CORE, PRIMITIVE].join("\t"), ["386661006", "20020131", "1", CORE, PRIMITIVE].join("\t")], eol);
  const { path, text } = write(
    join(root, "sct2_Description_Snapshot-en_INT_20240101.txt"),
    [
      DESC_H, // line 1
      desc("751689013", "22298006", FSN, "Myocardial infarction (disorder)"), // 2
      desc("37436014", "22298006", SYN, "Myocardial infarction"), // 3
      desc("37441018", "22298006", SYN, "Heart\rattack"), // 4: lone CR inside the term
      desc("37442013", "22298006", SYN, "Cardiac infarction"), // 5
      desc("1220506015", "386661006", FSN, "Fever (finding)"), // 6
      desc("503560018", "386661006", SYN, "Fever"), // 7
      desc("503561019", "386661006", SYN, "Pyrexia\r"), // 8: lone CR at the end of the term (a trim must not hide it)
    ],
    eol,
  );
  return { root, descPath: path, text };
}

describe("RF2 description files", () => {
  for (const eol of Object.keys(EOLS) as Eol[]) {
    it(`${eol} line ends: a lone CR stays in the term, later line numbers are unchanged, the builder reports the row`, async () => {
      const { root, descPath, text } = writeRf2(eol);
      const items = await itemsOf(rf2Source([root]));
      expect(rowsOf(items)).toEqual([
        { line: lineOf(text, "37436014"), code: "22298006", name: "Myocardial infarction" },
        { line: lineOf(text, "37441018"), code: "22298006", name: "Heart\rattack" },
        { line: lineOf(text, "37442013"), code: "22298006", name: "Cardiac infarction" },
        { line: lineOf(text, "503560018"), code: "386661006", name: "Fever" },
        { line: lineOf(text, "503561019"), code: "386661006", name: "Pyrexia\r" },
      ]);
      expect(rowsOf(items).map((r) => r.line)).toEqual([3, 4, 5, 7, 8]);
      expect(skipsOf(items).map((s) => s.line)).toEqual([2, 6]); // the two FSNs, nothing malformed
      expect(skipsOf(items).every((s) => s.reason.startsWith("fully specified name"))).toBe(true);

      const out = join(dir, `rf2-${eol}.sqlite`);
      const report = await buildKnowledgeBase([rf2Source([root])], out);
      expect(controlCharSkips(report)).toEqual([
        { file: descPath, line: 4 },
        { file: descPath, line: 8 },
      ]);
      expect(report.rowsKept).toBe(3);
      const kb = openKnowledgeBase(out);
      try {
        expect(kb.lookup("Cardiac infarction", "ENFERMEDAD")?.code).toBe("22298006");
        expect(kb.lookup("Fever", "SINTOMA")?.code).toBe("386661006");
        expect(kb.lookup("Heart attack", "ENFERMEDAD")).toBeUndefined();
      } finally {
        kb.close();
      }
    });
  }

  it("reads the CRLF release exactly like the LF one", async () => {
    const lf = await itemsOf(rf2Source([writeRf2("LF").root]));
    const crlf = await itemsOf(rf2Source([writeRf2("CRLF").root]));
    expect(withoutFile(crlf)).toEqual(withoutFile(lf));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// UMLS: MRCONSO.RRF / MRSTY.RRF (pipe-delimited, trailing bar) and SemGroups.txt.
function atom(cui: string, lat: string, aui: string, sab: string, tty: string, code: string, str: string): string {
  const fields = [cui, lat, "P", `L${aui.slice(1)}`, "PF", `S${aui.slice(1)}`, "Y", aui, "", "", "", sab, tty, code, str, "0", "N", "256"];
  expect(fields).toHaveLength(18); // the published MRCONSO column count
  return `${fields.join("|")}|`;
}

function writeUmls(eol: Eol): { conso: string; text: string; mrsty: string; semGroups: string } {
  const d = join(dir, `umls-${eol}`);
  const { path: conso, text } = write(
    join(d, "MRCONSO.RRF"),
    [
      atom("C0011849", "ENG", "A0000001", "MSH", "MH", "D003920", "Diabetes Mellitus"), // 1
      atom("C0011849", "SPA", "A0000002", "SCTSPA", "PT", "73211009", "diabetes\rmellitus"), // 2: lone CR in STR
      atom("C0011849", "SPA", "A0000003", "SCTSPA", "SY", "73211009", "diabetes sacarina"), // 3
      atom("C0015967", "SPA", "A0000004", "SCTSPA", "PT", "386661006", "fiebre"), // 4
    ],
    eol,
  );
  // A lone CR inside a semantic type name (STY) stays there too: it is not a name and the row still counts.
  const mrsty = write(join(d, "MRSTY.RRF"), ["C0011849|T047|B2.2.1.2.1|Disease or Syndrome|AT17698432|256|", "C0015967|T184|A2.2.2|Sign or\rSymptom|AT17621633|256|"], eol).path;
  const semGroups = write(join(d, "SemGroups.txt"), ["DISO|Disorders|T047|Disease or Syndrome", "DISO|Disorders|T184|Sign or Symptom"], eol).path;
  return { conso, text, mrsty, semGroups };
}

describe("UMLS MRCONSO.RRF", () => {
  for (const eol of Object.keys(EOLS) as Eol[]) {
    it(`${eol} line ends: a lone CR stays in STR, later line numbers are unchanged, the builder reports the row`, async () => {
      const { conso, text, mrsty, semGroups } = writeUmls(eol);
      const items = await itemsOf(umlsSource(conso, { mrsty, semGroups }));
      expect(skipsOf(items)).toEqual([]);
      expect(rowsOf(items)).toEqual([
        { line: lineOf(text, "A0000001"), code: "C0011849", name: "Diabetes Mellitus" },
        { line: lineOf(text, "A0000002"), code: "C0011849", name: "diabetes\rmellitus" },
        { line: lineOf(text, "A0000003"), code: "C0011849", name: "diabetes sacarina" },
        { line: lineOf(text, "A0000004"), code: "C0015967", name: "fiebre" },
      ]);
      expect(rowsOf(items).map((r) => r.line)).toEqual([1, 2, 3, 4]);

      const out = join(dir, `umls-${eol}.sqlite`);
      const report = await buildKnowledgeBase([umlsSource(conso, { mrsty, semGroups })], out);
      expect(controlCharSkips(report)).toEqual([{ file: conso, line: 2 }]);
      const kb = openKnowledgeBase(out);
      try {
        expect(kb.lookup("diabetes sacarina", "DISO")?.code).toBe("C0011849");
        expect(kb.lookup("fiebre", "DISO")?.code).toBe("C0015967");
      } finally {
        kb.close();
      }
    });
  }

  it("reads the CRLF files exactly like the LF ones", async () => {
    const a = writeUmls("LF");
    const b = writeUmls("CRLF");
    const lf = await itemsOf(umlsSource(a.conso, { mrsty: a.mrsty, semGroups: a.semGroups }));
    const crlf = await itemsOf(umlsSource(b.conso, { mrsty: b.mrsty, semGroups: b.semGroups }));
    expect(withoutFile(crlf)).toEqual(withoutFile(lf));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// OBO 1.2 flat file.
function writeObo(eol: Eol): { path: string; text: string } {
  return write(
    join(dir, `obo-${eol}`, "doid.obo"),
    [
      "format-version: 1.2", // 1
      "default-namespace: disease_ontology", // 2
      "", // 3
      "[Term]", // 4
      "id: DOID:5844", // 5
      "name: myocardial\rinfarction", // 6: lone CR in the name
      'synonym: "heart attack" EXACT []', // 7
      'synonym: "cardiac\rinfarction" EXACT []', // 8: lone CR in a quoted synonym
      "", // 9
      "[Term]", // 10
      "id: DOID:9588", // 11
      "name: fever", // 12
      'synonym: "pyrexia" EXACT []', // 13
      "", // 14
      "[Term]", // 15
      "id: DOID:0000", // 16
      "name: \rheadache", // 17: lone CR at the start of the name (a trim must not hide it)
    ],
    eol,
  );
}

describe("OBO 1.2 stanzas", () => {
  for (const eol of Object.keys(EOLS) as Eol[]) {
    it(`${eol} line ends: a lone CR stays in the name or synonym, later line numbers are unchanged, the builder reports them`, async () => {
      const { path, text } = writeObo(eol);
      const items = await itemsOf(oboSource(path));
      expect(skipsOf(items)).toEqual([]);
      expect(rowsOf(items)).toEqual([
        { line: lineOf(text, "name: myocardial"), code: "DOID:5844", name: "myocardial\rinfarction" },
        { line: lineOf(text, '"heart attack"'), code: "DOID:5844", name: "heart attack" },
        { line: lineOf(text, '"cardiac'), code: "DOID:5844", name: "cardiac\rinfarction" },
        { line: lineOf(text, "name: fever"), code: "DOID:9588", name: "fever" },
        { line: lineOf(text, '"pyrexia"'), code: "DOID:9588", name: "pyrexia" },
        { line: lineOf(text, "headache"), code: "DOID:0000", name: "\rheadache" },
      ]);
      expect(rowsOf(items).map((r) => r.line)).toEqual([6, 7, 8, 12, 13, 17]);

      const out = join(dir, `obo-${eol}.sqlite`);
      const report = await buildKnowledgeBase([oboSource(path)], out);
      expect(controlCharSkips(report)).toEqual([
        { file: path, line: 6 },
        { file: path, line: 8 },
        { file: path, line: 17 },
      ]);
      const kb = openKnowledgeBase(out);
      try {
        expect(kb.lookup("heart attack", "disease_ontology")?.code).toBe("DOID:5844");
        expect(kb.lookup("pyrexia", "disease_ontology")?.code).toBe("DOID:9588");
      } finally {
        kb.close();
      }
    });
  }

  it("reads the CRLF file exactly like the LF one", async () => {
    const lf = await itemsOf(oboSource(writeObo("LF").path));
    const crlf = await itemsOf(oboSource(writeObo("CRLF").path));
    expect(withoutFile(crlf)).toEqual(withoutFile(lf));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Translation table in the doid-es-translated.tsv layout (spreadsheet quoting: quoted fields may span lines).
function writeTranslations(eol: Eol): { path: string; text: string } {
  return write(
    join(dir, `tr-${eol}`, "doid-es-translated.tsv"),
    [
      "source_id\tpredicate\tsource_text\ttranslation_text\tstatus\treview_notes", // 1
      "DOID:5844\trdfs:label\tmyocardial infarction\tinfarto\rde miocardio\tMANUALLY TRANSLATED\t", // 2: lone CR, unquoted
      'DOID:5844\toboInOwl:hasExactSynonym\theart attack\tataque cardíaco\tMANUALLY TRANSLATED\t"first note', // 3: quoted note spans
      'second note"', // 4   ... lines 3-4
      "DOID:9588\trdfs:label\tfever\tfiebre\tMANUALLY TRANSLATED\t", // 5
    ],
    eol,
  );
}

describe("translation tables", () => {
  for (const eol of Object.keys(EOLS) as Eol[]) {
    it(`${eol} line ends: a lone CR stays in the translation, record lines are unchanged, the builder reports the row`, async () => {
      const { path, text } = writeTranslations(eol);
      const items = await itemsOf(translationSource(path));
      expect(skipsOf(items)).toEqual([]);
      expect(rowsOf(items)).toEqual([
        { line: lineOf(text, "DOID:5844\trdfs"), code: "DOID:5844", name: "infarto\rde miocardio" },
        { line: lineOf(text, "DOID:5844\toboInOwl"), code: "DOID:5844", name: "ataque cardíaco" },
        { line: lineOf(text, "DOID:9588"), code: "DOID:9588", name: "fiebre" },
      ]);
      expect(rowsOf(items).map((r) => r.line)).toEqual([2, 3, 5]);

      const out = join(dir, `tr-${eol}.sqlite`);
      const obo = writeObo(eol).path;
      const report = await buildKnowledgeBase([oboSource(obo), translationSource(path)], out);
      expect(controlCharSkips(report)).toEqual([
        { file: obo, line: 6 },
        { file: obo, line: 8 },
        { file: obo, line: 17 },
        { file: path, line: 2 },
      ]);
      const kb = openKnowledgeBase(out);
      try {
        expect(kb.lookup("ataque cardíaco", "disease_ontology")?.code).toBe("DOID:5844");
        expect(kb.lookup("fiebre", "disease_ontology")?.code).toBe("DOID:9588");
      } finally {
        kb.close();
      }
    });
  }

  it("reads the CRLF table exactly like the LF one (a quoted field spanning lines gets LF either way)", async () => {
    const lf = await itemsOf(translationSource(writeTranslations("LF").path));
    const crlf = await itemsOf(translationSource(writeTranslations("CRLF").path));
    expect(withoutFile(crlf)).toEqual(withoutFile(lf));
  });
});
