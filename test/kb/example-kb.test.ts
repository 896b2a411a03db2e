import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, openKnowledgeBase } from "../../src/kb/index.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/kb-es.tsv", import.meta.url));

// Verhoeff check digit tables (SNOMED CT identifiers end with a Verhoeff check digit).
const D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
function verhoeffValid(id: string): boolean {
  let c = 0;
  const digits = id.split("").reverse().map(Number);
  digits.forEach((d, i) => (c = D[c][P[i % 8][d]]));
  return c === 0;
}

describe("examples/kb-es.tsv", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-example-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has well-formed SNOMED CT concept ids (Verhoeff check digit, concept partition)", () => {
    const rows = readFileSync(EXAMPLE, "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
    expect(verhoeffValid("59282003")).toBe(true);
    expect(verhoeffValid("59282004")).toBe(false);
    for (const [code] of rows) {
      expect(code, code).toMatch(/^[1-9][0-9]{5,17}$/);
      expect(code.slice(-3, -1), `${code} partition`).toMatch(/^(00|10)$/);
      expect(verhoeffValid(code), `${code} check digit`).toBe(true);
    }
  });

  it("builds without skipped rows, one preferred title per concept, SPACCC groups only", async () => {
    const out = join(dir, "kb.sqlite");
    const report = await buildKnowledgeBase(EXAMPLE, out);
    expect(report.rowsSkipped).toBe(0);
    expect(report.duplicatesMerged).toBe(0);
    expect(report.concepts).toBeGreaterThanOrEqual(40);
    const rows = readFileSync(EXAMPLE, "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
    const kb = openKnowledgeBase(out);
    try {
      expect(kb.groups()).toEqual(["ENFERMEDAD", "PROCEDIMIENTO", "SINTOMA"]);
      for (const [code, term, , preferred] of rows) {
        if (preferred === "1") expect(kb.concept(code)?.title).toBe(term);
      }
      expect(kb.lookup("embolia pulmonar", "ENFERMEDAD")?.code).toBe("59282003");
    } finally {
      kb.close();
    }
  });
});
