/**
 * The label-based parts of `syncabel eval`: `--hierarchy` (grades of the top predictions by the KB's is-a
 * hierarchy) and `--judgments` (an LLM judge's label file: distribution, judged accuracy, agreement of two judges).
 */
import { basename } from "node:path";
import { SyncabelError } from "../../errors.js";
import { readDataset } from "../../data/read-dataset.js";
import type { DatasetFormat } from "../../data/types.js";
import { codesOfDataset } from "../../eval/adapters.js";
import { GRADES, gradeMentions, parseGrades, type Grade, type GradeReport } from "../../eval/hierarchy-grades.js";
import { agreement, DEFAULT_JUDGMENT_COLUMN, JUDGED_CORRECT, JUDGMENT_LABELS, judgmentReport, readJudgments, type Agreement, type JudgmentReport } from "../../eval/judgments.js";
import { renderLabelPlot } from "../../eval/plot-labels.js";
import { renderAgreementMarkdown, renderGradesMarkdown, renderJudgmentsMarkdown } from "../../eval/report-labels.js";
import type { GoldMention, Prediction } from "../../eval/types.js";
import { writeFileAtomic } from "../../io/atomic-write.js";
import { openHierarchy } from "../../kb/relations.js";
import { checkOutputPath, positiveInt } from "../args.js";
import type { CliIO } from "../io.js";

export const LABEL_ARGS = {
  hierarchy: { type: "boolean", default: false },
  "related-distance": { type: "string" },
  accept: { type: "string" },
  "grades-plot": { type: "string" },
  judgments: { type: "string" },
  column: { type: "string" },
  compare: { type: "string" },
  "compare-column": { type: "string" },
} as const;

export const LABEL_USAGE = `
Grading by the hierarchy and by an LLM judge (the SynCABEL authors' evaluation):
  --hierarchy        with --kb: grade each top prediction STRICT, PARTIAL (a subset of a composite gold), BROAD (an
                     ancestor of the gold concept), NARROW (a descendant), RELATED (shares a parent, or a common
                     ancestor within --related-distance K edges, default 2), NO_RELATION, by the KB's is-a relations
                     (kb build stores them); counts, rates and path lengths overall, per label and seen/unseen
  --accept G1,G2     grades counted by the lenient Recall@1 (default strict), e.g. --accept strict,partial,broad;
                     with --judgments: labels counted as accepted (default strict,partial,exact)
  --grades-plot OUT.svg   stacked bars of the grades (or judgment labels) per subset
  --judgments J.tsv  instead of --gold/--predictions: a judgments file (syncabel judge's output, or the authors'):
                     label distribution and judged accuracy (STRICT+PARTIAL+EXACT, and with BROAD); --column NAME
                     picks the label column (default ${DEFAULT_JUDGMENT_COLUMN}); --train TRAIN adds seen/unseen
  --compare J2.tsv   agreement with a second judgments file on the rows both have (same mention, gold and predicted
                     code): percent, Cohen's kappa, confusion table; --compare-column NAME (default: --column), which
                     also compares two columns of the same file when --compare is not given
`;

type LabelValues = { [K in keyof typeof LABEL_ARGS]?: (typeof LABEL_ARGS)[K]["type"] extends "boolean" ? boolean : string };

export interface HierarchyGrades {
  readonly report: GradeReport;
  readonly markdown: string;
}

function acceptOf(values: LabelValues, known: readonly string[], fallback: readonly string[]): string[] {
  return values.accept === undefined ? [...fallback] : parseGrades(values.accept, known);
}

/** Usage errors of the label options, before any work. */
export function checkLabelArgs(values: LabelValues & { kb?: string; "map-to"?: string }, outputs: readonly string[]): void {
  if (values.hierarchy && values.kb === undefined) throw new SyncabelError("CLI_USAGE", "--hierarchy needs --kb KB.sqlite (the KB holding the is-a relations)");
  if (values.hierarchy && values["map-to"] !== undefined) throw new SyncabelError("CLI_USAGE", "--hierarchy grades codes of the KB: it cannot be combined with --map-to");
  if (values.judgments === undefined && !values.hierarchy) {
    for (const flag of ["accept", "grades-plot", "related-distance"] as const) {
      if (values[flag] !== undefined) throw new SyncabelError("CLI_USAGE", `--${flag} goes with --hierarchy or --judgments`);
    }
  }
  if (values.judgments === undefined) {
    for (const flag of ["column", "compare", "compare-column"] as const) if (values[flag] !== undefined) throw new SyncabelError("CLI_USAGE", `--${flag} goes with --judgments`);
  }
  if (values["grades-plot"] !== undefined) checkOutputPath(values["grades-plot"], "--grades-plot", outputs);
}

/** `--hierarchy`: grade the predictions by the KB's is-a relations. */
export function hierarchyGrades(values: LabelValues & { kb?: string }, gold: readonly GoldMention[], predictions: readonly Prediction[], options: { onlyPredicted: boolean; trainCodes?: ReadonlySet<string>; title: string }): HierarchyGrades {
  const accept = acceptOf(values, GRADES, ["STRICT"]) as Grade[];
  const relatedDistance = positiveInt(values["related-distance"], "related-distance", 2, true);
  const hierarchy = openHierarchy(values.kb as string);
  const { report } = gradeMentions(gold, predictions, hierarchy, { onlyPredicted: options.onlyPredicted, accept, relatedDistance, ...(options.trainCodes ? { trainCodes: options.trainCodes } : {}) });
  if (values["grades-plot"] !== undefined) writeFileAtomic(values["grades-plot"], renderLabelPlot(report, `Hierarchy grades: ${basename(options.title)}`));
  return { report, markdown: renderGradesMarkdown(report, `Hierarchy grades: ${options.title}`) };
}

/** `--judgments`: a judge's label file on its own (no gold or predictions needed). */
export async function runJudgments(values: LabelValues & { json?: string; train?: string; format?: string; texts?: string; title?: string }, io: CliIO): Promise<number> {
  const file = values.judgments as string;
  const column = values.column ?? DEFAULT_JUDGMENT_COLUMN;
  const accept = acceptOf(values, JUDGMENT_LABELS, JUDGED_CORRECT);
  for (const [flag, path] of [["--json", values.json], ["--grades-plot", values["grades-plot"]]] as const) {
    if (path !== undefined) checkOutputPath(path, flag, [file, ...(values.compare ? [values.compare] : [])]);
  }
  let trainCodes: Set<string> | undefined;
  if (values.train !== undefined) trainCodes = codesOfDataset(await readDataset(values.train, { format: (values.format ?? "spaccc") as DatasetFormat, ...(values.texts ? { textsDir: values.texts } : {}) }));
  const first = readJudgments(file, column);
  reportSkipped(io, first.path, first.problems);
  const report: JudgmentReport = judgmentReport(first, { accept, ...(trainCodes ? { trainCodes } : {}) });
  let markdown = renderJudgmentsMarkdown(report, values.title);
  let agreed: Agreement | undefined;
  if (values.compare !== undefined || values["compare-column"] !== undefined) {
    const second = values.compare === undefined && values["compare-column"] === column ? first : readJudgments(values.compare ?? file, values["compare-column"] ?? column);
    if (second !== first) reportSkipped(io, second.path, second.problems);
    agreed = agreement(first, second);
    markdown += `\n${renderAgreementMarkdown(agreed)}`;
  }
  io.stdout.write(markdown);
  if (values.json !== undefined) writeFileAtomic(values.json, `${JSON.stringify({ judgments: report, ...(agreed ? { agreement: agreed } : {}) }, null, 2)}\n`);
  if (values["grades-plot"] !== undefined) writeFileAtomic(values["grades-plot"], renderLabelPlot(report, `Judgments: ${values.title ?? basename(file)}`));
  if (report.rows === 0) throw new SyncabelError("EVAL_INVALID_INPUT", `${file}: no usable judgment row (${first.problems.length} skipped)`, { path: file });
  return 0;
}

function reportSkipped(io: CliIO, file: string, problems: readonly { line: number; message: string }[]): void {
  for (const p of problems.slice(0, 20)) io.stderr.write(`${file}:${p.line}: ${p.message} (row skipped)\n`);
  if (problems.length > 20) io.stderr.write(`... and ${problems.length - 20} more bad judgment rows\n`);
}
