/**
 * The real Disease Ontology files of ../shared/data/doid, read by the OBO, OBO Graphs and translation readers and
 * checked against independent parses written here (line regexes, a whole-file JSON.parse, a line count).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { run as runKb } from "../../../src/cli/commands/kb.js";
import { run as runLink } from "../../../src/cli/commands/link.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../../../src/kb/index.js";
import { oboGraphSource, oboSource, translationSource } from "../../../src/kb/sources/index.js";
import { openXrefMap } from "../../../src/kb/xrefs.js";
import { cleanText } from "../../../src/markup/clean.js";
import { captureIO } from "../../support/cli-io.js";

const DOID = fileURLToPath(new URL("../../../../shared/data/doid/", import.meta.url));
const OBO = join(DOID, "DO_rare_slim.obo");
const JSON_GRAPH = join(DOID, "DO_cancer_slim.json");
const ES = join(DOID, "doid-es-translated.tsv");
const present = existsSync(OBO) && existsSync(JSON_GRAPH) && existsSync(ES);
if (!present) console.warn(`skipping the Disease Ontology tests: ${DOID} is absent`);

const clean = (s: string): string => cleanText(s).trim();

/** The ids of a code in a vocabulary, through the KB's cross-references. */
function mapped(kbPath: string, vocab: string, code: string): readonly string[] {
  const map = openXrefMap(kbPath, vocab);
  try {
    return map.map(code);
  } finally {
    map.close();
  }
}

/** Independent OBO parse: [Term] stanzas split on blank-line headers, regexes per line. */
function parseOboIndependently(text: string) {
  const terms = new Map<string, { names: Set<string>; obsolete: boolean }>();
  for (const stanza of text.split(/\n(?=\[)/)) {
    if (!stanza.startsWith("[Term]")) continue;
    const id = /^id: (\S+)$/m.exec(stanza)?.[1] as string;
    const names = new Set<string>([clean(/^name: (.*)$/m.exec(stanza)?.[1] ?? "")]);
    for (const m of stanza.matchAll(/^synonym: "((?:[^"\\]|\\.)*)" (EXACT|RELATED)\b/gm)) names.add(clean(m[1].replace(/\\(.)/g, "$1")));
    terms.set(id, { names, obsolete: /^is_obsolete: true$/m.test(stanza) });
  }
  return terms;
}

describe.skipIf(!present)("Disease Ontology releases (../shared/data/doid)", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-doid-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const oboKb = join(dir, "rare.sqlite");

  it("OBO flat file: concepts, names and xrefs match an independent parse; obsolete terms and NARROW synonyms left out", async () => {
    const terms = parseOboIndependently(readFileSync(OBO, "utf8"));
    const live = [...terms.entries()].filter(([, t]) => !t.obsolete);
    expect(terms.size).toBe(3460);
    const report = await buildKnowledgeBase([oboSource(OBO, { group: "ENFERMEDAD" })], oboKb);
    expect(report.concepts).toBe(live.length);
    const expectedNames = new Set(live.flatMap(([, t]) => [...t.names]));
    expect(report.names).toBe(expectedNames.size);
    expect(report.skippedByReason["obsolete term"].examples[0]).toMatchObject({ line: 3051 });
    const kb = openKnowledgeBase(oboKb);
    try {
      for (const [id, t] of live.slice(0, 200)) for (const n of t.names) expect(kb.lookup(n, "ENFERMEDAD")?.codes).toContain(id);
      const lupus = kb.concept("DOID:0040093");
      expect(lupus?.title).toBe("drug-induced lupus erythematosus");
      expect(lupus?.names).toEqual(["drug-induced lupus erythematosus", "DIL", "DILE"]);
      expect(lupus?.definitions[0]).toBe("A lupus erythematosus caused by chronic use of certain drugs.");
      expect(kb.concept("DOID:0050786")).toBeUndefined(); // obsolete iridogoniodysgenesis syndrome
      expect(kb.lookup("Bannayan-Zonana syndrome", "ENFERMEDAD")).toBeUndefined(); // NARROW synonym of DOID:0050657
      expect(kb.lookup("PTEN hamartoma tumor syndrome", "ENFERMEDAD")?.code).toBe("DOID:0050657");
    } finally {
      kb.close();
    }
    expect(mapped(oboKb, "MESH", "DOID:0040093")).toEqual(["C000730515"]);
    expect(mapped(oboKb, "SNOMEDCT_US_2025_09_01", "DOID:0040093")).toEqual(["80258006"]);
  });

  it("OBO Graphs JSON: nodes, labels, synonyms and xrefs match a whole-file JSON.parse", async () => {
    type Node = { id: string; lbl?: string; type?: string; meta?: { deprecated?: boolean; synonyms?: { pred: string; val: string }[] } };
    const graph = JSON.parse(readFileSync(JSON_GRAPH, "utf8")) as { graphs: { nodes: Node[] }[] };
    const nodes = graph.graphs[0].nodes.filter((n) => n.type === "CLASS" && n.meta?.deprecated !== true && n.lbl);
    const expectedNames = new Set(nodes.flatMap((n) => [n.lbl as string, ...(n.meta?.synonyms ?? []).filter((s) => /Exact|Related/.test(s.pred)).map((s) => s.val)].map(clean)));
    const out = join(dir, "cancer.sqlite");
    const report = await buildKnowledgeBase([oboGraphSource(JSON_GRAPH, { group: "ENFERMEDAD" })], out);
    expect(report.concepts).toBe(nodes.length);
    expect(report.names).toBe(expectedNames.size);
    expect(report.skippedByReason["not a CLASS node"].count).toBe(graph.graphs[0].nodes.filter((n) => n.type !== "CLASS").length);
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.lookup("hemangiosarcoma", "ENFERMEDAD")?.code).toBe("DOID:0001816");
      expect(kb.concept("DOID:0001816")?.title).toBe("angiosarcoma");
    } finally {
      kb.close();
    }
    expect(mapped(out, "MESH", "DOID:0001816")).toEqual(["D006394"]);
  });

  it("Spanish translation table: multi-line records, names added to the OBO concepts, definitions and unknown concepts reported", async () => {
    const raw = readFileSync(ES, "utf8");
    // Independent record split: every record starts a line with its DOID id; continuation lines never do.
    const firstLines = raw.split("\n").filter((l) => l.startsWith("DOID:")).map((l) => l.split("\t"));
    const oboIds = new Set(parseOboIndependently(readFileSync(OBO, "utf8")).keys());
    const definitions = firstLines.filter((c) => c[1] === "IAO:0000115").length;
    const narrowBroad = firstLines.filter((c) => /has(Narrow|Broad)Synonym/.test(c[1])).length;
    const unknown = firstLines.filter((c) => /label|hasExactSynonym|hasRelatedSynonym/.test(c[1]) && !oboIds.has(c[0])).length;
    const out = join(dir, "rare-es.sqlite");
    const report = await buildKnowledgeBase([oboSource(OBO, { group: "ENFERMEDAD" }), translationSource(ES)], out);
    // The OBO reader gives one item per name/synonym line (the file has [Term] stanzas only).
    const oboItems = (readFileSync(OBO, "utf8").match(/^(name|synonym): /gm) ?? []).length;
    const translationRows = report.rowsRead - oboItems;
    expect(translationRows).toBe(firstLines.length);
    expect(report.skippedByReason["predicate is not a name"].count).toBe(definitions);
    const oboNarrowBroad = (readFileSync(OBO, "utf8").match(/^synonym: ".*" (NARROW|BROAD)\b/gm) ?? []).length;
    expect(report.skippedByReason["synonym scope not selected"].count).toBe(oboNarrowBroad + narrowBroad);
    expect(report.skippedByReason["concept not in the other sources"].count).toBe(unknown);
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.lookup("Fiebre de chikunguña", "ENFERMEDAD")?.code).toBe("DOID:0050012");
      expect(kb.lookup("síndrome polendocrino autoinmune tipo 1", "ENFERMEDAD")?.code).toBe("DOID:0050167");
      expect(kb.concept("DOID:0050012")?.title).toBe("chikungunya"); // the OBO name stays the title
    } finally {
      kb.close();
    }
  });

  it("kb build --from obo with --translations, then link --map-to MESH", async () => {
    const out = join(dir, "cli.sqlite");
    const build = captureIO();
    expect(await runKb(["build", "--from", "obo", OBO, "--group", "ENFERMEDAD", "--translations", ES, "-o", out, "--quiet"], build.io)).toBe(0);
    expect(build.out()).toMatch(/cross-references/);
    expect(build.err()).toMatch(/predicate is not a name: 2046 \(first at line \d+ of /);
    const link = captureIO();
    expect(await runLink(["--kb", out, "--linker", "tfidf", "--map-to", "MESH", "El paciente con [drug-induced lupus erythematosus]{ENFERMEDAD}."], link.io)).toBe(0);
    const beam = (JSON.parse(link.out().trim()) as { beams: { pred_concept_code: string; mapped_to: string; mapped_codes: string[] }[] }).beams[0];
    expect(beam).toMatchObject({ pred_concept_code: "DOID:0040093", mapped_to: "MESH", mapped_codes: ["C000730515"] });
    await expect(runLink(["--kb", out, "--linker", "tfidf", "--map-to", "NOPE", "x [y]{ENFERMEDAD}"], captureIO().io)).rejects.toMatchObject({ message: expect.stringContaining("known vocabularies") });
  });
});
