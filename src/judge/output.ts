/** The judge's output: a judgments TSV in the SynCABEL authors' layout (read back by `eval --judgments`). */
import { quoteTsvField } from "../data/tsv.js";
import { DEFAULT_JUDGMENT_COLUMN, JUDGMENT_KEY_COLUMNS } from "../eval/judgments.js";
import type { JudgeItem, Verdict } from "./types.js";

/** Header and one row per labelled item, in item order; items without a verdict (failed) are left out. */
export function judgmentsTsv(items: readonly JudgeItem[], verdicts: readonly (Verdict | undefined)[]): string {
  const lines = [[...JUDGMENT_KEY_COLUMNS, DEFAULT_JUDGMENT_COLUMN].join("\t")];
  items.forEach((it, i) => {
    const v = verdicts[i];
    if (v === undefined) return;
    lines.push([it.filename, it.label, String(it.start), String(it.end), it.span, it.gold, it.predicted, v.label].map((f) => quoteTsvField(f)).join("\t"));
  });
  return `${lines.join("\n")}\n`;
}
