/**
 * `eval --judgments`: the SynCABEL authors' judgment files reproduce the distributions the issue quotes, and the
 * agreement figures match a brute-force Cohen's kappa (chance agreement by drawing every pair of rows) computed here
 * from a plain reading of the files.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/eval.js";
import { captureIO } from "../support/cli-io.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-judgments-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const J = fileURLToPath(new URL("../../../shared/data/spaccc/judgments/", import.meta.url));
const WITH = join(J, "Llama_guided_with_SynCABEL.test-dev.judgments.tsv");
const WITHOUT = join(J, "Llama_guided_without_SynCABEL.test-dev.judgments.tsv");
const HAVE = existsSync(WITH) && existsSync(WITHOUT);

/** Plain reading: header names -> cells (no field of these files holds a tab). */
function plainRows(path: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(path, "utf8").trimEnd().split("\n");
  const cols = head.split("\t");
  return lines.map((l) => Object.fromEntries(l.split("\t").map((v, i) => [cols[i], v])));
}

/** Cohen's kappa by brute force: observed agreement, and chance agreement as the share of agreeing (row of a, row of b) draws. */
function bruteKappa(a: readonly string[], b: readonly string[]): { agreement: number; kappa: number } {
  const n = a.length;
  let same = 0;
  for (let i = 0; i < n; i++) if (a[i] === b[i]) same++;
  // Small integers for the n * n loop (string comparisons would make it slow).
  const ids = new Map([...a, ...b].map((x) => [x, 0]));
  [...ids.keys()].forEach((x, i) => ids.set(x, i));
  const ia = Int8Array.from(a, (x) => ids.get(x) as number);
  const ib = Int8Array.from(b, (x) => ids.get(x) as number);
  let chance = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (ia[i] === ib[j]) chance++;
  const po = same / n;
  const pe = chance / (n * n);
  return { agreement: po, kappa: (po - pe) / (1 - pe) };
}

describe.skipIf(!HAVE)("eval --judgments on the authors' judgment files (../shared/data/spaccc/judgments)", () => {
  it("reproduces the issue's distribution of the with-SynCABEL labels and the judged accuracy", async () => {
    const c = captureIO();
    expect(await run(["--judgments", WITH, "--json", join(dir, "with.json")], c.io)).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, "with.json"), "utf8")).judgments;
    // The issue: 2,690 STRICT, 32 PARTIAL, 91 EXACT, 381 BROAD, 217 NARROW, 647 NO_RELATION of 4,058 rows.
    expect(report.overall.n).toBe(4058);
    expect(report.overall.counts).toEqual({ STRICT: 2690, PARTIAL: 32, EXACT: 91, BROAD: 381, NARROW: 217, NO_RELATION: 647 });
    expect(report.judged_accuracy).toBeCloseTo((2690 + 32 + 91) / 4058, 12);
    expect(report.judged_accuracy_with_broad).toBeCloseTo((2690 + 32 + 91 + 381) / 4058, 12);
    expect(c.out()).toContain("| overall | 4058 | 2690 (66.3) | 32 (0.8) | 91 (2.2) | 381 (9.4) | 217 (5.3) | 647 (15.9) | 69.3 | 78.7 |");
  });

  it("LLM_Evaluation vs LLM_Evaluation_v2: agreement and kappa as brute force gives them, confusion table by count", async () => {
    const rows = plainRows(WITH);
    const a = rows.map((r) => r.LLM_Evaluation);
    const b = rows.map((r) => r.LLM_Evaluation_v2);
    const c = captureIO();
    expect(await run(["--judgments", WITH, "--compare-column", "LLM_Evaluation_v2", "--json", join(dir, "agree.json")], c.io)).toBe(0);
    const agreement = JSON.parse(readFileSync(join(dir, "agree.json"), "utf8")).agreement;
    const brute = bruteKappa(a, b);
    expect(agreement.shared).toBe(4058);
    expect(agreement.agreement).toBeCloseTo(brute.agreement, 12);
    expect(agreement.kappa).toBeCloseTo(brute.kappa, 10);
    const labels: string[] = agreement.labels;
    labels.forEach((la, i) => labels.forEach((lb, j) => expect(agreement.confusion[i][j]).toBe(a.filter((x, k) => x === la && b[k] === lb).length)));
    // The model's own decisions: rows neither side labelled STRICT or PARTIAL.
    const decided = (x: string) => x === "STRICT" || x === "PARTIAL";
    const keep = a.map((x, k) => !decided(x) && !decided(b[k]));
    const judged = bruteKappa(a.filter((_, k) => keep[k]), b.filter((_, k) => keep[k]));
    expect(agreement.model_judged.n).toBe(keep.filter(Boolean).length);
    expect(agreement.model_judged.kappa).toBeCloseTo(judged.kappa, 10);
    expect(c.out()).toMatch(/Cohen's kappa 0\.\d{3}/);
  });

  it("two prediction files: agreement on the rows they share (same mention, gold and predicted code)", async () => {
    const key = (r: Record<string, string>) => [r.filename, r.label, r.start_span, r.end_span, r.code.split("+").sort().join("+"), r.Predicted_code.split("+").sort().join("+")].join("|");
    const first = new Map(plainRows(WITH).map((r) => [key(r), r.LLM_Evaluation]));
    const second = new Map(plainRows(WITHOUT).map((r) => [key(r), r.LLM_Evaluation]));
    const shared = [...first.keys()].filter((k) => second.has(k));
    const c = captureIO();
    expect(await run(["--judgments", WITH, "--compare", WITHOUT, "--json", join(dir, "two.json")], c.io)).toBe(0);
    const agreement = JSON.parse(readFileSync(join(dir, "two.json"), "utf8")).agreement;
    expect(agreement.shared).toBe(shared.length);
    expect(agreement.only_a).toBe(first.size - shared.length);
    const brute = bruteKappa(shared.map((k) => first.get(k) as string), shared.map((k) => second.get(k) as string));
    expect(agreement.kappa).toBeCloseTo(brute.kappa, 10);
  });
});

describe("eval --judgments on small files", () => {
  const head = "filename\tlabel\tstart_span\tend_span\tspan\tcode\tPredicted_code\tLLM_Evaluation\n";
  it("skips rows with an unknown label (named on stderr), accepts a custom set, writes a plot", async () => {
    const file = join(dir, "small.tsv");
    writeFileSync(file, `${head}d\tX\t0\t3\tabc\t1\t1\tSTRICT\nd\tX\t4\t6\t"a ""b"""\t2\t3\tBROAD\nd\tY\t7\t9\tzz\t4\t5\tMAYBE\nd\tY\t9\t12\tyyy\t4+6\t6\tPARTIAL\n`);
    const c = captureIO();
    expect(await run(["--judgments", file, "--accept", "strict,broad", "--grades-plot", join(dir, "small.svg")], c.io)).toBe(0);
    expect(c.err()).toContain(`${file}:4: unknown LLM_Evaluation label "MAYBE"`);
    expect(c.out()).toContain("| overall | 3 | 1 (33.3) | 1 (33.3) | 0 (0.0) | 1 (33.3) | 0 (0.0) | 0 (0.0) | 66.7 | 100.0 | 66.7 |");
    expect(c.out()).toContain("1 skipped");
    expect(readFileSync(join(dir, "small.svg"), "utf8")).toContain("overall BROAD: 1 (33.3%)");
  });

  it("a file without the label column, or --column without --judgments, is refused", async () => {
    const file = join(dir, "nolabel.tsv");
    writeFileSync(file, "filename\tlabel\tstart_span\tend_span\tcode\tPredicted_code\nd\tX\t0\t1\t1\t1\n");
    await expect(run(["--judgments", file], captureIO().io)).rejects.toMatchObject({ code: "EVAL_INVALID_INPUT", message: expect.stringContaining("LLM_Evaluation") });
    await expect(run(["--gold", "g", "--predictions", "p", "--column", "x"], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
  });
});
