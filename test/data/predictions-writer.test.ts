import { describe, expect, it } from "vitest";
import { PREDICTION_TSV_COLUMNS, predictionJson, predictionTsvHeader, predictionTsvRow } from "../../src/data/predictions-writer.js";
import { quotedTsvFields } from "../../src/data/tsv.js";
import type { Mention } from "../../src/data/types.js";
import type { Beam } from "../../src/linker/types.js";

const mention: Mention = { id: "L2", label: "SINTOMA", fragments: [{ start: 10, end: 15 }, { start: 20, end: 26 }], text: "dolor \"leve\"", codes: ["1", "2"], semanticRel: "COMPOSITE" };
const beam = (name: string, code: string, score: number): Beam => ({ mention: "dolor", semantic_group: "SINTOMA", pred_concept_name: name, pred_concept_code: code, beam_score: score, pred_concept_codes: [code] });

describe("predictions TSV writer", () => {
  it("writes the authors' columns, quoting fields with quotes, and reads back field for field", () => {
    const beams = [beam("dolor leve", "1+2", 0.75), beam("dolor", "3", 0.125)];
    const row = predictionTsvRow({ document: "doc\"1", mention, sentence: "Un [dolor \"leve\"]{SINTOMA}\tya.", beams, annotation: "dolor leve" });
    const header = quotedTsvFields(predictionTsvHeader());
    expect(header.slice(0, 11)).toEqual(["filename", "label", "start_span", "end_span", "span", "code", "annotation", "sentence", "Prediction", "Prediction_beam_score", "Predicted_code"]);
    const f = quotedTsvFields(row);
    expect(f).toHaveLength(PREDICTION_TSV_COLUMNS.length);
    const get = (c: string) => f[header.indexOf(c)];
    expect(get("filename")).toBe("doc\"1");
    expect([get("start_span"), get("end_span"), get("span"), get("code")]).toEqual(["10", "26", "dolor \"leve\"", "1+2"]);
    expect(get("sentence")).toBe("Un [dolor \"leve\"]{SINTOMA} ya."); // tab folded to a space
    expect([get("Prediction"), Number(get("Prediction_beam_score")), get("Predicted_code")]).toEqual(["dolor leve", 0.75, "1+2"]);
    expect(JSON.parse(get("Predictions_topk") as string)).toEqual(["dolor leve", "dolor"]);
    expect(JSON.parse(get("Prediction_beam_scores_topk") as string)).toEqual([0.75, 0.125]);
    expect(get("error")).toBe("");
  });
  it("an errored mention gets NO_CODE, empty prediction and the error text; gold NO_CODE for no codes", () => {
    const row = predictionTsvRow({ document: "d", mention: { ...mention, codes: [] }, sentence: "", beams: [], error: { code: "MARKUP_UNKNOWN_GROUP", message: "unknown group", details: {} } });
    const header = PREDICTION_TSV_COLUMNS as readonly string[];
    const f = quotedTsvFields(row);
    expect(f[header.indexOf("Predicted_code")]).toBe("NO_CODE");
    expect(f[header.indexOf("code")]).toBe("NO_CODE");
    expect(f[header.indexOf("Prediction")]).toBe("");
    expect(f[header.indexOf("error")]).toBe("MARKUP_UNKNOWN_GROUP: unknown group");
  });
  it("JSONL keeps the fragments and every beam", () => {
    const beams = [beam("a", "1", 0.5)];
    const j = JSON.parse(JSON.stringify(predictionJson({ document: "d", mention, sentence: "s", beams })));
    expect(j).toMatchObject({ document: "d", mention_id: "L2", start: 10, end: 26, fragments: [[10, 15], [20, 26]], codes: ["1", "2"], beams });
  });
});
