/**
 * Regression tests of issue 16 (training input): `kb add-mentions` and `train-linker --train` report what they
 * skipped as link-docs does (file:line and reason) and exit 1; `kb info --json` tells the training memory and
 * whether a trained linker is stored; `link` says on stderr which linker answers.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { readTrainingMentions } from "../../src/kb/mentions.js";
import { captureIO } from "../support/cli-io.js";
import { KB_ROWS } from "../support/hybrid-fixture.js";
import { buildKbFromRows } from "../support/kb.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-train-reports-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = "filename\tlabel\tstart_span\tend_span\tspan\tcode";

/** A SPACCC TSV with four good rows and three a reader rejects (lines 3, 5 and 6). */
function messyTsv(): string {
  const sub = mkdtempSync(join(dir, "data-"));
  mkdirSync(join(sub, "texts"));
  const d1 = "Varón con hipertensión arterial y fiebre alta.";
  const d2 = "Mujer con dolor abdominal y fiebre.";
  writeFileSync(join(sub, "texts", "d1.txt"), d1);
  writeFileSync(join(sub, "texts", "d2.txt"), d2);
  const row = (doc: string, text: string, label: string, span: string, code: string): string => [doc, label, text.indexOf(span), text.indexOf(span) + span.length, span, code].join("\t");
  const rows = [
    row("d1", d1, "ENFERMEDAD", "hipertensión arterial", "100"), // line 2
    `d1\tSINTOMA\t${d1.indexOf("fiebre")}\t${d1.indexOf("fiebre") + 6}\tfiebre alta\t302`, // line 3: the text there is "fiebre"
    row("d1", d1, "SINTOMA", "fiebre", "302"), // line 4
    "d1\tSINTOMA\t16\t22", // line 5: 4 columns of 6
    "d9\tSINTOMA\t0\t3\tTos\t300", // line 6: d9.txt does not exist
    row("d2", d2, "SINTOMA", "dolor abdominal", "301"), // line 7
    row("d2", d2, "SINTOMA", "fiebre", "302"), // line 8
  ];
  writeFileSync(join(sub, "train.tsv"), `${HEADER}\n${rows.join("\n")}\n`);
  return join(sub, "train.tsv");
}

describe("training input reports", () => {
  it("kb add-mentions lists rejected rows with file:line, stores the good ones and exits 1", async () => {
    const kb = await buildKbFromRows(mkdtempSync(join(dir, "kb-")), KB_ROWS);
    const tsv = messyTsv();
    const c = captureIO();
    expect(await main(["kb", "add-mentions", kb, tsv, "--format", "spaccc"], c.io)).toBe(1);
    expect(c.out()).toMatch(/stored 4 training mentions from .*: 4 mentions read in 2 documents; 3 skipped \(3 rejected by the reader, 0 of groups not in the KB\)/);
    const err = c.err();
    expect(err).toMatch(new RegExp(`kb add-mentions: skipped: ${tsv}:3 \\(document d1\\): the text at \\d+-\\d+ is "fiebre", the file says "fiebre alta"`));
    expect(err).toMatch(new RegExp(`skipped: ${tsv}:5: expected 6 tab-separated columns, found 4`));
    expect(err).toMatch(new RegExp(`skipped: ${tsv}:6 \\(document d9\\): the text file .*d9\\.txt does not exist`));
    expect(err).toMatch(/3 of 7 training rows failed: skipped, the others were stored/);
    expect(readTrainingMentions(kb).map((m) => m.text)).toEqual(["hipertensión arterial", "fiebre", "dolor abdominal", "fiebre"]);
  });

  it("--strict stops at the first rejected row and stores nothing", async () => {
    const kb = await buildKbFromRows(mkdtempSync(join(dir, "kb-")), KB_ROWS);
    const c = captureIO();
    expect(await main(["kb", "add-mentions", kb, messyTsv(), "--format", "spaccc", "--strict"], c.io)).toBe(1);
    expect(c.err()).toMatch(/train\.tsv:5: expected 6 tab-separated columns, found 4 \[DATA_BAD_ROW\]/);
    expect(readTrainingMentions(kb)).toHaveLength(0);
  });

  it("a wrong --format fails instead of storing 0 mentions with exit 0", async () => {
    const kb = await buildKbFromRows(mkdtempSync(join(dir, "kb-")), KB_ROWS);
    for (const format of ["bigbio", "pubtator"]) {
      const c = captureIO();
      expect(await main(["kb", "add-mentions", kb, messyTsv(), "--format", format], c.io)).toBe(1);
      expect(c.err()).toMatch(/no training mention to store .*\[DATA_BAD_ROW\]/);
    }
    expect(readTrainingMentions(kb)).toHaveLength(0);
  });

  it("train-linker --train reports the same way and exits 1", async () => {
    const kb = await buildKbFromRows(mkdtempSync(join(dir, "kb-")), KB_ROWS);
    const tsv = messyTsv();
    const c = captureIO();
    expect(await main(["train-linker", "--kb", kb, "--train", tsv, "--format", "spaccc", "--folds", "2"], c.io)).toBe(1);
    expect(c.out()).toMatch(/added 4 training mentions .*3 skipped/);
    expect(c.err()).toMatch(new RegExp(`train-linker: skipped: ${tsv}:5: expected 6 tab-separated columns`));
  });

  it("kb info --json tells the training memory and the trained linker; link says which linker answers", async () => {
    const kb = await buildKbFromRows(mkdtempSync(join(dir, "kb-")), KB_ROWS);
    const info = async (): Promise<{ training: { mentions: number; documents: number; sources: { source: string; mentions: number }[] }; linker: { trained: boolean; default: string } }> => {
      const c = captureIO();
      expect(await main(["kb", "info", kb, "--json"], c.io), c.err()).toBe(0);
      return JSON.parse(c.out());
    };
    expect(await info()).toMatchObject({ training: { mentions: 0, documents: 0, sources: [] }, linker: { trained: false, default: "tfidf" } });
    const l0 = captureIO();
    expect(await main(["link", "--kb", kb, "Refiere [fiebre]{SINTOMA}."], l0.io)).toBe(0);
    expect(l0.err()).toMatch(/link: TF-IDF linker \(the KB index holds no trained linker/);
    const tsv = messyTsv();
    await main(["train-linker", "--kb", kb, "--train", tsv, "--format", "spaccc", "--folds", "2"], captureIO().io);
    expect(await info()).toMatchObject({ training: { mentions: 4, documents: 2, sources: [{ source: tsv, mentions: 4 }] }, linker: { trained: true, default: "hybrid", training: { mentions: 4, documents: 2 } } });
    const l1 = captureIO();
    expect(await main(["link", "--kb", kb, "Refiere [fiebre]{SINTOMA}."], l1.io)).toBe(0);
    expect(l1.err()).toMatch(/link: hybrid linker trained on 4 mentions of 2 documents/);
    const t = captureIO();
    expect(await main(["kb", "info", kb], t.io)).toBe(0);
    expect(t.out()).toMatch(/training memory: 4 mentions of 2 documents from 1 files/);
    expect(t.out()).toMatch(/trained linker: hybrid, trained on 4 mentions/);
  });
});
