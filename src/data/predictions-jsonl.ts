/**
 * Reader of syncabel's JSONL predictions (`link-docs -o OUT.jsonl`, one PredictionJson per mention with all its
 * beams) into the same rows as the predictions TSV, so evaluation reads either. A malformed line is a problem
 * with its line number, not the end of the read.
 */
import { readFileSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { NO_CODE } from "../constants.js";
import { readPredictionsTsv, type PredictionRow, type PredictionsFile, type PredictionsProblem } from "./predictions-tsv.js";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parsePredictionsJsonl(text: string, file: string): PredictionsFile {
  const rows: PredictionRow[] = [];
  const problems: PredictionsProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      problems.push({ file, line, message: `not JSON: ${(e as Error).message}` });
      return;
    }
    if (!isRecord(v) || typeof v.document !== "string" || typeof v.label !== "string" || typeof v.start !== "number" || typeof v.end !== "number") {
      problems.push({ file, line, message: "a prediction needs string `document`, `label` and numeric `start`, `end`" });
      return;
    }
    const beams = Array.isArray(v.beams) ? v.beams.filter(isRecord) : [];
    const topCodes = beams.map((b) => (typeof b.pred_concept_code === "string" ? b.pred_concept_code : NO_CODE));
    const topScores = beams.map((b) => (typeof b.beam_score === "number" ? b.beam_score : Number.NaN));
    const best = beams[0];
    const codes = Array.isArray(v.codes) ? v.codes.filter((c): c is string => typeof c === "string") : [];
    rows.push({
      line,
      filename: v.document,
      label: v.label,
      start: v.start,
      end: v.end,
      ...(typeof v.span === "string" ? { span: v.span } : {}),
      code: codes.length === 0 ? NO_CODE : codes.join("+"),
      ...(typeof v.sentence === "string" ? { sentence: v.sentence } : {}),
      ...(best && typeof best.pred_concept_name === "string" ? { prediction: best.pred_concept_name } : {}),
      ...(best && typeof best.beam_score === "number" ? { beamScore: best.beam_score } : {}),
      predictedCode: v.abstained === true ? NO_CODE : (topCodes[0] ?? NO_CODE),
      topCodes,
      ...(topScores.every(Number.isFinite) ? { topScores } : {}),
      ...(isRecord(v.error) && typeof v.error.message === "string" ? { error: v.error.message } : {}),
      ...(typeof v.confidence === "number" && Number.isFinite(v.confidence) ? { confidence: v.confidence } : {}),
      ...(v.abstained === true ? { abstained: true } : {}),
    });
  });
  return { rows, problems, columns: [] };
}

/** A predictions file of either kind: `.jsonl` is syncabel's JSONL, anything else the authors' TSV layout. */
export function readPredictions(path: string): PredictionsFile {
  if (!path.toLowerCase().endsWith(".jsonl")) return readPredictionsTsv(path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SyncabelError("DATA_FILE_MISSING", `cannot read predictions file ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parsePredictionsJsonl(text, path);
}
