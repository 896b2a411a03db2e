/** Markdown for the hierarchy grades, the judgment distributions and the agreement of two judges. */
import type { GradeReport } from "./hierarchy-grades.js";
import type { Agreement, JudgmentReport } from "./judgments.js";
import { namedRows, type LabelRow, type LabelTable } from "./label-tally.js";
import { pct } from "./report-markdown.js";

const cell = (row: LabelRow, label: string): string => `${row.counts[label] ?? 0} (${pct(row.rates[label] ?? 0)})`;

/** One row per subset: n, each label's count (rate %), then extra columns. */
function distributionTable(table: LabelTable, extra: readonly [string, (row: LabelRow) => string][]): string[] {
  const head = ["subset", "n", ...table.labels, ...extra.map(([name]) => name)];
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...namedRows(table).map(([name, row]) => `| ${[name, String(row.n), ...table.labels.map((l) => cell(row, l)), ...extra.map(([, f]) => f(row))].join(" | ")} |`),
  ];
}

const shareOf = (labels: readonly string[]) => (row: LabelRow): string => pct(row.n === 0 ? 0 : labels.reduce((s, l) => s + (row.counts[l] ?? 0), 0) / row.n);

export function renderGradesMarkdown(report: GradeReport, title = "Hierarchy grades"): string {
  const accept = report.accept.join("+");
  const lines = [
    `## ${title}`,
    "",
    ...distributionTable(report, [[`lenient R@1 (${accept})`, (r) => pct(r.accepted)]]),
    "",
    "| path length | 1 | 2 | 3 | 4 | 5+ | mean |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...(["BROAD", "NARROW", "RELATED"] as const).map((g) => {
      const hist = report.path_lengths[g] ?? {};
      const at = (l: number): number => hist[l] ?? 0;
      const more = Object.entries(hist).filter(([l]) => Number(l) >= 5).reduce((s, [, c]) => s + c, 0);
      const mean = report.mean_path_length[g];
      return `| ${g} | ${at(1)} | ${at(2)} | ${at(3)} | ${at(4)} | ${more} | ${mean === null || mean === undefined ? "-" : mean.toFixed(2)} |`;
    }),
    "",
    `- Counts (rate %) of the top prediction's grade by the terminology's is-a hierarchy: BROAD = the prediction is an ancestor of the gold concept, NARROW = a descendant, RELATED = they share a parent or a common ancestor joins them within ${report.related_distance} edges.`,
    `- Mentions graded: ${report.counts.scored}; without a prediction: ${report.counts.without_prediction}; gold concept outside the hierarchy: ${report.counts.gold_outside_hierarchy}.`,
  ];
  return `${lines.join("\n")}\n`;
}

export function renderJudgmentsMarkdown(report: JudgmentReport, title?: string): string {
  const custom = report.accept.join("+") !== "STRICT+PARTIAL+EXACT";
  const lines = [
    `## ${title ?? `Judgments: ${report.file} (${report.column})`}`,
    "",
    ...distributionTable(report, [
      ["judged acc. (S+P+E)", shareOf(["STRICT", "PARTIAL", "EXACT"])],
      ["with BROAD", shareOf(["STRICT", "PARTIAL", "EXACT", "BROAD"])],
      ...(custom ? ([[`accepted (${report.accept.join("+")})`, (r: LabelRow) => pct(r.accepted)]] as [string, (row: LabelRow) => string][]) : []),
    ]),
    "",
    `- Rows: ${report.rows}${report.rows_skipped > 0 ? `; **${report.rows_skipped} skipped** (unknown label or bad offsets)` : ""}. Counts (rate %).`,
  ];
  return `${lines.join("\n")}\n`;
}

const kappaText = (k: number | null): string => (k === null ? "undefined" : k.toFixed(3));

export function renderAgreementMarkdown(a: Agreement): string {
  const name = (s: Agreement["a"]): string => `${s.file} (${s.column})`;
  const lines = [
    `## Agreement: ${name(a.a)} vs ${name(a.b)}`,
    "",
    `- Shared rows (same mention, gold and predicted code): ${a.shared}; only in the first: ${a.only_a}; only in the second: ${a.only_b}.`,
    `- Agreement ${pct(a.agreement)} %, Cohen's kappa ${kappaText(a.kappa)}.`,
    `- On the ${a.model_judged.n} rows neither labelled STRICT or PARTIAL (the model's decisions): agreement ${pct(a.model_judged.agreement)} %, Cohen's kappa ${kappaText(a.model_judged.kappa)}.`,
    "",
    `| first \\ second | ${a.labels.join(" | ")} |`,
    `| --- | ${a.labels.map(() => "---:").join(" | ")} |`,
    ...a.labels.map((l, i) => `| ${l} | ${a.confusion[i].join(" | ")} |`),
  ];
  return `${lines.join("\n")}\n`;
}
