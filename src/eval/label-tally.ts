/**
 * Counts of categorical labels per subset (overall, per mention label, seen / unseen), shared by the hierarchy
 * grades and the LLM judgments: counts, rates and an accuracy that accepts a chosen set of labels.
 */

/** Label counts of one subset of mentions. */
export interface LabelRow {
  readonly n: number;
  readonly counts: Readonly<Record<string, number>>;
  /** counts / n, per label. */
  readonly rates: Readonly<Record<string, number>>;
  /** Share of mentions whose label is accepted (for grades: the lenient Recall@1). */
  readonly accepted: number;
}

export interface LabelTable {
  /** Every label, in report order (absent ones count 0). */
  readonly labels: readonly string[];
  readonly accept: readonly string[];
  readonly overall: LabelRow;
  readonly by_label: Readonly<Record<string, LabelRow>>;
  readonly seen?: LabelRow;
  readonly unseen?: LabelRow;
}

/** One labelled mention: its group label, its category, and whether its gold code was seen in training. */
export interface Labelled {
  readonly group: string;
  readonly label: string;
  readonly seen?: boolean;
}

export function labelRow(items: readonly Labelled[], labels: readonly string[], accept: ReadonlySet<string>): LabelRow {
  const counts: Record<string, number> = Object.fromEntries(labels.map((l) => [l, 0]));
  let accepted = 0;
  for (const it of items) {
    counts[it.label] = (counts[it.label] ?? 0) + 1;
    if (accept.has(it.label)) accepted++;
  }
  const n = items.length;
  const rates = Object.fromEntries(Object.entries(counts).map(([l, c]) => [l, n === 0 ? 0 : c / n]));
  return { n, counts, rates, accepted: n === 0 ? 0 : accepted / n };
}

/** The table of a list of labelled mentions: overall, per group (sorted), seen / unseen when known. */
export function labelTable(items: readonly Labelled[], labels: readonly string[], accept: readonly string[]): LabelTable {
  const acceptSet = new Set(accept);
  const groups = [...new Set(items.map((i) => i.group))].sort();
  const byLabel: Record<string, LabelRow> = {};
  for (const g of groups) byLabel[g] = labelRow(items.filter((i) => i.group === g), labels, acceptSet);
  const known = items.some((i) => i.seen !== undefined);
  return {
    labels,
    accept: [...accept],
    overall: labelRow(items, labels, acceptSet),
    by_label: byLabel,
    ...(known ? { seen: labelRow(items.filter((i) => i.seen === true), labels, acceptSet), unseen: labelRow(items.filter((i) => i.seen === false), labels, acceptSet) } : {}),
  };
}

/** The rows of a table with their display names, in report order. */
export function namedRows(table: LabelTable): [string, LabelRow][] {
  const rows: [string, LabelRow][] = [["overall", table.overall], ...Object.entries(table.by_label)];
  if (table.seen) rows.push(["seen in training", table.seen]);
  if (table.unseen) rows.push(["unseen in training", table.unseen]);
  return rows;
}
