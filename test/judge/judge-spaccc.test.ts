/**
 * The judge's rows and code decisions on the SynCABEL authors' SPACCC files (../shared/data/spaccc): one row per
 * row of their judgments file, the same STRICT and PARTIAL rows, every other row sent to the model, and the output
 * TSV read back by `eval --judgments` on the same keys. (The HTTP protocol is tested on small files.)
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPredictions } from "../../src/data/predictions-jsonl.js";
import { readDataset } from "../../src/data/read-dataset.js";
import type { Dataset } from "../../src/data/types.js";
import { readJudgments } from "../../src/eval/judgments.js";
import { judgeItems } from "../../src/judge/items.js";
import { judgmentsTsv } from "../../src/judge/output.js";
import { decideByCodes } from "../../src/judge/run.js";

const SPACCC = fileURLToPath(new URL("../../../shared/data/spaccc/", import.meta.url));
const HAVE = existsSync(join(SPACCC, "judgments")) && existsSync(join(SPACCC, "predictions"));

describe.skipIf(!HAVE)("judge items on the authors' SPACCC files", () => {
  const dir = mkdtempSync(join(tmpdir(), "judge-spaccc-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let gold: Dataset;
  beforeAll(async () => {
    gold = await readDataset(join(SPACCC, "test-dev.tsv"), { format: "spaccc" });
  });

  it.each(["Llama_guided_with_SynCABEL", "Llama_guided_without_SynCABEL"])("%s: the authors' rows, STRICT and PARTIAL exactly as they labelled them", async (name) => {
    const { items, withoutGold, goldNoCode } = judgeItems(gold, readPredictions(join(SPACCC, "predictions", `${name}.test-dev.tsv`)).rows);
    expect(withoutGold + goldNoCode).toBe(0);
    const authors = readJudgments(join(SPACCC, "judgments", `${name}.test-dev.judgments.tsv`));
    expect(items).toHaveLength(authors.rows.length);
    const key = (r: { filename: string; label: string; start: number; end: number }) => `${r.filename}|${r.label}|${r.start}|${r.end}`;
    const theirs = new Map(authors.rows.map((r) => [key(r), r]));
    let model = 0;
    const mismatches: string[] = [];
    const verdicts = items.map((it) => {
      const a = theirs.get(key(it));
      const decided = decideByCodes(it);
      const byCodes = a?.judgment === "STRICT" || a?.judgment === "PARTIAL" ? a.judgment : undefined;
      if (a === undefined || it.gold !== a.code || it.predicted !== a.predicted || decided?.label !== byCodes || !it.sentence.includes(`]{${it.label}}`)) mismatches.push(key(it));
      if (decided === undefined) model++;
      return decided ?? { label: "EXACT" as const, by: "model" as const };
    });
    expect(mismatches).toEqual([]);
    expect(model).toBe(authors.rows.filter((r) => r.judgment !== "STRICT" && r.judgment !== "PARTIAL").length);
    // The output file: the same keys and codes as theirs, read by eval's reader.
    const out = join(dir, `${name}.tsv`);
    writeFileSync(out, judgmentsTsv(items, verdicts));
    const ours = readJudgments(out);
    expect(ours.problems).toEqual([]);
    expect(ours.rows.map((r) => `${key(r)}|${r.code}|${r.predicted}|${r.span}`).sort()).toEqual(authors.rows.map((r) => `${key(r)}|${r.code}|${r.predicted}|${r.span}`).sort());
  });
});
