import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run as evalRun } from "../../src/cli/commands/eval.js";
import { run as linkDocs } from "../../src/cli/commands/link-docs.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";

// Gold: 4 mentions. Three are KB names of their gold code (TF-IDF cosine 1 -> rank 1); "tos seca" is, in this
// KB, the name of another code, so its gold code (49727002, name "tos") can only come second.
const KB = ["386661006\tfiebre\tSINTOMA", "49727002\ttos\tSINTOMA", "11833005\ttos seca\tSINTOMA", "25064002\tcefalea\tSINTOMA"];
const TEXT = "Acude por fiebre. Refiere tos seca y cefalea.\nNiega fiebre.";
const GOLD: [string, number, string][] = [["fiebre", 0, "386661006"], ["tos seca", 0, "49727002"], ["cefalea", 0, "25064002"], ["fiebre", 1, "386661006"]];

describe("link-docs output, TSV or JSONL, evaluates the same", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-link-eval-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("gives Recall@1 3/4 and Recall@2 4/4 from either format", async () => {
    await buildKbFromRows(dir, KB);
    mkdirSync(join(dir, "texts"));
    writeFileSync(join(dir, "texts", "d1.txt"), TEXT);
    const rows = GOLD.map(([w, nth, code]) => {
      let s = TEXT.indexOf(w);
      if (nth === 1) s = TEXT.indexOf(w, s + 1);
      return `d1\tSINTOMA\t${s}\t${s + w.length}\t${w}\t${code}\tEXACT`;
    });
    writeFileSync(join(dir, "gold.tsv"), `filename\tlabel\tstart_span\tend_span\tspan\tcode\tsemantic_rel\n${rows.join("\n")}\n`);

    const reports = [];
    for (const ext of ["tsv", "jsonl"]) {
      const out = join(dir, `pred.${ext}`);
      const linked = captureIO();
      expect(await linkDocs(["--kb", join(dir, "kb.sqlite"), "--format", "spaccc", "--beams", "2", join(dir, "gold.tsv"), "-o", out], linked.io), linked.err()).toBe(0);
      const scored = captureIO();
      const json = join(dir, `report-${ext}.json`);
      expect(await evalRun(["--gold", join(dir, "gold.tsv"), "--predictions", out, "--k", "1,2", "--resamples", "50", "--json", json], scored.io), scored.err()).toBe(0);
      reports.push(JSON.parse(readFileSync(json, "utf8")) as { overall: { recall: Record<string, number> }; counts: { scored: number } });
    }
    for (const r of reports) {
      expect(r.counts.scored).toBe(4);
      expect(r.overall.recall["1"]).toBeCloseTo(3 / 4, 10);
      expect(r.overall.recall["2"]).toBeCloseTo(1, 10);
    }
    expect({ ...reports[1], predictions: "" }).toEqual({ ...reports[0], predictions: "" });
  });

  it("reports a malformed JSONL line with its line number", async () => {
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, `{"document":"d1","label":"SINTOMA","start":10,"end":16,"codes":["386661006"],"beams":[]}\nnot json\n`);
    const scored = captureIO();
    // The good row is scored; the bad one is a failed item: exit 1, with the line on stderr.
    const json = join(dir, "report-bad.json");
    // The report is made from the readable rows (exit 0, as for skipped gold rows); the bad line is named on stderr.
    expect(await evalRun(["--gold", join(dir, "gold.tsv"), "--predictions", bad, "--resamples", "10", "--json", json], scored.io)).toBe(0);
    expect(scored.err()).toContain(`${bad}:2: not JSON`);
    // The four gold mentions are still scored; the good row has no beam, so nothing is found at rank 1.
    const report = JSON.parse(readFileSync(json, "utf8")) as { overall: { recall: Record<string, number> }; counts: { scored: number } };
    expect(report.counts.scored).toBe(4);
    expect(report.overall.recall["1"]).toBe(0);
  });
});
