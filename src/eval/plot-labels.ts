import { namedRows, type LabelTable } from "./label-tally.js";
import { esc } from "./plot-svg.js";

/** Colours by label: exact matches green, hierarchy neighbours in blues and oranges, misses grey. */
const COLOURS: Readonly<Record<string, string>> = {
  STRICT: "#2ca02c",
  PARTIAL: "#98df8a",
  EXACT: "#bcbd22",
  BROAD: "#1f77b4",
  NARROW: "#ff7f0e",
  RELATED: "#9467bd",
  NO_RELATION: "#c7c7c7",
};

/**
 * A hand-written SVG: one horizontal bar per subset (overall, each label, seen / unseen) split into the share of
 * each label (0-100 %), with a legend; each segment's tooltip gives its count and percentage.
 */
export function renderLabelPlot(table: LabelTable, title: string): string {
  const rows = namedRows(table);
  const left = 150;
  const plotW = 420;
  const top = 40;
  const rowH = 26;
  const axisY = top + rows.length * rowH;
  const height = axisY + 70;
  const width = left + plotW + 30;
  const x = (share: number) => left + share * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  rows.forEach(([name, row], i) => {
    const y = top + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + rowH / 2 + 4}" text-anchor="end">${esc(name)} (${row.n})</text>`);
    let acc = 0;
    for (const label of table.labels) {
      const share = row.rates[label] ?? 0;
      if (share <= 0) continue;
      out.push(
        `<rect x="${x(acc).toFixed(1)}" y="${y + 3}" width="${(share * plotW).toFixed(1)}" height="${rowH - 6}" fill="${COLOURS[label] ?? "#888"}"><title>${esc(name)} ${label}: ${row.counts[label]} (${(100 * share).toFixed(1)}%)</title></rect>`,
      );
      acc += share;
    }
  });
  for (let t = 0; t <= 100; t += 20) out.push(`<text x="${x(t / 100)}" y="${axisY + 14}" text-anchor="middle">${t}</text>`);
  table.labels.forEach((label, i) => {
    const lx = left + (i % 4) * 110;
    const ly = axisY + 32 + Math.floor(i / 4) * 16;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${COLOURS[label] ?? "#888"}"/>`, `<text x="${lx + 14}" y="${ly}">${label}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
