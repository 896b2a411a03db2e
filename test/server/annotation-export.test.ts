/**
 * Review states in every export format, read back by the project's own readers (BRAT, PubTator) and by JSON.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readBrat } from "../../src/data/brat.js";
import { readPubtator } from "../../src/data/pubtator.js";
import type { Beam } from "../../src/linker/types.js";
import { exportBrat, exportJsonl, exportPubtator, type ExportDocument } from "../../src/server/annotation-export.js";
import { parseExportRequest } from "../../src/server/web-requests.js";

const TEXT = "Tos seca, fiebre alta y neumonía con disnea.";
const beam = (code: string, name: string, score: number): Beam => ({ mention: "", semantic_group: "G", pred_concept_name: name, pred_concept_code: code, beam_score: score, pred_concept_codes: [code] });
const span = (t: string) => [{ start: TEXT.indexOf(t), end: TEXT.indexOf(t) + t.length }];
const DOC: ExportDocument = {
  id: "d1",
  text: TEXT,
  mentions: [
    { id: "a", label: "SINTOMA", fragments: span("Tos seca"), review: "accepted", code: "401", name: "tos seca", suggested_code: "401", confidence: 0.9, beams: [beam("401", "tos seca", 0.9), beam("400", "tos", 0.1)] },
    { id: "b", label: "SINTOMA", fragments: span("fiebre alta"), review: "changed", code: "402", name: "fiebre", suggested_code: "403", confidence: 0.4, beams: [beam("403", "fiebre alta", 0.6), beam("402", "fiebre", 0.4)] },
    { id: "c", label: "ENFERMEDAD", fragments: span("neumonía"), review: "rejected", suggested_code: "300", confidence: 0.3, beams: [beam("300", "neumonía", 0.7)] },
    { id: "d", label: "SINTOMA", fragments: span("disnea"), review: "unreviewed", suggested_code: "500", confidence: 0.5, beams: [beam("500", "disnea", 0.8)] },
  ],
};
const work = mkdtempSync(join(tmpdir(), "syncabel-export-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("exports with review states", () => {
  it("JSONL: review_state of each, accepted_code only where a person decided, the decided concept first", () => {
    const rows = exportJsonl(DOC).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown> & { beams: Beam[] });
    expect(rows.map((r) => [r.span, r.review_state, r.accepted_code, r.suggested_code, r.confidence])).toEqual([
      ["Tos seca", "accepted", "401", "401", 0.9],
      ["fiebre alta", "changed", "402", "403", 0.4],
      ["neumonía", "rejected", "NO_CODE", "300", 0.3],
      ["disnea", "unreviewed", undefined, "500", 0.5],
    ]);
    expect(rows.map((r) => r.beams[0]!.pred_concept_code)).toEqual(["401", "402", "300", "500"]);
  });

  it("BRAT: codes of reviewed mentions, a Review attribute for every one; with all, the unreviewed one's code too", async () => {
    const ann = exportBrat(DOC);
    expect(ann.split("\n").filter((l) => /^[NA]/.test(l))).toEqual([
      "N1\tReference T1 KB:401\ttos seca",
      "A1\tReview T1 accepted",
      "N2\tReference T2 KB:402\tfiebre",
      "A2\tReview T2 changed",
      "A3\tReview T3 rejected",
      "A4\tReview T4 unreviewed",
    ]);
    const dir = join(work, "brat");
    mkdirSync(dir);
    writeFileSync(join(dir, "d1.txt"), TEXT);
    writeFileSync(join(dir, "d1.ann"), ann);
    const back = await readBrat(dir);
    expect(back.problems).toEqual([]);
    expect(back.documents[0]!.mentions.map((m) => m.codes)).toEqual([["401"], ["402"], [], []]);
    expect(exportBrat(DOC, { all: true })).toContain("N4\tReference T4 KB:500\tdisnea");
    expect(exportBrat(DOC, { all: true })).not.toContain("Reference T3");
  });

  it("PubTator: reviewed codes only (-1 otherwise) unless asked for all; rejected never", async () => {
    const read = async (text: string, name: string) => {
      writeFileSync(join(work, name), text);
      const back = await readPubtator(join(work, name));
      expect(back.problems).toEqual([]);
      return back.documents[0]!.mentions.map((m) => m.codes);
    };
    expect(await read(exportPubtator(DOC), "reviewed.txt")).toEqual([["401"], ["402"], [], []]);
    expect(await read(exportPubtator(DOC, { all: true }), "all.txt")).toEqual([["401"], ["402"], [], ["500"]]);
  });

  it("checks the review field and the all flag of POST /v1/export", () => {
    const body = (review: unknown, all?: unknown) => ({ format: "brat", ...(all === undefined ? {} : { all }), document: { id: "d", text: "abc", mentions: [{ id: "m", label: "G", fragments: [[0, 1]], review }] } });
    expect(parseExportRequest(body("changed", true), 10).document.mentions[0]!.review).toBe("changed");
    expect(parseExportRequest(body("changed", true), 10).all).toBe(true);
    expect(() => parseExportRequest(body("maybe"), 10)).toThrow(/review must be one of unreviewed, accepted, changed, rejected/);
    expect(() => parseExportRequest(body("accepted", "yes"), 10)).toThrow(/"all" must be true or false/);
  });
});
