import { describe, expect, it } from "vitest";
import { parsePredictionsTsv } from "../../src/data/predictions-tsv.js";
import { goldWithPredictionCodes, predictionsFromRows } from "../../src/eval/adapters.js";

const HEADER = "filename\tlabel\tstart_span\tend_span\tspan\tcode\tsemantic_rel\tannotation\tsentence\tPrediction\tPrediction_score\tPrediction_beam_score\tPredicted_code";

describe("predictions TSV reader", () => {
  it("reads the authors' layout with CSV-quoted fields", () => {
    const text = [
      HEADER,
      'd1\tSINTOMA\t0\t3\ttos\t400\tEXACT\ttos\t"dijo ""tos"" [tos]{SINTOMA}"\ttos\t0.9\t0.95\t400',
      "d1\tSINTOMA\t5\t9\tfebre\t500\tEXACT\tfiebre\tx\tfiebre\t\t\t500",
    ].join("\n");
    const f = parsePredictionsTsv(text, "p.tsv");
    expect(f.problems).toEqual([]);
    expect(f.rows).toHaveLength(2);
    expect(f.rows[0]).toMatchObject({ filename: "d1", label: "SINTOMA", start: 0, end: 3, code: "400", predictedCode: "400", beamScore: 0.95, predictionScore: 0.9, sentence: 'dijo "tos" [tos]{SINTOMA}', line: 2 });
    expect(f.rows[1].beamScore).toBeUndefined();
  });

  it("finds columns by name in any order (arboEL files lack the score columns)", () => {
    const text = "Predicted_code\tend_span\tstart_span\tlabel\tfilename\n123\t9\t4\tENFERMEDAD\tS1\n";
    const f = parsePredictionsTsv(text, "arbo.tsv");
    expect(f.rows[0]).toMatchObject({ filename: "S1", label: "ENFERMEDAD", start: 4, end: 9, predictedCode: "123" });
  });

  it("reports a bad row with its line and keeps the others", () => {
    const text = `${HEADER}\nd1\tL\tx\t3\t\t\t\t\t\t\t\t\t1\nd1\tL\t0\t3\t\t\t\t\t\t\t\t\t\nd1\tL\t4\t6\t\t\t\t\t\t\t\t\t7\n`;
    const f = parsePredictionsTsv(text, "p.tsv");
    expect(f.rows.map((r) => r.start)).toEqual([4]);
    expect(f.problems.map((p) => p.line)).toEqual([2, 3]);
    expect(f.problems[0].message).toMatch(/offsets/);
  });

  it("refuses a file without the required columns, naming them", () => {
    expect(() => parsePredictionsTsv("filename\tlabel\n", "bad.tsv")).toThrow(/bad\.tsv.*start_span, end_span, Predicted_code/);
  });

  it("reads several rows of one mention as ranked beams (by rank column, else file order)", () => {
    const text = "filename\tlabel\tstart_span\tend_span\tPredicted_code\trank\nd\tL\t0\t3\tb\t1\nd\tL\t0\t3\ta\t0\nd\tL\t5\t8\tz\t\n";
    const preds = predictionsFromRows(parsePredictionsTsv(text, "p.tsv").rows);
    expect(preds.find((p) => p.start === 0)?.codes).toEqual(["a", "b"]);
    expect(preds.find((p) => p.start === 5)?.codes).toEqual(["z"]);
  });

  it("takes gold codes from the file's code column on request, counting real changes", () => {
    const rows = parsePredictionsTsv("filename\tlabel\tstart_span\tend_span\tcode\tPredicted_code\nd\tL\t0\t3\tb+a\tx\nd\tL\t5\t8\tnew\tx\n", "p.tsv").rows;
    const gold = [
      { doc: "d", label: "L", start: 0, end: 3, code: "a+b" },
      { doc: "d", label: "L", start: 5, end: 8, code: "old" },
      { doc: "d", label: "L", start: 9, end: 12, code: "keep" },
    ];
    const r = goldWithPredictionCodes(gold, rows);
    expect(r.changed).toBe(1);
    expect(r.gold.map((g) => g.code)).toEqual(["a+b", "new", "keep"]);
  });
});

describe("predictions TSV written by syncabel link-docs", () => {
  it("reads every beam from the top-k JSON columns, written by the project's own writer", async () => {
    const { PREDICTION_TSV_COLUMNS, predictionTsvHeader, predictionTsvRow } = await import("../../src/data/predictions-writer.js");
    expect(PREDICTION_TSV_COLUMNS).toContain("Predicted_codes_topk");
    const mention = { id: "T1", label: "SINTOMA", fragments: [{ start: 0, end: 3 }], text: 'to"s', codes: ["9"] };
    const beams = [
      { mention: 'to"s', semantic_group: "SINTOMA", pred_concept_name: "tos", pred_concept_code: "1", beam_score: 0.7, pred_concept_codes: ["1"] },
      { mention: 'to"s', semantic_group: "SINTOMA", pred_concept_name: "tos seca", pred_concept_code: "9", beam_score: 0.2, pred_concept_codes: ["9"] },
    ];
    const text = [
      predictionTsvHeader(),
      predictionTsvRow({ document: "d", mention, sentence: '[to"s]{SINTOMA}', beams }),
      predictionTsvRow({ document: "d", mention: { ...mention, fragments: [{ start: 5, end: 8 }] }, sentence: "", beams: [], error: { code: "MARKUP_BAD_OFFSETS", message: "bad", details: {} } }),
    ].join("\n");
    const f = parsePredictionsTsv(text, "ours.tsv");
    expect(f.problems).toEqual([]);
    expect(f.rows[0]).toMatchObject({ predictedCode: "1", topCodes: ["1", "9"], topScores: [0.7, 0.2], code: "9" });
    expect(f.rows[1]).toMatchObject({ predictedCode: "NO_CODE", error: "MARKUP_BAD_OFFSETS: bad" });
    const preds = predictionsFromRows(f.rows);
    expect(preds[0]).toMatchObject({ codes: ["1", "9"], scores: [0.7, 0.2] });
    expect(preds[1].codes).toEqual(["NO_CODE"]);
  });

  it("reports a malformed top-k column as a problem of that row", () => {
    const f = parsePredictionsTsv("filename\tlabel\tstart_span\tend_span\tPredicted_code\tPredicted_codes_topk\nd\tL\t0\t3\t1\t[1,\nd\tL\t4\t5\t1\t\n", "p.tsv");
    expect(f.problems.map((p) => p.line)).toEqual([2]);
    expect(f.rows).toHaveLength(1);
  });
});
