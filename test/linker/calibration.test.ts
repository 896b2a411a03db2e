/**
 * Calibrated confidence: the fitters against independent computations (min-max formula of isotonic regression,
 * the gradient of the penalised likelihood), calibration of synthetic results whose true probability is known,
 * and the wrapper over a real TF-IDF linker (confidence, per-candidate probabilities, abstention), stored in and
 * read back from a real KB index.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedCalibrationError } from "../../src/eval/calibration-metrics.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { CalibratedLinker, clearCalibration, readCalibration, storeCalibration, withCalibration } from "../../src/linker/calibrated-linker.js";
import { Calibrator, fitCalibration, fitLogistic, isotonicBlocks, type CalibrationSample } from "../../src/linker/calibration.js";
import { openLinker } from "../../src/linker/open.js";
import { TfidfLinker } from "../../src/linker/tfidf-linker.js";
import { NO_CODE } from "../../src/linker/types.js";
import { mulberry32 } from "../../src/util/random.js";
import { buildKbFromRows } from "../support/kb.js";
import { beamsOf, CLINICAL_KB_ROWS, DISEASES } from "../support/linker-fixtures.js";

/** Results whose top share r drives the truth: P(top right) = r^2; the gold is second half the time otherwise. */
function synthetic(n: number, seed: number): (CalibrationSample & { truth: number })[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const r1 = 0.2 + 0.8 * random();
    const rest = [random(), random(), random(), random()];
    const total = rest.reduce((a, b) => a + b, 0);
    const scores = [r1, ...rest.map((v) => ((1 - r1) * v) / total)].sort((a, b) => b - a);
    const truth = scores[0]! ** 2;
    const goldRank = random() < truth ? 1 : random() < 0.5 ? 2 : 0;
    return { scores, goldRank, document: `d${Math.floor(i / 5)}`, truth };
  });
}

describe("calibration fitters", () => {
  it("isotonic blocks equal the min-max formula of isotonic regression", () => {
    const random = mulberry32(3);
    const x = Array.from({ length: 60 }, () => random());
    const y: number[] = x.map((v) => (random() < v ? 1 : 0));
    const order = x.map((_, i) => i).sort((a, b) => x[a]! - x[b]!);
    const ys = order.map((i) => y[i]!);
    const fitted = isotonicBlocks(x, y).flatMap((b) => Array.from({ length: b.n }, () => b.sumY / b.n));
    ys.forEach((_, i) => {
      let best = -Infinity;
      for (let j = 0; j <= i; j++) {
        let low = Infinity;
        for (let k = i; k < ys.length; k++) low = Math.min(low, ys.slice(j, k + 1).reduce((a, b) => a + b, 0) / (k - j + 1));
        best = Math.max(best, low);
      }
      expect(fitted[i]).toBeCloseTo(best, 12);
    });
  });

  it("logistic regression stops where the penalised likelihood's gradient vanishes", () => {
    const random = mulberry32(4);
    const x = Array.from({ length: 300 }, () => [random() * 4, random() - 0.5]);
    const y = x.map(([a, b]) => (random() < 1 / (1 + Math.exp(-(a! - 2 + 3 * b!))) ? 1 : 0));
    const l2 = 1e-3;
    const m = fitLogistic(x, y, l2);
    const grad = [0, 0, 0];
    x.forEach((row, i) => {
      const z = row.map((v, j) => (v - m.mean[j]!) / m.scale[j]!);
      const p = 1 / (1 + Math.exp(-(m.weights[0]! + z[0]! * m.weights[1]! + z[1]! * m.weights[2]!)));
      grad[0]! += p - y[i]!;
      grad[1]! += (p - y[i]!) * z[0]!;
      grad[2]! += (p - y[i]!) * z[1]!;
    });
    grad[1]! += l2 * 300 * m.weights[1]!;
    grad[2]! += l2 * 300 * m.weights[2]!;
    for (const g of grad) expect(Math.abs(g)).toBeLessThan(1e-6);
    expect(m.weights[1]).toBeGreaterThan(0);
  });

  it("calibrates results with a known probability of being right (fresh results, ECE and error to the truth)", () => {
    const c = fitCalibration(synthetic(4000, 1), { linker: "hybrid", scoreKind: "softmax", source: "synthetic" });
    expect(c.json.fitted.cv.map((f) => f.method)).toEqual(["isotonic", "logistic", "logistic+isotonic"]);
    const best = Math.min(...c.json.fitted.cv.map((f) => f.brier));
    expect(c.json.fitted.cv.find((f) => f.method === c.json.method)!.brier).toBe(best);
    const fresh = synthetic(4000, 2);
    const points = fresh.map((s) => ({ confidence: c.confidence(s.scores), correct: s.goldRank === 1 }));
    // The true probabilities themselves score an ECE of about 0.02 on 4,000 draws (bins of 267 are noisy).
    const truthEce = expectedCalibrationError(fresh.map((s) => ({ confidence: s.truth, correct: s.goldRank === 1 })));
    expect(expectedCalibrationError(points)).toBeLessThan(truthEce + 0.02);
    const error = fresh.reduce((a, s) => a + Math.abs(c.confidence(s.scores) - s.truth), 0) / fresh.length;
    expect(error).toBeLessThan(0.04);
    // P(gold second | top wrong) is 0.5 here: the rest of the list carries that share of 1 - confidence.
    expect(c.json.restMass).toBeGreaterThan(0.45);
    expect(c.json.restMass).toBeLessThan(0.55);
  });

  it("gives every candidate a probability: the top one is the confidence, the list sums to at most 1, never 1 or 0", () => {
    const c = fitCalibration(synthetic(2000, 5), { linker: "hybrid", scoreKind: "softmax", source: "synthetic" });
    for (const s of synthetic(200, 6)) {
      const p = c.probabilities(s.scores);
      expect(p[0]).toBe(c.confidence(s.scores));
      expect(p.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-12);
      for (const v of p) expect(v > 0 && v < 1).toBe(true);
    }
    expect(() => Calibrator.fromJSON({ format: "syncabel-calibration", version: 1, method: "logistic", beams: 5 }, "x")).toThrow(/lacks its logistic parameters/);
    expect(() => fitCalibration(synthetic(10, 1), { linker: "hybrid", scoreKind: "softmax", source: "x" })).toThrow(/at least 20/);
  });
});

describe("a calibrated TF-IDF linker", () => {
  let dir: string;
  let kbPath: string;
  let calibrator: Calibrator;
  // Exact names, names cut short, first words only (ambiguous): some right, some wrong.
  const sentences = DISEASES.slice(0, 30).map(([, n], i) => `Paciente con [${i % 3 === 0 ? n : i % 3 === 1 ? n.slice(0, -3) : n.split(" ")[0]!.slice(0, 5)}]{ENFERMEDAD} desde ayer.`);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-calibration-"));
    kbPath = await buildKbFromRows(dir, CLINICAL_KB_ROWS);
    const kb = openKnowledgeBase(kbPath);
    const raw = await TfidfLinker.fromKnowledgeBase(kb).sample(sentences, { num_beams: 5 });
    // Fitting data: the linker's own results, right when the first code is the mention's KB code.
    const samples = raw.map((r, i) => {
      const gold = DISEASES[i]![0];
      return { scores: beamsOf(r).map((b) => b.beam_score), goldRank: beamsOf(r).findIndex((b) => b.pred_concept_code === gold) + 1, document: `d${i}` };
    });
    calibrator = fitCalibration(samples, { linker: "tfidf", scoreKind: "absolute", folds: 3, source: "test" });
    storeCalibration(kb, calibrator);
    kb.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("adds confidence, code and per-beam probabilities computed from the first five scores, and keeps the beams asked for", async () => {
    const kb = openKnowledgeBase(kbPath);
    const plain = TfidfLinker.fromKnowledgeBase(kb);
    kb.close();
    const five = await plain.sample(sentences, { num_beams: 5 });
    const linker = withCalibration(plain, calibrator);
    const two = await linker.sample(sentences, { num_beams: 2 });
    two.forEach((r, i) => {
      const scores = beamsOf(five[i]!).map((b) => b.beam_score);
      expect(r.confidence).toBe(calibrator.confidence(scores));
      expect(beamsOf(r)).toHaveLength(Math.min(2, scores.length));
      expect(beamsOf(r).map((b) => b.probability)).toEqual(calibrator.probabilities(scores).slice(0, 2));
      expect(r.code).toBe(beamsOf(five[i]!)[0]!.pred_concept_code);
      expect(r.abstained).toBeUndefined();
    });
  });

  it("abstains below --min-confidence: code NO_CODE, abstained, candidates kept", async () => {
    const kb = openKnowledgeBase(kbPath);
    const raw = await TfidfLinker.fromKnowledgeBase(kb).sample(sentences, { num_beams: 5 });
    kb.close();
    const confidences = [...new Set(raw.map((r) => calibrator.confidence(beamsOf(r).map((b) => b.beam_score))))].sort();
    const min = confidences[Math.floor(confidences.length / 2)]!;
    const linker = await openLinker({ kb: kbPath, minConfidence: min });
    try {
      expect(linker).toBeInstanceOf(CalibratedLinker);
      const results = await linker.sample(sentences, { num_beams: 3 });
      const low = results.filter((r) => (r.confidence ?? 1) < min);
      const high = results.filter((r) => (r.confidence ?? 0) >= min);
      expect(low.length).toBeGreaterThan(0);
      expect(high.length).toBeGreaterThan(0);
      results.forEach((r, i) => {
        if ((r.confidence ?? 1) >= min) return;
        expect(r.abstained).toBe(true);
        expect(r.code).toBe(NO_CODE);
        // Candidates kept for review.
        expect(beamsOf(r).map((b) => b.pred_concept_code)).toEqual(beamsOf(raw[i]!).slice(0, 3).map((b) => b.pred_concept_code));
      });
      for (const r of high) {
        expect(r.abstained).toBeUndefined();
        expect(r.code).toBe(beamsOf(r)[0]!.pred_concept_code);
      }
    } finally {
      await linker.close();
    }
  });

  it("reads the calibration back from the KB; without one a minimum confidence is refused", async () => {
    const kb = openKnowledgeBase(kbPath);
    expect(readCalibration(kb, "tfidf")?.json).toEqual(calibrator.json);
    expect(readCalibration(kb, "hybrid")).toBeUndefined();
    kb.close();
    const copy = join(dir, "cleared.sqlite");
    copyFileSync(kbPath, copy);
    const cleared = openKnowledgeBase(copy);
    clearCalibration(cleared, "tfidf");
    expect(readCalibration(cleared, "tfidf")).toBeUndefined();
    cleared.close();
    const other = await buildKbFromRows(join(dir, "other"), CLINICAL_KB_ROWS).catch(async () => {
      const { mkdirSync } = await import("node:fs");
      mkdirSync(join(dir, "other"));
      return buildKbFromRows(join(dir, "other"), CLINICAL_KB_ROWS);
    });
    await expect(openLinker({ kb: other, minConfidence: 0.9 })).rejects.toThrow(/needs a calibrated tfidf linker.*calibrateLinker for the tfidf linker \(the calibrate command\)/);
    await expect(openLinker({ kb: kbPath, minConfidence: 1.5 })).rejects.toThrow(/probability in \[0, 1\]/);
  });
});

describe("the hybrid linker's out-of-fold calibration data", () => {
  it("leaves out mentions whose gold is not a KB concept and weights the rest back to the training share of unseen codes", async () => {
    const { calibrateOutOfFold } = await import("../../src/linker/calibrate.js");
    const random = mulberry32(9);
    // 200 mentions: codes c0..c9 in the KB, x0..x9 not; x codes are mostly unseen in other folds.
    const mentions = Array.from({ length: 200 }, (_, i) => ({ code: i % 4 === 0 ? `x${i % 10}` : `c${i % 10}`, document: `d${i % 40}`, source: "s" }));
    const rankings = mentions.map((m, i) => {
      const seen = m.code.startsWith("x") ? i % 8 === 0 : i % 5 !== 0;
      const top = 0.3 + 0.7 * random();
      return { mention: i, scores: [top, 1 - top], goldRank: m.code.startsWith("c") && random() < (seen ? 0.9 : 0.4) ? 1 : 2, seen };
    });
    const names = Array.from({ length: 10 }, (_, k) => ({ name: `n${k}`, group: "G", codes: [`c${k}`] }));
    const c = calibrateOutOfFold(rankings, mentions as never, names, { restrictToKb: true, folds: 3, seed: 1 })!;
    const kept = rankings.filter((r) => mentions[r.mention]!.code.startsWith("c"));
    expect(c.json.fitted.samples).toBe(kept.length);
    const unseenAll = rankings.filter((r) => !r.seen).length / rankings.length;
    const unseenKept = kept.filter((r) => !r.seen).length / kept.length;
    const w = (r: (typeof kept)[number]) => (r.seen ? (1 - unseenAll) / (1 - unseenKept) : unseenAll / unseenKept);
    const expected = kept.reduce((a, r) => a + (r.goldRank === 1 ? w(r) : 0), 0) / kept.reduce((a, r) => a + w(r), 0);
    expect(c.json.fitted.accuracy).toBeCloseTo(expected, 12);
    expect(c.json.fitted.accuracy).toBeLessThan(kept.filter((r) => r.goldRank === 1).length / kept.length); // unseen weigh more
    // Codes outside the KB kept as answers (--codes-outside-kb): every mention counts, unweighted.
    const all = calibrateOutOfFold(rankings, mentions as never, names, { restrictToKb: false, folds: 3, seed: 1 })!;
    expect(all.json.fitted.samples).toBe(200);
    expect(all.json.fitted.accuracy).toBeCloseTo(rankings.filter((r) => r.goldRank === 1).length / 200, 12);
    // Too few mentions: no calibration (train-linker then marks the KB's as absent).
    expect(calibrateOutOfFold(rankings.slice(0, 19), mentions as never, names, { restrictToKb: false, folds: 3, seed: 1 })).toBeUndefined();
  });
});
