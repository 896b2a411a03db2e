/**
 * LLM-as-judge label files (the SynCABEL authors' `*.judgments.tsv` layout, which `syncabel judge` writes too): one
 * row per prediction with `filename, label, start_span, end_span, span, code, Predicted_code` and one or more label
 * columns (`LLM_Evaluation`, the authors' `LLM_Evaluation_v2`). Their label distribution, judged accuracy, and the
 * agreement of two label columns on the rows they share (percent, Cohen's kappa, confusion table).
 */
import { readFileSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { quotedTsvFields } from "../data/tsv.js";
import { canonicalCode, codeSet } from "./codes.js";
import { labelTable, type LabelTable } from "./label-tally.js";

export const JUDGMENT_LABELS = ["STRICT", "PARTIAL", "EXACT", "BROAD", "NARROW", "NO_RELATION"] as const;
export type JudgmentLabel = (typeof JUDGMENT_LABELS)[number];
/** Labels decided without the model (code comparison). */
export const CODE_DECIDED_LABELS: readonly JudgmentLabel[] = ["STRICT", "PARTIAL"];
export const DEFAULT_JUDGMENT_COLUMN = "LLM_Evaluation";
/** The columns before the label column(s), in file order. */
export const JUDGMENT_KEY_COLUMNS = ["filename", "label", "start_span", "end_span", "span", "code", "Predicted_code"] as const;
/** Judged accuracy counts these (clinically right), and "with BROAD" adds BROAD. */
export const JUDGED_CORRECT: readonly JudgmentLabel[] = ["STRICT", "PARTIAL", "EXACT"];

export interface JudgmentRow {
  readonly line: number;
  readonly filename: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  readonly span: string;
  readonly code: string;
  readonly predicted: string;
  readonly judgment: JudgmentLabel;
}

export interface JudgmentsFile {
  readonly path: string;
  readonly column: string;
  readonly columns: readonly string[];
  readonly rows: readonly JudgmentRow[];
  /** Rows skipped (bad offsets, unknown label), with why. */
  readonly problems: readonly { readonly line: number; readonly message: string }[];
}

/** Parse a judgments TSV's text, reading the labels of `column`. */
export function parseJudgments(text: string, path: string, column = DEFAULT_JUDGMENT_COLUMN): JudgmentsFile {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw new SyncabelError("EVAL_INVALID_INPUT", `${path}: the judgments file is empty (no header)`, { path });
  const columns = quotedTsvFields(lines[0].replace(/^\uFEFF/, "")).map((c) => c.trim());
  const need = ["filename", "label", "start_span", "end_span", "code", "Predicted_code", column];
  const missing = need.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new SyncabelError("EVAL_INVALID_INPUT", `${path}: missing column(s) ${missing.join(", ")} (found: ${columns.join(", ")}); a judgments file has ${JUDGMENT_KEY_COLUMNS.join(", ")} and a label column such as ${DEFAULT_JUDGMENT_COLUMN}`, { path });
  }
  const at = (name: string): number => columns.indexOf(name);
  const rows: JudgmentRow[] = [];
  const problems: { line: number; message: string }[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const f = quotedTsvFields(lines[i]);
    const get = (name: string): string => (f[at(name)] ?? "").trim();
    const start = Number(get("start_span"));
    const end = Number(get("end_span"));
    const judgment = get(column).toUpperCase();
    if (!/^\d+$/.test(get("start_span")) || !/^\d+$/.test(get("end_span")) || end < start) problems.push({ line: i + 1, message: `bad offsets ${JSON.stringify(get("start_span"))}..${JSON.stringify(get("end_span"))}` });
    else if (!(JUDGMENT_LABELS as readonly string[]).includes(judgment)) problems.push({ line: i + 1, message: `unknown ${column} label ${JSON.stringify(get(column))} (known: ${JUDGMENT_LABELS.join(", ")})` });
    else {
      rows.push({ line: i + 1, filename: get("filename"), label: get("label"), start, end, span: f[at("span")] ?? "", code: get("code"), predicted: get("Predicted_code"), judgment: judgment as JudgmentLabel });
    }
  }
  return { path, column, columns, rows, problems };
}

export function readJudgments(path: string, column = DEFAULT_JUDGMENT_COLUMN): JudgmentsFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SyncabelError("DATA_FILE_MISSING", `cannot read the judgments file ${path}: ${(e as Error).message}`, { path }, { cause: e });
  }
  return parseJudgments(text, path, column);
}

export interface JudgmentReport extends LabelTable {
  readonly file: string;
  readonly column: string;
  readonly rows: number;
  readonly rows_skipped: number;
  /** (STRICT + PARTIAL + EXACT) / n, and with BROAD, overall. */
  readonly judged_accuracy: number;
  readonly judged_accuracy_with_broad: number;
}

/** The label distribution of a judgments file, overall, per mention label and (with training codes) seen/unseen. */
export function judgmentReport(file: JudgmentsFile, options: { accept?: readonly string[]; trainCodes?: ReadonlySet<string> } = {}): JudgmentReport {
  const items = file.rows.map((r) => ({
    group: r.label,
    label: r.judgment,
    ...(options.trainCodes ? { seen: codeSet(r.code).every((c) => options.trainCodes!.has(c)) } : {}),
  }));
  const table = labelTable(items, JUDGMENT_LABELS, options.accept ?? JUDGED_CORRECT);
  const share = (labels: readonly string[]): number => (table.overall.n === 0 ? 0 : labels.reduce((s, l) => s + (table.overall.counts[l] ?? 0), 0) / table.overall.n);
  return {
    ...table,
    file: file.path,
    column: file.column,
    rows: file.rows.length,
    rows_skipped: file.problems.length,
    judged_accuracy: share(JUDGED_CORRECT),
    judged_accuracy_with_broad: share([...JUDGED_CORRECT, "BROAD"]),
  };
}

/** Percent agreement and Cohen's kappa of a square confusion table (rows: first rater). kappa null when undefined (p_e = 1). */
export function cohenKappa(confusion: readonly (readonly number[])[]): { n: number; agreement: number; kappa: number | null } {
  const k = confusion.length;
  let n = 0;
  let diagonal = 0;
  const rowSums = new Array<number>(k).fill(0);
  const colSums = new Array<number>(k).fill(0);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const c = confusion[i][j];
      n += c;
      rowSums[i] += c;
      colSums[j] += c;
      if (i === j) diagonal += c;
    }
  }
  if (n === 0) return { n, agreement: 0, kappa: null };
  const po = diagonal / n;
  let pe = 0;
  for (let i = 0; i < k; i++) pe += (rowSums[i] / n) * (colSums[i] / n);
  return { n, agreement: po, kappa: pe === 1 ? null : (po - pe) / (1 - pe) };
}

export interface AgreementSide {
  readonly file: string;
  readonly column: string;
  readonly rows: number;
}

export interface Agreement {
  readonly a: AgreementSide;
  readonly b: AgreementSide;
  /** Rows of both (same mention, gold code and predicted code). */
  readonly shared: number;
  readonly only_a: number;
  readonly only_b: number;
  readonly labels: readonly JudgmentLabel[];
  /** confusion[i][j]: rows labelled labels[i] by a and labels[j] by b. */
  readonly confusion: readonly (readonly number[])[];
  readonly agreement: number;
  readonly kappa: number | null;
  /** The same on the rows neither side labelled STRICT or PARTIAL (the ones a model judged). */
  readonly model_judged: { readonly n: number; readonly agreement: number; readonly kappa: number | null };
}

/** The key of a judged prediction: mention, gold code and predicted code (codes as sets). */
function rowKey(r: JudgmentRow): string {
  return `${r.filename}\u0000${r.label}\u0000${r.start}\u0000${r.end}\u0000${canonicalCode(r.code)}\u0000${canonicalCode(r.predicted)}`;
}

/** Agreement of two label sources on the rows they share (the first row of a key counts). */
export function agreement(a: JudgmentsFile, b: JudgmentsFile): Agreement {
  const first = (f: JudgmentsFile): Map<string, JudgmentRow> => {
    const m = new Map<string, JudgmentRow>();
    for (const r of f.rows) if (!m.has(rowKey(r))) m.set(rowKey(r), r);
    return m;
  };
  const ma = first(a);
  const mb = first(b);
  const labels = JUDGMENT_LABELS;
  const index = new Map(labels.map((l, i) => [l, i]));
  const confusion = labels.map(() => labels.map(() => 0));
  const judged = labels.map(() => labels.map(() => 0));
  let shared = 0;
  for (const [key, ra] of ma) {
    const rb = mb.get(key);
    if (rb === undefined) continue;
    shared++;
    const i = index.get(ra.judgment) as number;
    const j = index.get(rb.judgment) as number;
    confusion[i][j]++;
    if (!CODE_DECIDED_LABELS.includes(ra.judgment) && !CODE_DECIDED_LABELS.includes(rb.judgment)) judged[i][j]++;
  }
  const all = cohenKappa(confusion);
  return {
    a: { file: a.path, column: a.column, rows: a.rows.length },
    b: { file: b.path, column: b.column, rows: b.rows.length },
    shared,
    only_a: ma.size - shared,
    only_b: mb.size - shared,
    labels,
    confusion,
    agreement: all.agreement,
    kappa: all.kappa,
    model_judged: cohenKappa(judged),
  };
}
