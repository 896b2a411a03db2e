/**
 * Reader of predictions TSV files in the SynCABEL authors' layout: a header, then one row per mention with
 * `filename, label, start_span, end_span, span, code, semantic_rel?, annotation, sentence, Prediction,
 * Prediction_score?, Prediction_beam_score?, Predicted_code`. Columns are found by name (any order, extra
 * columns ignored); fields may be CSV-quoted (the authors wrote them with a CSV writer).
 *
 * Several beams, two layouts (both supported):
 * - syncabel's own writer (src/data/predictions-writer.ts): one row per mention, `Predicted_code` = best beam,
 *   and every beam best first in JSON-array columns `Predicted_codes_topk` / `Prediction_beam_scores_topk`;
 *   an `error` column says why a mention has no prediction (then `Predicted_code` is NO_CODE);
 * - several rows for the same mention (filename, label, start_span, end_span): that mention's ranked answers,
 *   ordered by a `beam` / `rank` column when present, else by file order.
 * A bad row is reported as a problem and skipped; the rest are read.
 */
import { readFileSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { quotedTsvFields } from "./tsv.js";

/** One row of a predictions file (one beam of one mention). */
export interface PredictionRow {
  /** 1-based line in the file. */
  readonly line: number;
  readonly filename: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  readonly span?: string;
  /** Gold code as written in the file (may be composite or NO_CODE). */
  readonly code?: string;
  readonly semanticRel?: string;
  readonly annotation?: string;
  readonly sentence?: string;
  /** Predicted KB name. */
  readonly prediction?: string;
  readonly predictionScore?: number;
  readonly beamScore?: number;
  readonly predictedCode: string;
  /** Rank of this beam among the mention's rows when the file says it. */
  readonly rank?: number;
  /** Every beam's code, best first (`Predicted_codes_topk`), when the file has it. */
  readonly topCodes?: readonly string[];
  /** Every beam's score, same order (`Prediction_beam_scores_topk`). */
  readonly topScores?: readonly number[];
  /** Why the linker gave no prediction (`error` column), when it says. */
  readonly error?: string;
  /** Calibrated P(top candidate right) (`confidence` column), when the linker was calibrated. */
  readonly confidence?: number;
  /** The linker abstained (`abstained` column): Predicted_code is NO_CODE, the top-k columns keep the candidates. */
  readonly abstained?: boolean;
}

export interface PredictionsProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface PredictionsFile {
  readonly rows: readonly PredictionRow[];
  readonly problems: readonly PredictionsProblem[];
  /** Header names as found. */
  readonly columns: readonly string[];
}

const REQUIRED = ["filename", "label", "start_span", "end_span", "Predicted_code"] as const;

/** Offsets may be `12`, or for a discontinuous mention `12;20` / `12 20`: the first start and the last end count. */
function parseOffsets(raw: string): number[] | undefined {
  const parts = raw.trim().split(/[;,\s]+/).filter((p) => p !== "");
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return parts.map(Number);
}

function optionalNumber(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const v = Number(raw);
  return Number.isFinite(v) ? v : undefined;
}

/** A JSON array field of the given element type, or undefined when absent/empty; throws a message when malformed. */
function jsonArray<T>(raw: string | undefined, column: string, ok: (x: unknown) => x is T): T[] | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error(`${column} is not a JSON array: ${JSON.stringify(raw.slice(0, 80))}`);
  }
  if (!Array.isArray(value) || !value.every(ok)) throw new Error(`${column} must be a JSON array of ${column.includes("score") ? "numbers" : "strings"}`);
  return value;
}

function optionalText(raw: string | undefined): string | undefined {
  return raw === undefined ? undefined : raw;
}

/** Parse the text of a predictions file (`file` names it in messages). */
export function parsePredictionsTsv(text: string, file: string): PredictionsFile {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw new SyncabelError("DATA_BAD_COLUMNS", `${file}: the predictions file is empty (no header)`, { file });
  const columns = quotedTsvFields(lines[0].replace(/^\uFEFF/, "")).map((c) => c.trim());
  const index = new Map<string, number>();
  columns.forEach((c, i) => {
    if (!index.has(c)) index.set(c, i);
    const lower = c.toLowerCase();
    if (!index.has(lower)) index.set(lower, i);
  });
  const col = (name: string): number | undefined => index.get(name) ?? index.get(name.toLowerCase());
  const missing = REQUIRED.filter((c) => col(c) === undefined);
  if (missing.length > 0) {
    throw new SyncabelError("DATA_BAD_COLUMNS", `${file}: missing column(s) ${missing.join(", ")} (found: ${columns.join(", ")})`, { file, line: 1 });
  }
  const rankCol = col("beam") ?? col("rank");
  const rows: PredictionRow[] = [];
  const problems: PredictionsProblem[] = [];
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i].trim() === "") continue;
    const f = quotedTsvFields(lines[i]);
    const get = (name: string): string | undefined => {
      const c = col(name);
      return c === undefined ? undefined : f[c];
    };
    const filename = get("filename")?.trim() ?? "";
    const label = get("label")?.trim() ?? "";
    const starts = parseOffsets(get("start_span") ?? "");
    const ends = parseOffsets(get("end_span") ?? "");
    const predictedCode = get("Predicted_code")?.trim() ?? "";
    const problem = (message: string) => problems.push({ file, line: lineNo, message });
    if (filename === "" || label === "") {
      problem("empty filename or label");
      continue;
    }
    if (!starts || !ends) {
      problem(`offsets are not integers: start_span=${JSON.stringify(get("start_span"))} end_span=${JSON.stringify(get("end_span"))}`);
      continue;
    }
    const start = starts[0];
    const end = ends[ends.length - 1];
    if (end < start) {
      problem(`end_span ${end} is before start_span ${start}`);
      continue;
    }
    if (predictedCode === "") {
      problem("empty Predicted_code");
      continue;
    }
    const rankRaw = rankCol === undefined ? undefined : f[rankCol];
    const rank = optionalNumber(rankRaw);
    let topCodes: string[] | undefined;
    let topScores: number[] | undefined;
    try {
      topCodes = jsonArray(get("Predicted_codes_topk"), "Predicted_codes_topk", (x): x is string => typeof x === "string");
      topScores = jsonArray(get("Prediction_beam_scores_topk"), "Prediction_beam_scores_topk", (x): x is number => typeof x === "number");
    } catch (e) {
      problem((e as Error).message);
      continue;
    }
    const error = get("error")?.trim();
    const confidence = optionalNumber(get("confidence"));
    rows.push({
      line: lineNo,
      filename,
      label,
      start,
      end,
      span: optionalText(get("span")),
      code: get("code")?.trim(),
      semanticRel: optionalText(get("semantic_rel")),
      annotation: optionalText(get("annotation")),
      sentence: optionalText(get("sentence")),
      prediction: optionalText(get("Prediction")),
      predictionScore: optionalNumber(get("Prediction_score")),
      beamScore: optionalNumber(get("Prediction_beam_score")),
      predictedCode,
      ...(rank === undefined ? {} : { rank }),
      ...(topCodes === undefined || topCodes.length === 0 ? {} : { topCodes }),
      ...(topScores === undefined || topScores.length === 0 ? {} : { topScores }),
      ...(error ? { error } : {}),
      ...(confidence === undefined ? {} : { confidence }),
      ...(get("abstained")?.trim() === "true" ? { abstained: true } : {}),
    });
  }
  return { rows, problems, columns };
}

/** Read a predictions TSV file from disk. */
export function readPredictionsTsv(path: string): PredictionsFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SyncabelError("DATA_FILE_MISSING", `cannot read predictions file ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parsePredictionsTsv(text, path);
}
