import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, openKnowledgeBase } from "../../src/kb/index.js";
import { cleanText } from "../../src/markup/clean.js";

const SHARED = new URL("../../../shared/data/", import.meta.url);
const PROXY = fileURLToPath(new URL("spaccc/kb-proxy-dev.tsv", SHARED));
const present = existsSync(PROXY);
if (!present) console.warn(`skipping the SPACCC proxy KB test: ${PROXY} is absent`);

describe.skipIf(!present)("SPACCC proxy KB (../shared/data)", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-proxy-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps every row, and every row's name finds its code in its group", async () => {
    // Independent reading of the file: plain tab split.
    const rows = readFileSync(PROXY, "utf8")
      .split("\n")
      .slice(1)
      .filter((l) => l.trim() !== "")
      .map((l) => {
        const [code, term, group] = l.replace(/\r$/, "").split("\t");
        return { code, name: cleanText(term).trim(), group };
      });
    const out = join(dir, "kb.sqlite");
    const report = await buildKnowledgeBase(PROXY, out);
    expect(report.rowsRead).toBe(rows.length);
    expect(report.rowsSkipped).toBe(0);
    expect(report.concepts).toBe(new Set(rows.map((r) => r.code)).size);
    expect(report.names).toBe(new Set(rows.map((r) => `${r.group}\t${r.name}`)).size);
    expect(report.seconds).toBeLessThan(30);

    const kb = openKnowledgeBase(out);
    try {
      for (const r of rows) {
        const entry = kb.lookup(r.name, r.group);
        expect(entry?.codes, `${r.group} ${r.name}`).toContain(r.code);
        expect(entry?.codes).toContain(entry?.code);
      }
      const groups = [...new Set(rows.map((r) => r.group))].sort();
      expect(kb.groups()).toEqual(groups);
    } finally {
      kb.close();
    }
  });
});
