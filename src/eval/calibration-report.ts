/**
 * The calibration section of an evaluation: ECE over 15 equal-mass bins, reliability bins, Brier score, the
 * accuracy / coverage curve (Recall@1 of the most confident mentions kept) and the coverage reachable at 90 % and
 * 95 % accuracy; as JSON, Markdown and an SVG with the reliability diagram and the curve side by side.
 */
import { brierScore, coverageAtAccuracy, ECE_BINS, expectedCalibrationError, reliabilityBins, selectiveAccuracy, type ConfidencePoint } from "./calibration-metrics.js";
import { pct } from "./report-markdown.js";
import type { CalibrationReport, EvalReport, Prediction } from "./types.js";

export const SELECTIVE_COVERAGES = [0.5, 0.8, 0.9, 1] as const;
export const TARGET_ACCURACIES = [0.9, 0.95] as const;

/** Adds a scored mention's confidence (and abstention) to the tallies; false when its prediction has none. */
export function tallyConfidence(
  prediction: Prediction,
  topRight: boolean,
  points: ConfidencePoint[],
  abstention: { abstained: number; abstainedTopRight: number; answered: number; answeredRight: number },
): boolean {
  if (prediction.abstained) {
    abstention.abstained++;
    if (topRight) abstention.abstainedTopRight++;
  } else {
    abstention.answered++;
    if (topRight) abstention.answeredRight++;
  }
  if (prediction.confidence === undefined || !Number.isFinite(prediction.confidence)) return false;
  points.push({ confidence: prediction.confidence, correct: topRight });
  return true;
}

export function calibrationReport(points: readonly ConfidencePoint[], withoutConfidence = 0): CalibrationReport {
  const n = points.length;
  return {
    mentions: n,
    without_confidence: withoutConfidence,
    ece: expectedCalibrationError(points, ECE_BINS),
    bins: ECE_BINS,
    brier: brierScore(points),
    mean_confidence: n === 0 ? 0 : points.reduce((a, p) => a + p.confidence, 0) / n,
    accuracy: n === 0 ? 0 : points.filter((p) => p.correct).length / n,
    reliability: reliabilityBins(points, ECE_BINS),
    selective: selectiveAccuracy(points, SELECTIVE_COVERAGES),
    coverage_at_accuracy: Object.fromEntries(TARGET_ACCURACIES.map((a) => [String(a), coverageAtAccuracy(points, a)])),
    curve: selectiveAccuracy(points, Array.from({ length: 100 }, (_, i) => (i + 1) / 100)).map((p) => ({ coverage: p.coverage, accuracy: p.accuracy })),
  };
}

/** Markdown of the calibration and abstention sections ("" when the predictions carry no confidence). */
export function renderCalibrationMarkdown(report: EvalReport): string {
  const lines: string[] = [];
  const c = report.calibration;
  if (c !== undefined) {
    lines.push(
      "",
      "### Confidence",
      "",
      `ECE (${c.bins} equal-mass bins): ${c.ece.toFixed(4)}; Brier ${c.brier.toFixed(4)}; mean confidence ${pct(c.mean_confidence)} %, top candidate right ${pct(c.accuracy)} % (${c.mentions} mentions${c.without_confidence > 0 ? `, ${c.without_confidence} without a confidence left out` : ""}).`,
      "",
      "| most confident kept | mentions | Recall@1 of kept |",
      "| ---: | ---: | ---: |",
      ...c.selective.map((s) => `| ${Math.round(s.coverage * 100)} % | ${s.kept} | ${pct(s.accuracy)} |`),
      "",
      ...Object.entries(c.coverage_at_accuracy).map(([a, cov]) => `- Coverage at ${Math.round(Number(a) * 100)} % accuracy: ${pct(cov)} %.`),
    );
  }
  const a = report.abstentions;
  if (a !== undefined) {
    lines.push(`- Abstained (NO_CODE below the minimum confidence, counted as misses above): ${a.abstained} mentions, of which ${a.abstained_top_right} had the gold code as top candidate; answered: ${a.answered}, Recall@1 ${pct(a.answered_recall_at_1)}.`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Reliability diagram (bins' accuracy against mean confidence, the diagonal) and accuracy / coverage curve. */
export function renderCalibrationSvg(report: CalibrationReport, title = "Confidence"): string {
  const size = 260;
  const pad = 45;
  const width = 2 * (size + pad) + 30;
  const height = size + pad + 70;
  const top = 40;
  const panel = (left: number) => ({ x: (v: number) => left + Math.max(0, Math.min(1, v)) * size, y: (v: number) => top + (1 - Math.max(0, Math.min(1, v))) * size });
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  const axes = (left: number, xLabel: string, yLabel: string, heading: string): void => {
    const p = panel(left);
    for (let t = 0; t <= 1.0001; t += 0.2) {
      out.push(`<line x1="${p.x(t)}" y1="${top}" x2="${p.x(t)}" y2="${top + size}" stroke="#eee"/><line x1="${left}" y1="${p.y(t)}" x2="${left + size}" y2="${p.y(t)}" stroke="#eee"/>`);
      out.push(`<text x="${p.x(t)}" y="${top + size + 14}" text-anchor="middle">${t.toFixed(1)}</text><text x="${left - 5}" y="${p.y(t) + 4}" text-anchor="end">${t.toFixed(1)}</text>`);
    }
    out.push(`<rect x="${left}" y="${top}" width="${size}" height="${size}" fill="none" stroke="black"/>`);
    out.push(`<text x="${left + size / 2}" y="${top + size + 32}" text-anchor="middle">${esc(xLabel)}</text>`);
    out.push(`<text x="${left - 32}" y="${top + size / 2}" text-anchor="middle" transform="rotate(-90 ${left - 32} ${top + size / 2})">${esc(yLabel)}</text>`);
    out.push(`<text x="${left + size / 2}" y="${top - 6}" text-anchor="middle">${esc(heading)}</text>`);
  };
  const left1 = pad;
  axes(left1, "mean confidence of the bin", "share right", `reliability, ECE ${report.ece.toFixed(3)} (${report.bins} equal-mass bins)`);
  const p1 = panel(left1);
  out.push(`<line x1="${p1.x(0)}" y1="${p1.y(0)}" x2="${p1.x(1)}" y2="${p1.y(1)}" stroke="#999" stroke-dasharray="4 3"/>`);
  out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${report.reliability.map((b) => `${p1.x(b.confidence).toFixed(1)},${p1.y(b.accuracy).toFixed(1)}`).join(" ")}"/>`);
  for (const b of report.reliability) {
    out.push(`<circle class="bin" cx="${p1.x(b.confidence).toFixed(1)}" cy="${p1.y(b.accuracy).toFixed(1)}" r="3.5" fill="#1f77b4"><title>${b.n} mentions, confidence ${b.confidence.toFixed(3)}, right ${b.accuracy.toFixed(3)}</title></circle>`);
  }
  const left2 = pad + size + pad + 30;
  const cov95 = report.coverage_at_accuracy["0.95"] ?? 0;
  axes(left2, "share of mentions kept (most confident first)", "Recall@1 of kept", `accuracy / coverage (95 % at ${pct(cov95)} %)`);
  const p2 = panel(left2);
  out.push(`<polyline class="curve" fill="none" stroke="#d62728" stroke-width="1.5" points="${report.curve.map((c) => `${p2.x(c.coverage).toFixed(1)},${p2.y(c.accuracy).toFixed(1)}`).join(" ")}"/>`);
  for (const a of [0.9, 0.95]) out.push(`<line x1="${p2.x(0)}" y1="${p2.y(a)}" x2="${p2.x(1)}" y2="${p2.y(a)}" stroke="#999" stroke-dasharray="2 3"/>`);
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
