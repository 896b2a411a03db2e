import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, openKnowledgeBase } from "../../../src/kb/index.js";
import { groupMapFrom, readSemGroups, umlsSource } from "../../../src/kb/sources/index.js";
import { openXrefMap } from "../../../src/kb/xrefs.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-umls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One MRCONSO.RRF line: the 18 published fields in order, then the trailing bar. */
function atom(f: { cui: string; lat: string; ts: string; stt?: string; ispref: string; aui: string; sab: string; tty: string; code: string; str: string; suppress?: string }): string {
  const fields = [f.cui, f.lat, f.ts, `L${f.aui.slice(1)}`, f.stt ?? "PF", `S${f.aui.slice(1)}`, f.ispref, f.aui, "", "", "", f.sab, f.tty, f.code, f.str, "0", f.suppress ?? "N", "256"];
  expect(fields).toHaveLength(18);
  return `${fields.join("|")}|`;
}

const MRCONSO = [
  atom({ cui: "C0011849", lat: "ENG", ts: "P", ispref: "Y", aui: "A0000001", sab: "MSH", tty: "MH", code: "D003920", str: "Diabetes Mellitus" }), // 1
  atom({ cui: "C0011849", lat: "ENG", ts: "S", ispref: "Y", aui: "A0000002", sab: "SNOMEDCT_US", tty: "PT", code: "73211009", str: "Diabetes mellitus" }), // 2
  atom({ cui: "C0011849", lat: "SPA", ts: "P", ispref: "Y", aui: "A0000003", sab: "SCTSPA", tty: "PT", code: "73211009", str: "diabetes mellitus" }), // 3
  atom({ cui: "C0011849", lat: "SPA", ts: "S", ispref: "N", aui: "A0000004", sab: "SCTSPA", tty: "SY", code: "73211009", str: "diabetes sacarina" }), // 4
  atom({ cui: "C0011849", lat: "SPA", ts: "S", ispref: "N", aui: "A0000005", sab: "SCTSPA", tty: "SY", code: "73211009", str: "diabetes obsoleta", suppress: "O" }), // 5
  atom({ cui: "C0015967", lat: "ENG", ts: "P", ispref: "Y", aui: "A0000006", sab: "MSH", tty: "MH", code: "D005334", str: "Fever" }), // 6
  atom({ cui: "C0015967", lat: "SPA", ts: "P", ispref: "Y", aui: "A0000007", sab: "SCTSPA", tty: "PT", code: "386661006", str: "fiebre" }), // 7
  atom({ cui: "C0015967", lat: "SPA", ts: "S", ispref: "N", aui: "A0000008", sab: "MSHSPA", tty: "EN", code: "D005334", str: "pirexia" }), // 8
  atom({ cui: "C0003611", lat: "SPA", ts: "P", ispref: "Y", aui: "A0000009", sab: "SCTSPA", tty: "PT", code: "80146002", str: "apendicectomía" }), // 9
  atom({ cui: "C0003611", lat: "SPA", ts: "P", ispref: "Y", aui: "A0000010", sab: "SCTSPA", tty: "PT", code: "174041007", str: "extirpación del apéndice" }), // 10
  atom({ cui: "C9999999", lat: "SPA", ts: "P", ispref: "Y", aui: "A0000011", sab: "SCTSPA", tty: "PT", code: "1", str: "sin tipo semántico" }), // 11
  "C0000001|SPA|P|broken|", // 12: malformed
];
const MRSTY = ["C0011849|T047|B2.2.1.2.1|Disease or Syndrome|AT17698432|256|", "C0015967|T184|A2.2.2|Sign or Symptom|AT17621633|256|", "C0003611|T061|B1.3.1.3|Therapeutic or Preventive Procedure|AT17590392|256|"];
const SEMGROUPS = ["DISO|Disorders|T047|Disease or Syndrome", "DISO|Disorders|T184|Sign or Symptom", "PROC|Procedures|T061|Therapeutic or Preventive Procedure"];

const conso = join(dir, "MRCONSO.RRF");
const sty = join(dir, "MRSTY.RRF");
const groups = join(dir, "SemGroups.txt");
writeFileSync(conso, `${MRCONSO.join("\n")}\n`);
writeFileSync(sty, `${MRSTY.join("\n")}\n`);
writeFileSync(groups, `${SEMGROUPS.join("\n")}\n`);

describe("UMLS RRF reader", () => {
  it("reads SemGroups.txt", () => {
    expect(readSemGroups(groups).get("T184")).toEqual({ abbr: "DISO", group: "Disorders", type: "Sign or Symptom" });
  });

  it("keeps Spanish atoms by CUI, groups from semantic groups, SUPPRESS and malformed rows reported, xrefs per CUI", async () => {
    const out = join(dir, "kb.sqlite");
    const report = await buildKnowledgeBase([umlsSource(conso, { mrsty: sty, semGroups: groups, lat: ["SPA"] })], out);
    expect(report.rowsRead).toBe(12);
    const reasons = Object.fromEntries(Object.entries(report.skippedByReason).map(([k, v]) => [k, v.count]));
    expect(reasons).toEqual({ "malformed MRCONSO row": 1, "LAT not selected": 3, "suppressed or obsolete (SUPPRESS)": 1, "semantic type not mapped to a group": 1 });
    expect(report.skippedByReason["malformed MRCONSO row"].examples[0].line).toBe(12);
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.groups()).toEqual(["DISO", "PROC"]);
      expect(kb.lookup("diabetes sacarina", "DISO")?.code).toBe("C0011849");
      expect(kb.lookup("pirexia", "DISO")?.code).toBe("C0015967");
      expect(kb.lookup("diabetes obsoleta", "DISO")).toBeUndefined();
      expect(kb.concept("C0011849")?.title).toBe("diabetes mellitus"); // TS=P, STT=PF, ISPREF=Y
      expect(kb.concept("C0011849")?.semanticTypes).toEqual(["T047"]);
    } finally {
      kb.close();
    }
    const mesh = openXrefMap(out, "MSH");
    try {
      expect(mesh.map("C0011849")).toEqual(["D003920"]);
      expect(mesh.map("C0003611")).toEqual([]);
    } finally {
      mesh.close();
    }
    const sct = openXrefMap(out, "SCTSPA");
    try {
      expect(sct.map("C0003611")).toEqual(["174041007", "80146002"]); // one-to-many, explicit
    } finally {
      sct.close();
    }
  });

  it("filters SAB, TTY and ISPREF, maps groups by TUI, takes codes from a source", async () => {
    const out = join(dir, "kb-sct.sqlite");
    const groupMap = groupMapFrom([["T047", "ENFERMEDAD"], ["T184", "SINTOMA"], ["Procedures", "PROCEDIMIENTO"]]);
    const report = await buildKnowledgeBase([umlsSource(conso, { mrsty: sty, semGroups: groups, groupMap, sab: ["SCTSPA"], tty: ["PT", "SY"], isprefOnly: true, codeFrom: "SCTSPA" })], out);
    expect(report.skippedByReason["SAB not selected"].count).toBe(4);
    expect(report.skippedByReason["not ISPREF=Y"].count).toBe(1); // line 4 (line 5 is suppressed first)
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.groups()).toEqual(["ENFERMEDAD", "PROCEDIMIENTO", "SINTOMA"]);
      expect(kb.lookup("diabetes mellitus", "ENFERMEDAD")?.codes).toEqual(["73211009"]);
      expect(kb.lookup("fiebre", "SINTOMA")?.code).toBe("386661006");
      // A CUI with two SCTSPA codes: each name gets both.
      expect(kb.lookup("apendicectomía", "PROCEDIMIENTO")?.codes).toEqual(["80146002", "174041007"]);
    } finally {
      kb.close();
    }
  });
});
