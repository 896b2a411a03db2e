/**
 * Fitting a linker's calibration on training documents only:
 * - hybrid: from the out-of-fold rankings train-linker computes anyway (each mention ranked by a reranker that
 *   never saw its document's fold, with a training memory without that fold);
 * - TF-IDF, generative, retrieve-generate (`syncabel calibrate`): the mentions of a held-back slice of the training
 *   documents, linked as link-docs links them. The TF-IDF linker learns nothing from training files; a model must
 *   not have been fine-tuned on the slice (give a slice it did not see, or files it was not trained on).
 * Training mentions whose gold code is not a KB concept are left out: with answers restricted to the KB they can
 * never be right, and they measure how much of the annotation scheme the KB covers, not how sure the linker is.
 * Those left out are mostly of rare codes, so the hybrid linker's kept mentions are weighted back to the share of
 * codes unseen in other folds that all training mentions have.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_CODE } from "../constants.js";
import { readPredictions } from "../data/predictions-jsonl.js";
import { readDataset } from "../data/read-dataset.js";
import type { Dataset } from "../data/types.js";
import { SyncabelError } from "../errors.js";
import type { TrainingMention } from "../kb/mentions.js";
import { openKnowledgeBase } from "../kb/sqlite-kb.js";
import { hashString } from "../util/random.js";
import { storeCalibration } from "./calibrated-linker.js";
import { fitCalibration, MIN_CALIBRATION_SAMPLES, scoreKindOf, type CalibrationMethod, type CalibrationSample, type Calibrator, type CvFigure } from "./calibration.js";
import type { KbName } from "./hybrid-index.js";
import { CALIBRATION_BEAMS, type OutOfFoldRanking } from "./hybrid-train.js";
import { linkDocuments } from "./link-documents.js";
import { openLinker, type OpenLinkerOptions } from "./open.js";
import type { TrainingFile } from "./train-linker.js";

export interface CalibrationSummary {
  readonly method: CalibrationMethod;
  readonly samples: number;
  readonly documents: number;
  readonly accuracy: number;
  readonly source: string;
  readonly cv: readonly CvFigure[];
}

export function calibrationSummary(c: Calibrator): CalibrationSummary {
  const f = c.json.fitted;
  return { method: c.json.method, samples: f.samples, documents: f.documents, accuracy: f.accuracy, source: f.source, cv: f.cv };
}

/** Composite codes compare as sets (conventions, section 8). */
function sameCode(a: string, b: string): boolean {
  const set = (c: string): string => [...new Set(c.split("+").map((x) => x.trim()))].sort().join("+");
  return set(a) === set(b);
}

/** The hybrid linker's calibration from train-linker's out-of-fold rankings; undefined with too few mentions. */
export function calibrateOutOfFold(rankings: readonly OutOfFoldRanking[], mentions: readonly TrainingMention[], kbNames: readonly KbName[], options: { restrictToKb: boolean; folds: number; seed: number }): Calibrator | undefined {
  const kbCodes = new Set(kbNames.flatMap((n) => n.codes));
  const kept = rankings.filter((r) => !options.restrictToKb || (mentions[r.mention] as TrainingMention).code.split("+").every((c) => kbCodes.has(c)));
  // Codes the KB lacks are mostly rare ones: the kept mentions have fewer codes unseen in other folds than training
  // mentions at large. Weights restore the unseen share of all training mentions (as the reranker's training does).
  const unseenAll = rankings.filter((r) => !r.seen).length / Math.max(1, rankings.length);
  const unseenKept = kept.filter((r) => !r.seen).length / Math.max(1, kept.length);
  const reweight = unseenKept > 0 && unseenKept < 1;
  const samples: CalibrationSample[] = kept.map((r) => {
    const m = mentions[r.mention] as TrainingMention;
    const weight = reweight ? (r.seen ? (1 - unseenAll) / (1 - unseenKept) : unseenAll / unseenKept) : 1;
    return { scores: r.scores, goldRank: r.goldRank, document: `${m.source}\u0000${m.document}`, weight };
  });
  if (samples.length < MIN_CALIBRATION_SAMPLES) return undefined;
  return fitCalibration(samples, { linker: "hybrid", scoreKind: "softmax", beams: CALIBRATION_BEAMS, folds: options.folds, seed: options.seed, source: `out-of-fold rankings of train-linker (${options.folds} document folds)` });
}

export interface CalibrateOptions extends Omit<OpenLinkerOptions, "linker" | "minConfidence" | "calibrated"> {
  readonly linker: "tfidf" | "generative" | "retrieve-generate";
  readonly train: readonly TrainingFile[];
  /** Share of the training documents held back and linked (default 0.2; 1 = every document). */
  readonly slice?: number;
  /** Candidates per mention read by the calibration (default 5). */
  readonly beams?: number;
  readonly seed?: number;
  readonly log?: (message: string) => void;
  readonly signal?: AbortSignal;
}

export interface CalibrateReport extends CalibrationSummary {
  readonly linker: string;
  readonly storedIn: string;
  readonly heldBackDocuments: number;
  readonly seconds: number;
}

/** Whether a training document belongs to the held-back slice (a seeded hash of its id: no file-order effect). */
export function inHeldBackSlice(document: string, slice: number, seed: number): boolean {
  return hashString(`${seed}\u0000held-back\u0000${document}`) % 10_000 < Math.round(slice * 10_000);
}

/** `syncabel calibrate`: link a held-back slice of training documents, fit, store the calibration. */
export async function calibrateLinker(options: CalibrateOptions): Promise<CalibrateReport> {
  const started = performance.now();
  const slice = options.slice ?? 0.2;
  const seed = options.seed ?? 1;
  const beams = options.beams ?? 5;
  if (!(slice > 0 && slice <= 1)) throw new SyncabelError("LINKER_INVALID_OPTIONS", `the held-back slice must be in (0, 1], got ${slice}`);
  const kb = openKnowledgeBase(options.kb);
  const work = mkdtempSync(join(tmpdir(), "syncabel-calibrate-"));
  const linker = await openLinker({ ...options, linker: options.linker, calibrated: false });
  try {
    const samples: CalibrationSample[] = [];
    let heldBack = 0;
    for (const [k, file] of options.train.entries()) {
      const read = await readDataset(file.path, { format: file.format, ...(file.textsDir === undefined ? {} : { textsDir: file.textsDir }) });
      const documents = read.documents.filter((d) => inHeldBackSlice(d.id, slice, seed));
      heldBack += documents.length;
      const dataset: Dataset = { ...read, documents };
      const out = join(work, `slice-${k}.jsonl`);
      options.log?.(`linking ${documents.reduce((a, d) => a + d.mentions.length, 0)} mentions of ${documents.length} held-back documents of ${file.path}`);
      const result = await linkDocuments(dataset, linker, { outPath: out, format: "jsonl", numBeams: Math.max(beams, 1), ...(options.signal === undefined ? {} : { signal: options.signal }) });
      if (result.aborted) throw new SyncabelError("INTERRUPTED", "calibration interrupted: nothing was stored");
      for (const row of readPredictions(out).rows) {
        const gold = row.code ?? NO_CODE;
        if (gold === NO_CODE || row.error !== undefined || row.topCodes === undefined || row.topScores === undefined) continue;
        if (!gold.split("+").every((c) => kb.concept(c) !== undefined)) continue;
        const rank = row.topCodes.findIndex((c) => sameCode(c, gold)) + 1;
        samples.push({ scores: row.topScores, goldRank: rank, document: `${file.path}\u0000${row.filename}` });
      }
    }
    const calibrator = fitCalibration(samples, { linker: linker.kind, scoreKind: scoreKindOf(linker.kind), beams, seed, source: `held-back slice (${Math.round(slice * 100)} % of the training documents)` });
    const storedIn = storeCalibration(kb, calibrator, options.model);
    return { linker: linker.kind, storedIn, heldBackDocuments: heldBack, ...calibrationSummary(calibrator), seconds: (performance.now() - started) / 1000 };
  } finally {
    await linker.close();
    kb.close();
    rmSync(work, { recursive: true, force: true });
  }
}
