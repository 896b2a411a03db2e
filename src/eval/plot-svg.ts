import type { EvalReport } from "./types.js";

/** A reference figure drawn next to ours, e.g. the paper's Recall@1 (percent). */
export interface ReferenceLine {
  readonly name: string;
  readonly value: number;
}

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const PALETTE = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

/**
 * A small hand-written SVG: one dot per row (overall, then each label) at its Recall@1 with the CI as a whisker,
 * on a 0-100 % horizontal axis, and each reference value as a dashed vertical line with its name.
 */
export function renderRecallPlot(report: EvalReport, references: readonly ReferenceLine[] = [], title = "Recall@1"): string {
  const rows: [string, number, readonly [number, number] | undefined][] = [
    ["overall", report.overall.recall[1] ?? 0, report.overall.ci?.[1]],
    ...Object.entries(report.by_label).map(([l, r]) => [l, r.recall[1] ?? 0, r.ci?.[1]] as [string, number, readonly [number, number] | undefined]),
  ];
  const left = 150;
  const plotW = 400;
  const top = 40;
  const rowH = 28;
  const legendH = references.length * 16;
  const height = top + rows.length * rowH + 40 + legendH;
  const width = left + plotW + 30;
  const x = (p: number) => left + (Math.max(0, Math.min(100, p)) / 100) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  const axisY = top + rows.length * rowH;
  for (let t = 0; t <= 100; t += 20) {
    out.push(`<line x1="${x(t)}" y1="${top - 8}" x2="${x(t)}" y2="${axisY}" stroke="#ddd"/>`);
    out.push(`<text x="${x(t)}" y="${axisY + 15}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<line x1="${left}" y1="${axisY}" x2="${left + plotW}" y2="${axisY}" stroke="black"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${axisY + 30}" text-anchor="middle">Recall@1 (%)</text>`);
  rows.forEach(([name, recall, ci], i) => {
    const y = top + i * rowH + rowH / 2;
    out.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end">${esc(name)}</text>`);
    if (ci) {
      const [lo, hi] = [100 * ci[0], 100 * ci[1]];
      out.push(`<line x1="${x(lo)}" y1="${y}" x2="${x(hi)}" y2="${y}" stroke="#1f77b4" stroke-width="2"/>`);
      out.push(`<line x1="${x(lo)}" y1="${y - 5}" x2="${x(lo)}" y2="${y + 5}" stroke="#1f77b4" stroke-width="2"/>`);
      out.push(`<line x1="${x(hi)}" y1="${y - 5}" x2="${x(hi)}" y2="${y + 5}" stroke="#1f77b4" stroke-width="2"/>`);
    }
    out.push(`<circle cx="${x(100 * recall)}" cy="${y}" r="4" fill="#1f77b4"><title>${esc(name)}: ${(100 * recall).toFixed(1)}</title></circle>`);
  });
  references.forEach((ref, i) => {
    const color = PALETTE[i % PALETTE.length];
    out.push(`<line x1="${x(ref.value)}" y1="${top - 8}" x2="${x(ref.value)}" y2="${axisY}" stroke="${color}" stroke-dasharray="4 3"/>`);
    const ly = axisY + 48 + i * 16;
    out.push(`<line x1="${left}" y1="${ly - 4}" x2="${left + 20}" y2="${ly - 4}" stroke="${color}" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${left + 26}" y="${ly}">${esc(ref.name)} = ${ref.value.toFixed(1)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
