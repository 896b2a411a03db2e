import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readBigbio } from "../../src/data/bigbio.js";
import { readBrat } from "../../src/data/brat.js";
import { readPubtator } from "../../src/data/pubtator.js";
import { readDataset } from "../../src/data/read-dataset.js";
import { readSpaccc } from "../../src/data/spaccc.js";
import type { Dataset } from "../../src/data/types.js";
import { SyncabelError } from "../../src/errors.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-data-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(rel: string, text: string): string {
  const path = join(dir, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** Offsets of `needle` in `text` (its first occurrence at or after `from`), computed independently of the readers. */
function at(text: string, needle: string, from = 0): [number, number] {
  const s = text.indexOf(needle, from);
  if (s < 0) throw new Error(`fixture: ${needle} not in text`);
  return [s, s + needle.length];
}

function errorsOf(d: Dataset) {
  return d.problems.filter((p) => p.severity === "error");
}

async function rejection(p: Promise<unknown>): Promise<SyncabelError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SyncabelError) return e;
    throw e;
  }
  throw new Error("expected a rejection");
}

const DOC_A = "Paciente con fiebre alta.\nSe realiza una biopsia renal.";
const DOC_B = "Dolor torácico \"opresivo\" y disnea.";

function spacccFixture(extraRows: string[] = []): string {
  write("texts/docA.txt", DOC_A);
  write("texts/docB.txt", DOC_B);
  const [f0, f1] = at(DOC_A, "fiebre alta");
  const [b0, b1] = at(DOC_A, "biopsia renal");
  const [d0, d1] = at(DOC_B, "Dolor torácico");
  const [q0, q1] = at(DOC_B, "\"opresivo\"");
  const rows = [
    "filename\tlabel\tstart_span\tend_span\tspan\tcode\tsemantic_rel",
    `docA\tSINTOMA\t${f0}\t${f1}\tfiebre alta\t386661006\tEXACT`,
    `docA\tPROCEDIMIENTO\t${b0}\t${b1}\tbiopsia renal\t1+2\tCOMPOSITE`,
    `docB\tSINTOMA\t${d0}\t${d1}\tDolor torácico\tNO_CODE\tNO_CODE`,
    // a CSV-mangled span (quotes doubled) whose offsets are right: kept, with a warning
    `docB\tSINTOMA\t${q0}\t${q1}\t"""opresivo"""\t3\tEXACT`,
    ...extraRows,
  ];
  return write("gold.tsv", `${rows.join("\n")}\n`);
}

describe("readSpaccc", () => {
  it("groups rows into documents, reads composite and NO_CODE codes, texts beside the TSV", async () => {
    const d = await readSpaccc(spacccFixture());
    expect(d.documents.map((x) => x.id)).toEqual(["docA", "docB"]);
    const [a, b] = d.documents;
    expect(a?.text).toBe(DOC_A);
    expect(a?.mentions.map((m) => m.text)).toEqual(["fiebre alta", "biopsia renal"]);
    expect(a?.mentions[1]?.codes).toEqual(["1", "2"]);
    expect(a?.mentions[1]?.semanticRel).toBe("COMPOSITE");
    expect(b?.mentions[0]?.codes).toEqual([]);
    expect(b?.mentions[1]?.text).toBe("\"opresivo\"");
    for (const doc of d.documents) for (const m of doc.mentions) expect(doc.text.slice(m.fragments[0]?.start, m.fragments[0]?.end)).toBe(m.text);
    expect(errorsOf(d)).toEqual([]);
    expect(d.problems).toHaveLength(1);
    expect(d.problems[0]).toMatchObject({ severity: "warning", line: 5, document: "docB" });
  });

  it("reports a wrong offset, a short row and a bad number with file and line, and keeps the other rows", async () => {
    const path = spacccFixture([
      "docA\tSINTOMA\t0\t8\tfiebre\t1\tEXACT", // line 6: text at 0-8 is "Paciente"
      "docA\tSINTOMA\t0\t8", // line 7: 4 columns
      "docA\tSINTOMA\tx\t8\tPaciente\t1\tEXACT", // line 8
      `docA\tSINTOMA\t${DOC_A.length - 2}\t${DOC_A.length + 5}\tnal.\t1\tEXACT`, // line 9: past the end
    ]);
    const d = await readSpaccc(path);
    const errs = errorsOf(d);
    expect(errs.map((p) => [p.code, p.line])).toEqual([
      ["DATA_OFFSET_MISMATCH", 6],
      ["DATA_BAD_ROW", 7],
      ["DATA_BAD_ROW", 8],
      ["DATA_OFFSET_MISMATCH", 9],
    ]);
    expect(errs.every((p) => p.file === path)).toBe(true);
    expect(errs.find((p) => p.line === 6)?.message).toContain("Paciente");
    expect(d.documents[0]?.mentions).toHaveLength(2);
  });

  it("strict mode throws the first bad row naming file, line and document", async () => {
    const path = spacccFixture(["docA\tSINTOMA\t0\t8\tfiebre\t1\tEXACT"]);
    const e = await rejection(readSpaccc(path, { strict: true }));
    expect(e.code).toBe("DATA_OFFSET_MISMATCH");
    expect(e.message).toContain(`${path}:6`);
    expect(e.message).toContain("docA");
  });

  it("a missing text file skips that document with DATA_FILE_MISSING naming the file", async () => {
    const path = spacccFixture(["docZ\tSINTOMA\t0\t4\tabcd\t1\tEXACT"]);
    const d = await readSpaccc(path);
    expect(d.documents.map((x) => x.id)).toEqual(["docA", "docB"]);
    const p = errorsOf(d)[0];
    expect(p?.code).toBe("DATA_FILE_MISSING");
    expect(p?.document).toBe("docZ");
    expect(p?.message).toContain(join(dir, "texts", "docZ.txt"));
    const e = await rejection(readSpaccc(path, { strict: true }));
    expect(e.code).toBe("DATA_FILE_MISSING");
  });

  it("--texts overrides the texts folder; a missing folder or a bad header throws", async () => {
    const path = spacccFixture();
    write("other/docA.txt", DOC_A);
    write("other/docB.txt", DOC_B);
    rmSync(join(dir, "texts"), { recursive: true });
    const e1 = await rejection(readSpaccc(path));
    expect(e1.code).toBe("DATA_FILE_MISSING");
    expect(e1.message).toContain(join(dir, "texts"));
    const d = await readDataset(path, { format: "spaccc", textsDir: join(dir, "other") });
    expect(d.documents).toHaveLength(2);
    const bad = write("bad.tsv", "filename\tlabel\tstart\tend_span\tspan\tcode\ndocA\tX\t0\t1\tP\t1\n");
    const e2 = await rejection(readSpaccc(bad, { textsDir: join(dir, "other") }));
    expect(e2.code).toBe("DATA_BAD_COLUMNS");
    expect(e2.message).toContain(`${bad}:1`);
    expect(e2.message).toContain("start_span");
    const e3 = await rejection(readSpaccc(join(dir, "nope.tsv")));
    expect(e3.code).toBe("DATA_FILE_MISSING");
  });
});

describe("readPubtator", () => {
  const title = "Lithium toxicity in a newborn.";
  const abstract = "A newborn with atrial flutter and heart failure after lithium carbonate.";
  const text = `${title} ${abstract}`;
  function fixture(extra = ""): string {
    const m = (needle: string, type: string, ids: string): string => {
      const [s, e] = at(text, needle, needle === "lithium carbonate" ? title.length : 0);
      return `111\t${s}\t${e}\t${needle}\t${type}\t${ids}`;
    };
    return write(
      "corpus.txt",
      [
        `111|t|${title}`,
        `111|a|${abstract}`,
        m("Lithium", "Chemical", "D008094"),
        m("atrial flutter", "Disease", "D001282"),
        m("heart failure", "Disease", "D006333|D003866"),
        m("lithium carbonate", "Chemical", "-1"),
        "111\tCID\tD008094\tD001282",
        extra,
        "",
        "222|t|Second title.",
        "222|a|Second abstract.",
        "",
      ].join("\n"),
    );
  }

  it("joins title and abstract, splits composite ids, maps -1 to no code, ignores relations", async () => {
    const d = await readPubtator(fixture());
    expect(d.documents.map((x) => x.id)).toEqual(["111", "222"]);
    const doc = d.documents[0];
    expect(doc?.text).toBe(text);
    expect(doc?.language).toBe("en");
    expect(doc?.mentions.map((m) => [m.text, m.label, m.codes])).toEqual([
      ["Lithium", "Chemical", ["D008094"]],
      ["atrial flutter", "Disease", ["D001282"]],
      ["heart failure", "Disease", ["D006333", "D003866"]],
      ["lithium carbonate", "Chemical", []],
    ]);
    expect(d.documents[1]?.text).toBe("Second title. Second abstract.");
    expect(d.problems).toEqual([]);
  });

  it("reports wrong offsets and short lines with their line numbers", async () => {
    const path = fixture("111\t0\t7\tnewborn\tDisease\tD1\n111\t3\t5");
    const d = await readPubtator(path);
    expect(errorsOf(d).map((p) => [p.code, p.line, p.document])).toEqual([
      ["DATA_OFFSET_MISMATCH", 8, "111"],
      ["DATA_BAD_ROW", 9, "111"],
    ]);
    expect(d.documents[0]?.mentions).toHaveLength(4);
  });

  it("a block without title/abstract lines is skipped with its line", async () => {
    const path = write("c.txt", "333|x|oops\n333\t0\t1\tA\tChemical\tD1\n\n444|t|T.\n444|a|A.\n");
    const d = await readPubtator(path);
    expect(d.documents.map((x) => x.id)).toEqual(["444"]);
    expect(errorsOf(d)[0]).toMatchObject({ code: "DATA_BAD_ROW", line: 1, file: path });
  });
});

describe("readBrat", () => {
  const text = "Dolor en el pecho y en el brazo izquierdo. Sin fiebre.";
  it("reads discontinuous entities and # / N normalisation notes", async () => {
    write("brat/doc1.txt", text);
    const [p0, p1] = at(text, "Dolor");
    const [q0, q1] = at(text, "brazo izquierdo");
    const [f0, f1] = at(text, "fiebre");
    const [c0, c1] = at(text, "pecho");
    write(
      "brat/doc1.ann",
      [
        `T1\tSINTOMA ${p0} ${p1};${q0} ${q1}\tDolor brazo izquierdo`,
        `T2\tSINTOMA ${f0} ${f1}\tfiebre`,
        `T3\tSINTOMA ${c0} ${c1}\tpecho`,
        "#1\tReference T1 SNOMED:123+456",
        "N1\tReference T2 SNOMED:386661006\tfiebre",
        "#2\tAnnotatorNotes T3\t789",
        "#3\tAnnotatorNotes T9\t1",
        "R1\tRel Arg1:T1 Arg2:T2",
      ].join("\n"),
    );
    const d = await readBrat(join(dir, "brat"));
    const doc = d.documents[0];
    expect(doc?.id).toBe("doc1");
    expect(doc?.mentions.map((m) => [m.id, m.text, m.fragments.length, m.codes])).toEqual([
      ["T1", "Dolor brazo izquierdo", 2, ["123", "456"]],
      ["T2", "fiebre", 1, ["386661006"]],
      ["T3", "pecho", 1, ["789"]],
    ]);
    expect(d.problems.map((p) => [p.severity, p.line])).toEqual([["warning", 7]]);
  });

  it("wrong offsets, bad entity lines and a missing .txt are reported with file and line", async () => {
    write("brat/a.txt", text);
    write("brat/a.ann", "T1\tSINTOMA 0 5\tfiebre\nT2\tSINTOMA zero 5\tDolor\nT3\tSINTOMA 0 5\tDolor\n");
    write("brat/b.ann", "T1\tSINTOMA 0 5\tDolor\n");
    const d = await readBrat(join(dir, "brat"));
    expect(d.documents.map((x) => x.id)).toEqual(["a"]);
    expect(d.documents[0]?.mentions.map((m) => m.id)).toEqual(["T3"]);
    expect(errorsOf(d).map((p) => [p.code, p.file, p.line])).toEqual([
      ["DATA_OFFSET_MISMATCH", join(dir, "brat", "a.ann"), 1],
      ["DATA_BAD_ROW", join(dir, "brat", "a.ann"), 2],
      ["DATA_FILE_MISSING", join(dir, "brat", "b.ann"), undefined],
    ]);
    expect(errorsOf(d)[2]?.message).toContain(join(dir, "brat", "b.txt"));
  });
});

describe("readBigbio", () => {
  const title = "Fiebre y tos.";
  const body = "El paciente presenta neumonía.";
  function doc(id: string, entities: unknown[]): unknown {
    return {
      id,
      document_id: id,
      passages: [
        { id: "p1", type: "title", text: [title], offsets: [[0, title.length]] },
        { id: "p2", type: "abstract", text: [body], offsets: [[title.length + 1, title.length + 1 + body.length]] },
      ],
      entities,
    };
  }
  const full = `${title}\n${body}`;
  const ents = () => {
    const [a0, a1] = at(full, "Fiebre");
    const [b0, b1] = at(full, "tos");
    const [n0, n1] = at(full, "neumonía");
    return [
      { id: "e1", type: "SINTOMA", text: ["Fiebre tos"], offsets: [[a0, a1], [b0, b1]], normalized: [{ db_name: "SNOMED", db_id: "1" }] },
      { id: "e2", type: "ENFERMEDAD", text: ["neumonía"], offsets: [[n0, n1]], normalized: [{ db_name: "SNOMED", db_id: "2" }, { db_name: "SNOMED", db_id: "3" }] },
      { id: "e3", type: "ENFERMEDAD", text: ["tos"], offsets: [[n0, n1]], normalized: [] },
    ];
  };

  it("reads a JSON array: passages placed at their offsets, discontinuous entities, several codes", async () => {
    const d = await readBigbio(write("ds.json", JSON.stringify([doc("d1", ents())])));
    const x = d.documents[0];
    expect(x?.text).toBe(full);
    expect(x?.mentions.map((m) => [m.id, m.text, m.codes])).toEqual([
      ["e1", "Fiebre tos", ["1"]],
      ["e2", "neumonía", ["2", "3"]],
    ]);
    expect(errorsOf(d)).toEqual([expect.objectContaining({ code: "DATA_OFFSET_MISMATCH", document: "d1" })]);
  });

  it("reads JSONL and reports a broken line by number", async () => {
    const path = write("ds.jsonl", `${JSON.stringify(doc("d1", ents()))}\n{oops\n${JSON.stringify(doc("d2", []))}\n`);
    const d = await readDataset(path, { format: "bigbio" });
    expect(d.documents.map((x) => x.id)).toEqual(["d1", "d2"]);
    expect(errorsOf(d).map((p) => [p.code, p.line])).toEqual([
      ["DATA_OFFSET_MISMATCH", 1],
      ["DATA_BAD_ROW", 2],
    ]);
  });
});

const SHARED = fileURLToPath(new URL("../../../shared/data/", import.meta.url));
describe.skipIf(!existsSync(join(SHARED, "spaccc", "test-dev.tsv")))("real data (../shared/data)", () => {
  it("SPACCC train and test-dev counts match the README", async () => {
    const train = await readDataset(join(SHARED, "spaccc", "train.tsv"), { format: "spaccc" });
    expect(train.documents).toHaveLength(750);
    expect(train.documents.reduce((a, d) => a + d.mentions.length, 0)).toBe(18973);
    expect(errorsOf(train)).toEqual([]);
    const dev = await readDataset(join(SHARED, "spaccc", "test-dev.tsv"), { format: "spaccc" });
    expect(dev.documents).toHaveLength(116);
    expect(dev.documents.reduce((a, d) => a + d.mentions.length, 0)).toBe(4155);
  });
  it("BC5CDR dev has 500 abstracts and every mention fits its text", async () => {
    const d = await readDataset(join(SHARED, "bc5cdr", "dev_corpus.txt"), { format: "pubtator" });
    expect(d.documents).toHaveLength(500);
    expect(d.problems).toEqual([]);
    for (const doc of d.documents) for (const m of doc.mentions) expect(doc.text.slice(m.fragments[0]?.start, m.fragments[0]?.end)).toBe(m.text);
  });
});
