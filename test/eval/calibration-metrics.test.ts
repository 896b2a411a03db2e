/**
 * ECE over equal-mass bins, selective accuracy and coverage at a target accuracy, against brute-force
 * computations written independently (ranks by counting, every threshold tried).
 */
import { describe, expect, it } from "vitest";
import { brierScore, coverageAtAccuracy, expectedCalibrationError, reliabilityBins, selectiveAccuracy, type ConfidencePoint } from "../../src/eval/calibration-metrics.js";
import { calibrationReport } from "../../src/eval/calibration-report.js";
import { mulberry32 } from "../../src/util/random.js";

/** Position of point i in ascending confidence order, ties by index: counted, not sorted. */
function rankOf(points: readonly ConfidencePoint[], i: number): number {
  let r = 0;
  points.forEach((p, j) => {
    const c = points[i]!.confidence;
    if (p.confidence < c || (p.confidence === c && j < i)) r++;
  });
  return r;
}

function bruteEce(points: readonly ConfidencePoint[], bins: number): number {
  const n = points.length;
  const sums = Array.from({ length: bins }, () => ({ n: 0, conf: 0, right: 0 }));
  points.forEach((p, i) => {
    const r = rankOf(points, i);
    let b = 0;
    for (let c = 0; c < bins; c++) if (Math.floor((c * n) / bins) <= r) b = c;
    sums[b]!.n++;
    sums[b]!.conf += p.confidence;
    sums[b]!.right += p.correct ? 1 : 0;
  });
  return sums.reduce((a, s) => (s.n === 0 ? a : a + (s.n / n) * Math.abs(s.right / s.n - s.conf / s.n)), 0);
}

function bruteCoverage(points: readonly ConfidencePoint[], target: number): number {
  let best = 0;
  for (const t of new Set(points.map((p) => p.confidence))) {
    const kept = points.filter((p) => p.confidence >= t);
    const acc = kept.filter((p) => p.correct).length / kept.length;
    if (acc >= target) best = Math.max(best, kept.length / points.length);
  }
  return best;
}

function sample(n: number, seed: number, squash = (x: number) => x): ConfidencePoint[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const confidence = Math.round(squash(random()) * 50) / 50; // coarse: many ties
    return { confidence, correct: random() < Math.min(1, confidence * 1.1) };
  });
}

describe("calibration metrics", () => {
  it("ECE over 15 equal-mass bins equals a brute-force computation (ties, n not a multiple of 15)", () => {
    for (const [n, seed] of [[1000, 1], [47, 2], [15, 3], [7, 4]] as const) {
      const points = sample(n, seed);
      expect(expectedCalibrationError(points)).toBeCloseTo(bruteEce(points, 15), 12);
    }
    // Confidences crowded in [0.9, 1]: equal-width bins would put them all in one or two bins.
    const crowded = sample(600, 5, (x) => 0.9 + 0.1 * x);
    expect(expectedCalibrationError(crowded)).toBeCloseTo(bruteEce(crowded, 15), 12);
    expect(reliabilityBins(crowded).map((b) => b.n)).toEqual(Array.from({ length: 15 }, () => 40));
  });

  it("ECE of a hand-made case", () => {
    // 30 answers, 15 bins of 2: confidences 0.1..0.1 with one of two right in each bin: |0.5 - c| per bin.
    const points = Array.from({ length: 30 }, (_, i) => ({ confidence: 0.1 + 0.8 * (Math.floor(i / 2) / 14), correct: i % 2 === 0 }));
    const expected = Array.from({ length: 15 }, (_, b) => Math.abs(0.5 - (0.1 + 0.8 * (b / 14)))).reduce((a, v) => a + v, 0) / 15;
    expect(expectedCalibrationError(points)).toBeCloseTo(expected, 12);
    expect(brierScore([{ confidence: 0.8, correct: true }, { confidence: 0.4, correct: false }])).toBeCloseTo((0.04 + 0.16) / 2, 12);
  });

  it("selective accuracy and coverage at 90 / 95 % equal brute force", () => {
    for (const seed of [7, 8, 9]) {
      const points = sample(400, seed);
      const order = points.map((p, i) => ({ p, i })).sort((a, b) => b.p.confidence - a.p.confidence || a.i - b.i);
      for (const s of selectiveAccuracy(points, [0.5, 0.8, 0.9, 1])) {
        const kept = order.slice(0, Math.ceil(s.coverage * points.length));
        expect(s.kept).toBe(kept.length);
        expect(s.accuracy).toBeCloseTo(kept.filter((x) => x.p.correct).length / kept.length, 12);
      }
      for (const a of [0.9, 0.95]) expect(coverageAtAccuracy(points, a)).toBeCloseTo(bruteCoverage(points, a), 12);
    }
    expect(coverageAtAccuracy([{ confidence: 0.9, correct: false }], 0.9)).toBe(0);
  });

  it("the report gathers the figures and the 100-point curve", () => {
    const points = sample(300, 11);
    const r = calibrationReport(points);
    expect(r.ece).toBeCloseTo(bruteEce(points, 15), 12);
    expect(r.selective.map((s) => s.coverage)).toEqual([0.5, 0.8, 0.9, 1]);
    expect(r.coverage_at_accuracy["0.95"]).toBeCloseTo(bruteCoverage(points, 0.95), 12);
    expect(r.curve).toHaveLength(100);
    expect(r.curve[99]!.accuracy).toBeCloseTo(points.filter((p) => p.correct).length / 300, 12);
  });
});
