import type { EvalReport, ScoreRow } from "./types.js";

/** A fraction as a percentage with one decimal (the paper's precision). */
export function pct(x: number): string {
  return (100 * x).toFixed(1);
}

function cell(row: ScoreRow, k: number): string {
  const ci = row.ci?.[k];
  return ci ? `${pct(row.recall[k])} [${pct(ci[0])}, ${pct(ci[1])}]` : pct(row.recall[k]);
}

/** The report as a Markdown table (overall, per label, seen/unseen) followed by the counts behind it. */
export function renderMarkdown(report: EvalReport, title = "Evaluation"): string {
  const conf = Math.round(report.bootstrap.confidence * 100);
  const head = ["subset", "n", ...report.ks.map((k) => `R@${k}${report.bootstrap.resamples > 0 ? ` [${conf}% CI]` : ""}`)];
  const rows: [string, ScoreRow][] = [["overall", report.overall], ...Object.entries(report.by_label).map(([l, r]) => [l, r] as [string, ScoreRow])];
  if (report.seen) rows.push(["seen in training", report.seen]);
  if (report.unseen) rows.push(["unseen in training", report.unseen]);
  const lines = [
    `## ${title}`,
    "",
    `| ${head.join(" | ")} |`,
    `| ${head.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map(([name, r]) => `| ${[name, String(r.n), ...report.ks.map((k) => cell(r, k))].join(" | ")} |`),
    "",
  ];
  const c = report.counts;
  if (c.gold_rows_skipped > 0) {
    const share = pct(c.gold_rows_skipped / (c.gold_rows + c.gold_rows_skipped));
    lines.push(`- **Gold rows skipped while reading: ${c.gold_rows_skipped} (${share} % of the file's rows), malformed; not scored.**`);
  }
  lines.push(
    `- Gold rows: ${c.gold_rows} (${c.gold_duplicates} duplicate, ${c.gold_no_code} NO_CODE excluded); documents scored: ${c.documents}.`,
    report.only_predicted
      ? `- Only predicted mentions scored: ${c.scored}; ${c.gold_without_prediction} gold mentions had no prediction and were not scored.`
      : `- Mentions scored: ${c.scored}; ${c.gold_without_prediction} gold mentions had no prediction (counted as misses).`,
    `- Prediction rows: ${c.prediction_rows} (${c.prediction_duplicates} duplicate, ${c.predictions_without_gold} without gold, ${c.predictions_of_no_code_gold} of NO_CODE gold).`,
    `- Top prediction NO_CODE: ${pct(report.no_code_rate)} %.`,
    report.codes === "authors"
      ? "- Codes compared as the SynCABEL authors' evaluation does (composite parts sorted, repeats kept: A+A is not A)."
      : "- Codes compared as sets (composite parts sorted and deduplicated: A+A is A).",
  );
  if (report.bootstrap.resamples > 0) {
    lines.push(`- CI: percentile bootstrap over documents, ${report.bootstrap.resamples} resamples, seed ${report.bootstrap.seed}.`);
  }
  if (report.mentions_per_second !== undefined) lines.push(`- Speed: ${report.mentions_per_second.toFixed(1)} mentions/s.`);
  return `${lines.join("\n")}\n`;
}
