/**
 * Calibrated confidence: the probability that a linker's top code is right, computed from the scores of its
 * ranked answers alone (any linker: no look into its internals). Fitted on training documents only (out of fold
 * for the hybrid linker, a held-back slice for the others: src/linker/calibrate.ts), stored as JSON.
 *
 * Signal: the first `beams` scores of a result. Features: the top share of the scores, log ratio of the top two,
 * normalised entropy, beams returned; for linkers whose scores are absolute (cosine, exp of the mean
 * log-probability) also the raw top and second scores. The hybrid linker's scores are a softmax over the returned
 * list, so only their shares among the first `beams` count (the same whatever num_beams was asked).
 * Calibrators compared by document-fold cross-validation on the fitting data (Brier score, the lowest wins):
 * isotonic regression on the top score, logistic regression (Platt scaling on several features), and isotonic
 * regression on the logistic output.
 * Samples may carry weights (the hybrid linker's restore the share of codes unseen in other folds, as its reranker's
 * training does): CV figures (Brier, log-loss) are weighted, ECE is not.
 * Probabilities of the other candidates: (1 - confidence) x P(gold among ranks 2..beams | top wrong) shared in
 * proportion to score^(1/T), T fitted by likelihood: the list sums to at most 1.
 */
import { SyncabelError } from "../errors.js";
import { brierScore, expectedCalibrationError, logLoss, type ConfidencePoint } from "../eval/calibration-metrics.js";
import { hashString } from "../util/random.js";

/** softmax: scores are shares of a softmax over the returned list (hybrid); absolute: comparable across mentions. */
export type ScoreKind = "softmax" | "absolute";
export type CalibrationMethod = "isotonic" | "logistic" | "logistic+isotonic";
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ["isotonic", "logistic", "logistic+isotonic"];

/** One fitting example: a result's scores (best first) and where the gold code ranked (1-based; 0 = not listed). */
export interface CalibrationSample {
  readonly scores: readonly number[];
  readonly goldRank: number;
  /** Document of the mention: cross-validation folds never split one. */
  readonly document: string;
  /** Weight in the fit (default 1), e.g. to restore the share of unseen codes among training mentions. */
  readonly weight?: number;
}

interface IsotonicJson {
  readonly x: readonly number[];
  readonly y: readonly number[];
}

interface LogisticJson {
  readonly mean: readonly number[];
  readonly scale: readonly number[];
  /** Intercept first. */
  readonly weights: readonly number[];
}

export interface CvFigure {
  readonly method: CalibrationMethod;
  readonly brier: number;
  readonly log_loss: number;
  readonly ece: number;
}

/** The stored calibration of one linker kind (JSON). */
export interface CalibrationJson {
  readonly format: "syncabel-calibration";
  readonly version: 1;
  readonly linker: string;
  readonly scoreKind: ScoreKind;
  /** Scores read per result (the linker is asked for at least this many candidates). */
  readonly beams: number;
  readonly method: CalibrationMethod;
  readonly logistic?: LogisticJson;
  readonly isotonic?: IsotonicJson;
  /** P(gold among ranks 2..beams | top wrong) and the temperature sharing it among those ranks. */
  readonly restMass: number;
  readonly temperature: number;
  readonly fitted: {
    readonly samples: number;
    readonly documents: number;
    /** Share of fitting samples whose top answer was right. */
    readonly accuracy: number;
    /** How the samples were obtained (out-of-fold, held-back slice ...). */
    readonly source: string;
    readonly folds: number;
    readonly cv: readonly CvFigure[];
  };
}

const EPS = 1e-9;
const logit = (p: number): number => Math.log(Math.max(EPS, p) / Math.max(EPS, 1 - p));
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** The first `beams` scores as non-negative shares summing to 1 (uniform when all are 0). */
function shares(scores: readonly number[], beams: number): number[] {
  const top = scores.slice(0, beams).map((s) => (Number.isFinite(s) && s > 0 ? s : 0));
  const total = top.reduce((a, b) => a + b, 0);
  return total > 0 ? top.map((s) => s / total) : top.map(() => 1 / Math.max(1, top.length));
}

/** The feature vector of a result's scores. */
export function calibrationFeatures(scores: readonly number[], beams: number, kind: ScoreKind): number[] {
  const r = shares(scores, beams);
  const r1 = r[0] ?? 0;
  const r2 = r[1] ?? 0;
  const entropy = r.length > 1 ? -r.reduce((a, p) => a + (p > 0 ? p * Math.log(p) : 0), 0) / Math.log(r.length) : 0;
  const out = [logit(r1), Math.log((r1 + EPS) / (r2 + EPS)), entropy, Math.min(scores.length, beams) / beams];
  if (kind === "absolute") {
    const s1 = Math.max(0, Math.min(1, scores[0] ?? 0));
    const s2 = Math.max(0, Math.min(1, scores[1] ?? 0));
    out.push(s1, s2, logit(s1));
  }
  return out;
}

/** The one-dimensional score isotonic regression uses alone: the top score (absolute) or top share (softmax). */
function topSignal(scores: readonly number[], beams: number, kind: ScoreKind): number {
  return kind === "absolute" ? (scores[0] ?? 0) : (shares(scores, beams)[0] ?? 0);
}

// ---- fitters --------------------------------------------------------------------------------------------

/** Solve A x = b (A symmetric positive definite, small) by Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] as number]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs((m[r] as number[])[c] as number) > Math.abs((m[p] as number[])[c] as number)) p = r;
    [m[c], m[p]] = [m[p] as number[], m[c] as number[]];
    const pivot = (m[c] as number[])[c] as number;
    if (Math.abs(pivot) < 1e-12) continue;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = ((m[r] as number[])[c] as number) / pivot;
      if (f === 0) continue;
      for (let k = c; k <= n; k++) (m[r] as number[])[k] = ((m[r] as number[])[k] as number) - f * ((m[c] as number[])[k] as number);
    }
  }
  return m.map((row, i) => {
    const d = row[i] as number;
    return Math.abs(d) < 1e-12 ? 0 : (row[n] as number) / d;
  });
}

/** L2-regularised logistic regression by Newton's method on standardised features. */
export function fitLogistic(x: readonly (readonly number[])[], y: readonly number[], l2 = 1e-3, weights?: readonly number[]): LogisticJson {
  const d = x[0]?.length ?? 0;
  const n = x.length;
  const wOf = (i: number): number => weights?.[i] ?? 1;
  const mean = Array.from({ length: d }, (_, j) => x.reduce((a, r) => a + (r[j] as number), 0) / Math.max(1, n));
  const scale = Array.from({ length: d }, (_, j) => Math.sqrt(x.reduce((a, r) => a + ((r[j] as number) - (mean[j] as number)) ** 2, 0) / Math.max(1, n)) || 1);
  const z = x.map((r) => [1, ...r.map((v, j) => (v - (mean[j] as number)) / (scale[j] as number))]);
  let w = new Array<number>(d + 1).fill(0);
  for (let iter = 0; iter < 50; iter++) {
    const g = new Array<number>(d + 1).fill(0);
    const h = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    z.forEach((row, i) => {
      const p = sigmoid(row.reduce((a, v, j) => a + v * (w[j] as number), 0));
      const s = wOf(i) * Math.max(p * (1 - p), 1e-10);
      for (let j = 0; j <= d; j++) {
        g[j] = (g[j] as number) + wOf(i) * (p - (y[i] as number)) * (row[j] as number);
        const hj = h[j] as number[];
        for (let k = 0; k <= d; k++) hj[k] = (hj[k] as number) + s * (row[j] as number) * (row[k] as number);
      }
    });
    for (let j = 1; j <= d; j++) {
      g[j] = (g[j] as number) + l2 * n * (w[j] as number);
      (h[j] as number[])[j] = ((h[j] as number[])[j] as number) + l2 * n;
    }
    const step = solve(h, g);
    w = w.map((v, j) => v - (step[j] as number));
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { mean, scale, weights: w };
}

function logisticLinear(m: LogisticJson, f: readonly number[]): number {
  let z = m.weights[0] as number;
  f.forEach((v, j) => (z += (m.weights[j + 1] as number) * ((v - (m.mean[j] as number)) / (m.scale[j] as number))));
  return z;
}

/** Pool-adjacent-violators over (x, y) sorted by x: blocks of a non-decreasing step fit (mean x, sum y, size). */
export function isotonicBlocks(x: readonly number[], y: readonly number[], weights?: readonly number[]): { meanX: number; sumY: number; n: number }[] {
  const order = x.map((_, i) => i).sort((a, b) => (x[a] as number) - (x[b] as number) || a - b);
  const blocks: { sx: number; sy: number; n: number }[] = [];
  for (const i of order) {
    const w = weights?.[i] ?? 1;
    blocks.push({ sx: w * (x[i] as number), sy: w * (y[i] as number), n: w });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1] as { sx: number; sy: number; n: number };
      const a = blocks[blocks.length - 2] as { sx: number; sy: number; n: number };
      if (a.sy / a.n < b.sy / b.n) break;
      blocks.splice(blocks.length - 2, 2, { sx: a.sx + b.sx, sy: a.sy + b.sy, n: a.n + b.n });
    }
  }
  return blocks.map((b) => ({ meanX: b.sx / b.n, sumY: b.sy, n: b.n }));
}

/**
 * Isotonic regression: each pooled block keeps its mean x and a Laplace-smoothed rate (never exactly 0 or 1);
 * predictions interpolate linearly between block means.
 */
export function fitIsotonic(x: readonly number[], y: readonly number[], weights?: readonly number[]): IsotonicJson {
  const blocks = isotonicBlocks(x, y, weights);
  return { x: blocks.map((b) => b.meanX), y: blocks.map((b) => (b.sumY + 1) / (b.n + 2)) };
}

export function isotonicPredict(m: IsotonicJson, v: number): number {
  const xs = m.x;
  const ys = m.y;
  const n = xs.length;
  if (n === 0) return 0.5;
  if (v <= (xs[0] as number)) return ys[0] as number;
  if (v >= (xs[n - 1] as number)) return ys[n - 1] as number;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) <= v) lo = mid;
    else hi = mid;
  }
  const x0 = xs[lo] as number;
  const x1 = xs[hi] as number;
  const t = x1 > x0 ? (v - x0) / (x1 - x0) : 0;
  return (ys[lo] as number) + t * ((ys[hi] as number) - (ys[lo] as number));
}

// ---- the calibrator ---------------------------------------------------------------------------------------

type Model = Pick<CalibrationJson, "method" | "logistic" | "isotonic" | "beams" | "scoreKind">;

function fitModel(samples: readonly CalibrationSample[], method: CalibrationMethod, beams: number, kind: ScoreKind): Model {
  const y = samples.map((s) => (s.goldRank === 1 ? 1 : 0));
  const w = samples.map((s) => s.weight ?? 1);
  if (method === "isotonic") return { method, beams, scoreKind: kind, isotonic: fitIsotonic(samples.map((s) => topSignal(s.scores, beams, kind)), y, w) };
  const logistic = fitLogistic(samples.map((s) => calibrationFeatures(s.scores, beams, kind)), y, 1e-3, w);
  if (method === "logistic") return { method, beams, scoreKind: kind, logistic };
  const z = samples.map((s) => logisticLinear(logistic, calibrationFeatures(s.scores, beams, kind)));
  return { method, beams, scoreKind: kind, logistic, isotonic: fitIsotonic(z, y, w) };
}

function modelConfidence(m: Model, scores: readonly number[]): number {
  if (scores.length === 0) return 0;
  if (m.method === "isotonic") return isotonicPredict(m.isotonic as IsotonicJson, topSignal(scores, m.beams, m.scoreKind));
  const z = logisticLinear(m.logistic as LogisticJson, calibrationFeatures(scores, m.beams, m.scoreKind));
  return m.method === "logistic" ? sigmoid(z) : isotonicPredict(m.isotonic as IsotonicJson, z);
}

/** Applies a stored calibration to results' scores. */
export class Calibrator {
  constructor(readonly json: CalibrationJson) {}

  static fromJSON(value: unknown, where: string): Calibrator {
    const v = value as Partial<CalibrationJson> | null;
    if (v === null || typeof v !== "object" || v.format !== "syncabel-calibration" || v.version !== 1) {
      throw new SyncabelError("KB_INDEX_INVALID", `${where}: not a syncabel calibration (format/version); re-run 'syncabel calibrate' or 'syncabel train-linker'`);
    }
    if (!CALIBRATION_METHODS.includes(v.method as CalibrationMethod) || !Number.isInteger(v.beams) || (v.beams as number) < 1) {
      throw new SyncabelError("KB_INDEX_INVALID", `${where}: the calibration has an unknown method or beam count`);
    }
    if ((v.method !== "isotonic" && v.logistic === undefined) || (v.method !== "logistic" && v.isotonic === undefined)) {
      throw new SyncabelError("KB_INDEX_INVALID", `${where}: the calibration lacks its ${v.method} parameters`);
    }
    return new Calibrator(v as CalibrationJson);
  }

  get beams(): number {
    return this.json.beams;
  }

  /** P(the first code is right) for a result with these scores, best first (0 for an empty list). */
  confidence(scores: readonly number[]): number {
    return modelConfidence(this.json, scores);
  }

  /** Per candidate: P(this candidate is right); the first is `confidence`, the list sums to at most 1. */
  probabilities(scores: readonly number[], confidence = this.confidence(scores)): number[] {
    if (scores.length === 0) return [];
    const rest = scores.slice(1).map((s) => Math.max(0, Number.isFinite(s) ? s : 0) ** (1 / this.json.temperature));
    const total = rest.reduce((a, b) => a + b, 0);
    const mass = (1 - confidence) * this.json.restMass;
    return [confidence, ...rest.map((q) => (total > 0 ? (mass * q) / total : mass / rest.length))];
  }

  toJSON(): CalibrationJson {
    return this.json;
  }
}

/** A per-point metric (a mean over points) averaged with weights. */
function weightedMean(points: readonly ConfidencePoint[], weights: readonly number[], metric: (p: readonly ConfidencePoint[]) => number): number {
  let total = 0;
  let sum = 0;
  points.forEach((p, i) => {
    const w = weights[i] ?? 1;
    total += w;
    sum += w * metric([p]);
  });
  return total === 0 ? 0 : sum / total;
}

/** P(gold among ranks 2..beams | top wrong) and the temperature of the shares among those ranks (max likelihood). */
function fitRest(samples: readonly CalibrationSample[], beams: number): { restMass: number; temperature: number } {
  const wrong = samples.filter((s) => s.goldRank !== 1);
  const inRest = wrong.filter((s) => s.goldRank >= 2 && s.goldRank <= Math.min(beams, s.scores.length));
  const restMass = (inRest.length + 0.5) / (wrong.length + 1);
  let best = { t: 1, ll: -Infinity };
  for (let e = -3; e <= 3.0001; e += 0.1) {
    const t = Math.exp(e);
    let ll = 0;
    for (const s of inRest) {
      const q = s.scores.slice(1, beams).map((v) => Math.max(1e-12, v) ** (1 / t));
      const total = q.reduce((a, b) => a + b, 0);
      ll += Math.log((q[s.goldRank - 2] as number) / total);
    }
    if (ll > best.ll) best = { t, ll };
  }
  return { restMass, temperature: best.t };
}

export interface FitCalibrationOptions {
  readonly linker: string;
  readonly scoreKind: ScoreKind;
  /** Scores read per result (default 5). */
  readonly beams?: number;
  /** Document folds of the method comparison (default 5). */
  readonly folds?: number;
  readonly seed?: number;
  /** Where the samples come from, recorded in the JSON. */
  readonly source: string;
  /** Only this method (default: the lowest cross-validated Brier score). */
  readonly method?: CalibrationMethod;
}

/** Fewest fitting samples a calibration is made from. */
export const MIN_CALIBRATION_SAMPLES = 20;

/** Compare the calibrators by document-fold cross-validation, then fit the best on every sample. */
export function fitCalibration(samples: readonly CalibrationSample[], options: FitCalibrationOptions): Calibrator {
  if (samples.length < MIN_CALIBRATION_SAMPLES) throw new SyncabelError("LINKER_INVALID_OPTIONS", `calibration needs at least ${MIN_CALIBRATION_SAMPLES} linked training mentions, got ${samples.length}`);
  const beams = options.beams ?? 5;
  const folds = options.folds ?? 5;
  const seed = options.seed ?? 1;
  const foldOf = (s: CalibrationSample): number => hashString(`${seed}\u0000calibration\u0000${s.document}`) % folds;
  const methods = options.method === undefined ? CALIBRATION_METHODS : [options.method];
  const cv: CvFigure[] = methods.map((method) => {
    const points: ConfidencePoint[] = [];
    const weights: number[] = [];
    for (let f = 0; f < folds; f++) {
      const test = samples.filter((s) => foldOf(s) === f);
      const train = samples.filter((s) => foldOf(s) !== f);
      if (test.length === 0 || train.length === 0) continue;
      const model = fitModel(train, method, beams, options.scoreKind);
      for (const s of test) {
        points.push({ confidence: modelConfidence(model, s.scores), correct: s.goldRank === 1 });
        weights.push(s.weight ?? 1);
      }
    }
    return { method, brier: weightedMean(points, weights, brierScore), log_loss: weightedMean(points, weights, logLoss), ece: expectedCalibrationError(points) };
  });
  const chosen = cv.reduce((a, b) => (b.brier < a.brier - 1e-9 ? b : a));
  const model = fitModel(samples, chosen.method, beams, options.scoreKind);
  return new Calibrator({
    format: "syncabel-calibration",
    version: 1,
    linker: options.linker,
    ...model,
    ...fitRest(samples, beams),
    fitted: {
      samples: samples.length,
      documents: new Set(samples.map((s) => s.document)).size,
      accuracy: samples.reduce((a, s) => a + (s.goldRank === 1 ? (s.weight ?? 1) : 0), 0) / samples.reduce((a, s) => a + (s.weight ?? 1), 0),
      source: options.source,
      folds,
      cv,
    },
  });
}

/** The score kind of a linker: the hybrid linker's scores are a softmax over the returned list. */
export function scoreKindOf(linker: string): ScoreKind {
  return linker === "hybrid" ? "softmax" : "absolute";
}
