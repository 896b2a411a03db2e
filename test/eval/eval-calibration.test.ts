/**
 * Calibrated confidence end to end on the command line, in-process: `calibrate` (TF-IDF linker, held-back slice)
 * stores a calibration in the KB; `link-docs` writes each mention's confidence (and abstentions with
 * --min-confidence); `eval` reports ECE and selective accuracy (checked against a brute-force computation over the
 * predictions file's rows) and counts abstentions apart.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as calibrate } from "../../src/cli/commands/calibrate.js";
import { run as evaluate } from "../../src/cli/commands/eval.js";
import { run as link } from "../../src/cli/commands/link.js";
import { run as linkDocs } from "../../src/cli/commands/link-docs.js";
import { quotedTsvFields } from "../../src/data/tsv.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { openLinker } from "../../src/linker/open.js";
import { startLinkServer } from "../../src/server/index.js";
import { captureIO } from "../support/cli-io.js";
import { KB_ROWS, variantDocuments as documents, writeSpaccc } from "../support/hybrid-fixture.js";
import { buildKbFromRows } from "../support/kb.js";

const work = mkdtempSync(join(tmpdir(), "syncabel-eval-calibration-"));
let kbPath: string;
let gold: string;
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  kbPath = await buildKbFromRows(work, KB_ROWS);
  mkdirSync(join(work, "train"));
  mkdirSync(join(work, "dev"));
  const train = writeSpaccc(join(work, "train"), documents(40, 1, "es-t"));
  gold = writeSpaccc(join(work, "dev"), documents(30, 2, "es-d"));
  const c = captureIO();
  expect(await calibrate(["--kb", kbPath, "--linker", "tfidf", "--train", train, "--format", "spaccc", "--slice", "1"], c.io)).toBe(0);
  expect(c.out()).toMatch(/calibrated the tfidf linker on \d+ mentions of 40 held-back training documents/);
  expect(c.out()).toMatch(/chosen (isotonic|logistic|logistic\+isotonic); stored in the KB index/);
});

/** (confidence, top code right) of every scoreable row of a predictions TSV, read with a plain quoted-TSV split. */
function rowsOf(path: string): { confidence: number; right: boolean; abstained: boolean; predicted: string }[] {
  const [head, ...lines] = readFileSync(path, "utf8").trim().split("\n");
  const cols = quotedTsvFields(head!);
  const at = (f: string[], c: string) => f[cols.indexOf(c)]!;
  return lines
    .map((l) => quotedTsvFields(l))
    .filter((f) => at(f, "code") !== "NO_CODE")
    .map((f) => ({ confidence: Number(at(f, "confidence")), right: (JSON.parse(at(f, "Predicted_codes_topk")) as string[])[0] === at(f, "code"), abstained: at(f, "abstained") === "true", predicted: at(f, "Predicted_code") }));
}

function bruteEce(points: { confidence: number; right: boolean }[]): number {
  const sorted = points.map((p, i) => ({ ...p, i })).sort((a, b) => a.confidence - b.confidence || a.i - b.i);
  let ece = 0;
  for (let b = 0; b < 15; b++) {
    const bin = sorted.slice(Math.floor((b * sorted.length) / 15), Math.floor(((b + 1) * sorted.length) / 15));
    if (bin.length === 0) continue;
    const conf = bin.reduce((a, p) => a + p.confidence, 0) / bin.length;
    const acc = bin.filter((p) => p.right).length / bin.length;
    ece += (bin.length / sorted.length) * Math.abs(acc - conf);
  }
  return ece;
}

describe("calibrate, link-docs, eval", () => {
  it("writes confidences that eval scores: ECE as brute force, selective accuracy, coverage, the SVG", async () => {
    const pred = join(work, "pred.tsv");
    expect(await linkDocs(["--kb", kbPath, "--format", "spaccc", gold, "-o", pred], captureIO().io)).toBe(0);
    const rows = rowsOf(pred);
    expect(rows.every((r) => r.confidence > 0 && r.confidence < 1)).toBe(true);
    const c = captureIO();
    expect(await evaluate(["--gold", gold, "--predictions", pred, "--resamples", "0", "--json", join(work, "r.json"), "--calibration-plot", join(work, "c.svg")], c.io)).toBe(0);
    const json = JSON.parse(readFileSync(join(work, "r.json"), "utf8"));
    expect(json.calibration.mentions).toBe(rows.length);
    expect(json.calibration.ece).toBeCloseTo(bruteEce(rows), 12);
    const byConfidence = [...rows].sort((a, b) => b.confidence - a.confidence);
    const half = byConfidence.slice(0, Math.ceil(rows.length / 2));
    expect(json.calibration.selective[0].accuracy).toBeCloseTo(half.filter((r) => r.right).length / half.length, 12);
    expect(c.out()).toContain(`ECE (15 equal-mass bins): ${json.calibration.ece.toFixed(4)}`);
    expect(c.out()).toMatch(/Coverage at 95 % accuracy: [\d.]+ %/);
    const svg = readFileSync(join(work, "c.svg"), "utf8");
    expect((svg.match(/class="bin"/g) ?? []).length).toBe(json.calibration.reliability.length);
  });

  it("abstains below --min-confidence (link-docs and link) and eval counts abstentions apart", async () => {
    // The minimum: the median confidence of the calibrated run without one.
    const plain = join(work, "plain.tsv");
    expect(await linkDocs(["--kb", kbPath, "--format", "spaccc", gold, "-o", plain], captureIO().io)).toBe(0);
    const sorted = rowsOf(plain).map((r) => r.confidence).sort((a, b) => a - b);
    const min = sorted[Math.floor(sorted.length / 2)]!;
    const pred = join(work, "abstain.tsv");
    expect(await linkDocs(["--kb", kbPath, "--format", "spaccc", gold, "-o", pred, "--min-confidence", String(min)], captureIO().io)).toBe(0);
    const rows = rowsOf(pred);
    const abstained = rows.filter((r) => r.abstained);
    expect(abstained.length).toBeGreaterThan(0);
    expect(rows.filter((r) => r.confidence < min)).toEqual(abstained);
    for (const r of abstained) expect(r.predicted).toBe("NO_CODE");
    const answered = rows.filter((r) => !r.abstained);
    const c = captureIO();
    await evaluate(["--gold", gold, "--predictions", pred, "--resamples", "0", "--json", join(work, "a.json")], c.io);
    const json = JSON.parse(readFileSync(join(work, "a.json"), "utf8"));
    expect(json.abstentions).toEqual({
      abstained: abstained.length,
      abstained_top_right: abstained.filter((r) => r.right).length,
      answered: answered.length,
      answered_recall_at_1: answered.filter((r) => r.right).length / answered.length,
    });
    // Recall@1 over every mention: an abstention gave no code, so it is a miss.
    expect(json.overall.recall["1"]).toBeCloseTo(answered.filter((r) => r.right).length / rows.length, 12);
    expect(c.out()).toContain(`Abstained (NO_CODE below the minimum confidence, counted as misses above): ${abstained.length} mentions`);

    const out = captureIO();
    expect(await link(["--kb", kbPath, "--min-confidence", String(min), "Refiere [dolor]{SINTOMA} hoy.", "Refiere [hipertensión arterial]{ENFERMEDAD} hoy."], out.io)).toBe(0);
    const results = out.out().trim().split("\n").map((l) => JSON.parse(l) as { confidence: number; code: string; abstained?: boolean; beams: { probability: number }[] });
    for (const r of results) {
      expect(r.abstained === true).toBe(r.confidence < min);
      if (r.abstained) expect(r.code).toBe("NO_CODE");
      expect(r.beams.reduce((a, b) => a + b.probability, 0)).toBeLessThanOrEqual(1 + 1e-12);
    }
  });

  it("the service abstains below its minimum confidence (POST /v1/link and /v1/link-document)", async () => {
    const linker = await openLinker({ kb: kbPath, minConfidence: 1 }); // every confidence is below 1
    const server = await startLinkServer(linker, { port: 0 });
    try {
      const post = async (path: string, body: unknown) => (await fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json();
      const { results } = (await post("/v1/link", { sentences: ["Refiere [dolor abdominal]{SINTOMA} hoy."], num_beams: 2 })) as { results: { confidence: number; code: string; abstained?: boolean; beams: unknown[] }[] };
      expect(results[0]!.confidence).toBeLessThan(1);
      expect(results[0]).toMatchObject({ code: "NO_CODE", abstained: true });
      expect(results[0]!.beams.length).toBeGreaterThan(0);
      const text = "Refiere dolor abdominal hoy.";
      const doc = (await post("/v1/link-document", { document: { id: "d", text }, mentions: [{ id: "m1", label: "SINTOMA", fragments: [{ start: 8, end: 23 }] }] })) as { results: { mention_id: string; confidence: number; abstained?: boolean; code: string }[] };
      expect(doc.results[0]).toMatchObject({ mention_id: "m1", abstained: true, code: "NO_CODE" });
      expect(doc.results[0]!.confidence).toBe(results[0]!.confidence);
    } finally {
      await server.close();
      await linker.close();
    }
  });

  it("refuses a hybrid calibration by slice and a --min-confidence outside [0, 1]", async () => {
    await expect(calibrate(["--kb", kbPath, "--linker", "hybrid", "--train", gold, "--format", "spaccc"], captureIO().io)).rejects.toThrow(/out of fold by 'syncabel train-linker'/);
    await expect(link(["--kb", kbPath, "--min-confidence", "2", "x [y]{SINTOMA}"], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
    const kb = openKnowledgeBase(kbPath);
    expect(kb.getArtifact("calibration/tfidf/v1")).toBeDefined();
    kb.close();
  });
});
