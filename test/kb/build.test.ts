import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SyncabelError } from "../../src/errors.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../../src/kb/index.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-kb-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("buildKnowledgeBase from TSV", () => {
  it("reads columns by header name, cleans names, reports skipped lines with their numbers", async () => {
    // Columns out of order, aliases (name, cui, label), CRLF line ends, a BOM, a blank line, an unknown column.
    const tsv =
      "\ufeffname\textra\tcui\tlabel\r\n" +
      "  embolia\u00a0pulmonar  \tx\t59282003\tENFERMEDAD\r\n" + // line 2: NBSP + spaces
      "fiebre [alta]\tx\t386661006\tSINTOMA\r\n" + // line 3: brackets
      "\r\n" + // line 4: blank
      "\tx\t25064002\tSINTOMA\r\n" + // line 5: no name
      "tos\tx\t\tSINTOMA\r\n" + // line 6: no code
      "disnea\tx\t267036007\r\n" + // line 7: no group (short row)
      "tos\tx\t49727002\tSINTOMA\r\n" + // line 8
      "tos\tx\t49727002\tSINTOMA\r\n"; // line 9: duplicate
    const out = join(dir, "kb.sqlite");
    const report = await buildKnowledgeBase(write("terms.tsv", tsv), out);
    expect(report.rowsRead).toBe(7);
    expect(report.rowsSkipped).toBe(3);
    expect(report.rowsKept).toBe(4);
    expect(report.duplicatesMerged).toBe(1);
    expect(report.skipped.map((s) => s.line)).toEqual([5, 6, 7]);
    expect(report.skipped[0].reason).toMatch(/term/);
    expect(report.skipped[1].reason).toMatch(/code/);
    expect(report.skipped[2].reason).toMatch(/group/);
    expect(report.skipped.every((s) => s.file.endsWith("terms.tsv"))).toBe(true);
    expect(report.concepts).toBe(3);
    expect(report.names).toBe(3);
    // No temp or staging file left beside the output.
    expect(readdirSync(dir).sort()).toEqual(["kb.sqlite", "terms.tsv"]);

    const kb = openKnowledgeBase(out);
    try {
      expect(kb.lookup("embolia pulmonar", "ENFERMEDAD")?.code).toBe("59282003");
      expect(kb.lookup("  embolia pulmonar ", "ENFERMEDAD")?.code).toBe("59282003");
      expect(kb.lookup("fiebre (alta)", "SINTOMA")?.code).toBe("386661006");
      expect(kb.lookup("fiebre [alta]", "SINTOMA")).toBeUndefined();
      expect(kb.lookup("tos", "ENFERMEDAD")).toBeUndefined();
      expect(kb.groups()).toEqual(["ENFERMEDAD", "SINTOMA"]);
      expect(kb.hasGroup("SINTOMA")).toBe(true);
      expect(kb.hasGroup("PROCEDIMIENTO")).toBe(false);
    } finally {
      kb.close();
    }
  });

  it("fails clearly on a header without the required columns", async () => {
    const path = write("bad.tsv", "code\tword\tgroup\n1\tx\tG\n");
    await expect(buildKnowledgeBase(path, join(dir, "kb.sqlite"))).rejects.toMatchObject({ code: "KB_FILE_INVALID", message: expect.stringContaining("bad.tsv") });
    expect(readdirSync(dir)).toEqual(["bad.tsv"]);
  });

  it("fails with KB_EMPTY when no row is usable, and with KB_FILE_INVALID on a missing file", async () => {
    await expect(buildKnowledgeBase(write("empty.tsv", "code\tterm\tgroup\n\tx\tG\n"), join(dir, "kb.sqlite"))).rejects.toMatchObject({ code: "KB_EMPTY" });
    await expect(buildKnowledgeBase(join(dir, "nope.tsv"), join(dir, "kb.sqlite"))).rejects.toMatchObject({ code: "KB_FILE_INVALID" });
    const terms = write("ok.tsv", "code\tterm\tgroup\n1\tuno\tG\n");
    await expect(buildKnowledgeBase(terms, join(dir, "no-such-folder", "kb.sqlite"))).rejects.toMatchObject({ code: "IO_ERROR", message: expect.stringContaining("no-such-folder") });
  });
});

describe("buildKnowledgeBase from JSONL", () => {
  it("reads objects with name/term aliases and skips bad lines with their numbers", async () => {
    const lines = [
      JSON.stringify({ code: "73211009", term: "diabetes mellitus", group: "ENFERMEDAD", semantic_type: "trastorno", preferred: true }),
      JSON.stringify({ code: "73211009", name: "diabetes", group: "ENFERMEDAD", definition: "trastorno metabólico" }),
      "{not json",
      JSON.stringify({ code: "38341003", name: "HTA", group: "ENFERMEDAD" }),
      "",
      JSON.stringify({ code: 38341003, term: "hipertensión arterial", group: "ENFERMEDAD", preferred: 1, semantic_type: ["trastorno", "hallazgo"] }),
      JSON.stringify({ term: "sin código", group: "ENFERMEDAD" }),
      "[1, 2]",
    ];
    const out = join(dir, "kb.sqlite");
    const report = await buildKnowledgeBase(write("terms.jsonl", lines.join("\n") + "\n"), out);
    expect(report.format).toBe("jsonl");
    expect(report).toMatchObject({ rowsRead: 7, rowsKept: 4, rowsSkipped: 3, duplicatesMerged: 0, concepts: 2, names: 4 });
    expect(report.skipped.map((s) => s.line)).toEqual([3, 7, 8]);
    expect(report.skipped[0].reason).toMatch(/JSON/);

    const kb = openKnowledgeBase(out);
    try {
      const card = kb.concept("38341003");
      // Preferred flag picks the title even though it is not the first name seen.
      expect(card).toEqual({
        code: "38341003",
        title: "hipertensión arterial",
        groups: ["ENFERMEDAD"],
        semanticTypes: ["trastorno", "hallazgo"],
        definitions: [],
        names: ["HTA", "hipertensión arterial"],
      });
      expect(kb.concept("73211009")).toMatchObject({ title: "diabetes mellitus", semanticTypes: ["trastorno"], definitions: ["trastorno metabólico"] });
      expect(kb.namesOfCode("73211009")).toEqual([
        { name: "diabetes mellitus", group: "ENFERMEDAD" },
        { name: "diabetes", group: "ENFERMEDAD" },
      ]);
      expect(kb.concept("nope")).toBeUndefined();
    } finally {
      kb.close();
    }
  });
});

describe("KB index file", () => {
  const tsv =
    "code\tterm\tgroup\tpreferred\tsemantic_type\tdefinition\n" +
    "233604007\tneumonía\tENFERMEDAD\t1\ttrastorno\tinfección del pulmón\n" +
    "233604007\tpulmonía\tENFERMEDAD\t0\t\t\n" +
    "386661006\tfiebre\tSINTOMA\t\thallazgo\t\n" +
    "386661006\tfiebre\tENFERMEDAD\t\t\t\n" +
    "25064002\tcefalea\tSINTOMA\tdolor de cabeza\t\t\n" +
    "25064002\tdolor de cabeza\tSINTOMA\t\t\t\n" +
    "73761001\tcolonoscopia\tPROCEDIMIENTO\t\tprocedimiento\t\n";

  it("answers lookups, group listings, concept cards and stats after reopening", async () => {
    const out = join(dir, "kb.sqlite");
    await buildKnowledgeBase(write("kb.tsv", tsv), out);
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.groups()).toEqual(["ENFERMEDAD", "PROCEDIMIENTO", "SINTOMA"]);
      const sintomas = [...kb.entriesOfGroup("SINTOMA")];
      expect(sintomas.map((e) => e.name)).toEqual(["cefalea", "dolor de cabeza", "fiebre"]);
      expect(sintomas.every((e) => e.group === "SINTOMA" && e.codes.length === 1 && e.codes[0] === e.code)).toBe(true);
      expect([...kb.entriesOfGroup("NADA")]).toEqual([]);
      // Preferred given as text.
      expect(kb.concept("25064002")?.title).toBe("dolor de cabeza");
      expect(kb.concept("386661006")?.groups).toEqual(["ENFERMEDAD", "SINTOMA"]);
      expect(kb.concept("386661006")?.names).toEqual(["fiebre"]);
      expect(kb.concept("233604007")).toMatchObject({ title: "neumonía", definitions: ["infección del pulmón"], semanticTypes: ["trastorno"] });
      expect(kb.namesOfCode("386661006")).toEqual([
        { name: "fiebre", group: "SINTOMA" },
        { name: "fiebre", group: "ENFERMEDAD" },
      ]);
      expect([...kb.codes()]).toEqual(["233604007", "25064002", "386661006", "73761001"]);
      expect(kb.stats()).toEqual({
        concepts: 4,
        names: 7,
        groups: {
          ENFERMEDAD: { names: 3, concepts: 2 },
          PROCEDIMIENTO: { names: 1, concepts: 1 },
          SINTOMA: { names: 3, concepts: 2 },
        },
      });
    } finally {
      kb.close();
    }
  });

  it("pages through large groups in name order", async () => {
    const rows = Array.from({ length: 4500 }, (_, i) => `${1000 + i}\tnombre ${String((i * 7919) % 4500).padStart(5, "0")}\tG`);
    const out = join(dir, "big.sqlite");
    await buildKnowledgeBase(write("big.tsv", `code\tterm\tgroup\n${rows.join("\n")}\n`), out);
    const kb = openKnowledgeBase(out);
    try {
      const names = [...kb.entriesOfGroup("G")].map((e) => e.name);
      const expected = rows.map((r) => r.split("\t")[1]).sort();
      expect(names).toEqual(expected);
      expect([...kb.codes()].length).toBe(4500);
    } finally {
      kb.close();
    }
  });

  it("stores and replaces artifacts, visible to the open reader and after reopening", async () => {
    const out = join(dir, "kb.sqlite");
    await buildKnowledgeBase(write("kb.tsv", tsv), out);
    const kb = openKnowledgeBase(out);
    const blob = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
    expect(kb.getArtifact("trie/x")).toBeUndefined();
    kb.putArtifact("trie/x", blob);
    expect(kb.getArtifact("trie/x")).toEqual(blob);
    kb.putArtifact("trie/x", blob.subarray(10, 20));
    expect(kb.getArtifact("trie/x")).toEqual(blob.slice(10, 20));
    kb.close();
    const again = openKnowledgeBase(out);
    expect(again.getArtifact("trie/x")).toEqual(blob.slice(10, 20));
    again.close();
  });

  it("rejects a missing, non-SQLite, foreign or other-version file with KB_INDEX_INVALID naming the path", async () => {
    const missing = join(dir, "missing.sqlite");
    expect(() => openKnowledgeBase(missing)).toThrow(SyncabelError);
    expect(() => openKnowledgeBase(missing)).toThrow(/missing\.sqlite/);
    const garbage = write("garbage.sqlite", "this is not a database at all, just some text ".repeat(200));
    try {
      openKnowledgeBase(garbage);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: "KB_INDEX_INVALID", details: { path: garbage } });
    }
    // A real SQLite file that is not a KB, and a KB with another schema version.
    const { default: Database } = await import("better-sqlite3");
    const foreign = join(dir, "foreign.sqlite");
    const db = new Database(foreign);
    db.exec("CREATE TABLE t (x)");
    db.close();
    expect(() => openKnowledgeBase(foreign)).toThrow(expect.objectContaining({ code: "KB_INDEX_INVALID" }));
    const out = join(dir, "kb.sqlite");
    await buildKnowledgeBase(write("kb.tsv", tsv), out);
    const w = new Database(out);
    w.prepare("UPDATE meta SET value = '999' WHERE key = 'schema_version'").run();
    w.close();
    expect(() => openKnowledgeBase(out)).toThrow(/version 999/);
  });

  it("replaces an existing index atomically", async () => {
    const out = join(dir, "kb.sqlite");
    await buildKnowledgeBase(write("a.tsv", tsv), out);
    await buildKnowledgeBase(write("b.tsv", "code\tterm\tgroup\n1\tuno\tG\n"), out);
    const kb = openKnowledgeBase(out);
    expect(kb.groups()).toEqual(["G"]);
    kb.close();
  });
});
