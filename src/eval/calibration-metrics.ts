/**
 * Calibration and selective-accuracy figures of confidences: expected calibration error over equal-mass bins,
 * the reliability bins behind it, the accuracy / coverage curve and the coverage reachable at a target accuracy.
 * Plain functions over (confidence, correct) pairs: the evaluator, the calibration fitter and the tests share them.
 */

/** One scored answer: the confidence given to it and whether it was right. */
export interface ConfidencePoint {
  readonly confidence: number;
  readonly correct: boolean;
}

export interface ReliabilityBin {
  readonly n: number;
  /** Mean confidence and share right of the bin's answers. */
  readonly confidence: number;
  readonly accuracy: number;
  readonly min: number;
  readonly max: number;
}

export const ECE_BINS = 15;

/** Indices sorted by confidence ascending (ties in input order): the one order every figure here uses. */
function ascending(points: readonly ConfidencePoint[]): number[] {
  return points.map((_, i) => i).sort((a, b) => (points[a] as ConfidencePoint).confidence - (points[b] as ConfidencePoint).confidence || a - b);
}

/**
 * Equal-mass bins: the answers sorted by confidence and cut into `bins` runs of (nearly) equal size, bin b holding
 * sorted positions [floor(b n / bins), floor((b + 1) n / bins)). Empty bins (n < bins) are left out.
 */
export function reliabilityBins(points: readonly ConfidencePoint[], bins = ECE_BINS): ReliabilityBin[] {
  const order = ascending(points);
  const n = order.length;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const from = Math.floor((b * n) / bins);
    const to = Math.floor(((b + 1) * n) / bins);
    if (to <= from) continue;
    let conf = 0;
    let right = 0;
    for (let k = from; k < to; k++) {
      const p = points[order[k] as number] as ConfidencePoint;
      conf += p.confidence;
      if (p.correct) right++;
    }
    const count = to - from;
    out.push({ n: count, confidence: conf / count, accuracy: right / count, min: (points[order[from] as number] as ConfidencePoint).confidence, max: (points[order[to - 1] as number] as ConfidencePoint).confidence });
  }
  return out;
}

/** Expected calibration error: sum over equal-mass bins of (bin share) x |accuracy - mean confidence|. */
export function expectedCalibrationError(points: readonly ConfidencePoint[], bins = ECE_BINS): number {
  const n = points.length;
  if (n === 0) return 0;
  return reliabilityBins(points, bins).reduce((a, b) => a + (b.n / n) * Math.abs(b.accuracy - b.confidence), 0);
}

/** Mean squared error of the confidences (Brier score). */
export function brierScore(points: readonly ConfidencePoint[]): number {
  if (points.length === 0) return 0;
  return points.reduce((a, p) => a + (p.confidence - (p.correct ? 1 : 0)) ** 2, 0) / points.length;
}

/** Mean negative log-likelihood, confidences clipped to [1e-6, 1 - 1e-6]. */
export function logLoss(points: readonly ConfidencePoint[]): number {
  if (points.length === 0) return 0;
  const clip = (x: number): number => Math.min(1 - 1e-6, Math.max(1e-6, x));
  return -points.reduce((a, p) => a + Math.log(p.correct ? clip(p.confidence) : 1 - clip(p.confidence)), 0) / points.length;
}

export interface SelectivePoint {
  /** Share of answers kept (the most confident first). */
  readonly coverage: number;
  readonly kept: number;
  /** Share of the kept answers that are right. */
  readonly accuracy: number;
}

/** Accuracy of the `ceil(c n)` most confident answers for each coverage c (ties broken by input order). */
export function selectiveAccuracy(points: readonly ConfidencePoint[], coverages: readonly number[] = [0.5, 0.8, 0.9, 1]): SelectivePoint[] {
  const order = points.map((_, i) => i).sort((a, b) => (points[b] as ConfidencePoint).confidence - (points[a] as ConfidencePoint).confidence || a - b);
  const n = order.length;
  return coverages.map((c) => {
    const kept = Math.min(n, Math.ceil(c * n - 1e-9));
    let right = 0;
    for (let k = 0; k < kept; k++) if ((points[order[k] as number] as ConfidencePoint).correct) right++;
    return { coverage: c, kept, accuracy: kept === 0 ? 0 : right / kept };
  });
}

/**
 * The largest share of answers a confidence threshold can keep while the kept answers are at least `target`
 * accurate (0 when no threshold reaches it). Thresholds only fall between distinct confidences: tied answers are
 * kept or dropped together, as a threshold would.
 */
export function coverageAtAccuracy(points: readonly ConfidencePoint[], target: number): number {
  const n = points.length;
  if (n === 0) return 0;
  const order = ascending(points).reverse();
  let right = 0;
  let best = 0;
  for (let k = 0; k < n; k++) {
    const p = points[order[k] as number] as ConfidencePoint;
    if (p.correct) right++;
    const next = order[k + 1];
    const cut = next === undefined || (points[next] as ConfidencePoint).confidence !== p.confidence;
    if (cut && right / (k + 1) >= target - 1e-12) best = (k + 1) / n;
  }
  return best;
}

/** The accuracy / coverage curve at every distinct threshold (for a plot), most confident first. */
export function coverageCurve(points: readonly ConfidencePoint[]): { coverage: number; accuracy: number; threshold: number }[] {
  const n = points.length;
  const order = ascending(points).reverse();
  const out: { coverage: number; accuracy: number; threshold: number }[] = [];
  let right = 0;
  for (let k = 0; k < n; k++) {
    const p = points[order[k] as number] as ConfidencePoint;
    if (p.correct) right++;
    const next = order[k + 1];
    if (next === undefined || (points[next] as ConfidencePoint).confidence !== p.confidence) out.push({ coverage: (k + 1) / n, accuracy: right / (k + 1), threshold: p.confidence });
  }
  return out;
}
