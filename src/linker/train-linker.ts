/**
 * `syncabel train-linker` as a library call: add training files to a KB index's training memory, fit the hybrid
 * linker's reranker on the whole training memory (out-of-fold features, cross-validated hyper-parameters) and
 * store the model in the KB index, where `link`, `link-docs`, `serve` and `Linker.open` find it.
 */
import { resolve } from "node:path";
import { SyncabelError } from "../errors.js";
import { putArtifactRow, withKbTransaction } from "../kb/kb-write.js";
import {
  checkSomethingToStore, planTraining, readTrainingFile, storeTrainingPlan, trainingMemoryAfter,
  type MentionsReport, type TrainingFile, type TrainingRead,
} from "../kb/mentions.js";
import { openKnowledgeBase } from "../kb/sqlite-kb.js";
import { FEATURE_NAMES } from "./hybrid-features.js";
import { HYBRID_ARTIFACT_KEY, kbNamesOf, type HybridModelJson } from "./hybrid-linker.js";
import { trainHybrid, type HybridTrainOptions } from "./hybrid-train.js";
import { calibrationArtifactKey } from "./calibrated-linker.js";
import { calibrateOutOfFold, calibrationSummary, type CalibrationSummary } from "./calibrate.js";

export type { TrainingFile } from "../kb/mentions.js";
export { addTrainingFiles } from "../kb/mentions.js";

export interface TrainLinkerOptions extends Omit<HybridTrainOptions, "language"> {
  /** Files to add to the training memory first (none: train on the memory already stored). */
  readonly train?: readonly TrainingFile[];
  /** Stemming language (default: the language the reader gives the training documents, else es). */
  readonly language?: string;
  /** Stop at the first row a reader rejects instead of skipping it. */
  readonly strict?: boolean;
}

export interface TrainLinkerReport {
  readonly added: readonly MentionsReport[];
  readonly mentions: number;
  readonly documents: number;
  readonly language: string;
  readonly candidateRecall: number;
  readonly chosen: HybridModelJson["chosen"];
  readonly cv: HybridModelJson["cv"];
  /** The out-of-fold calibration stored beside the model (absent: too few training mentions to fit one). */
  readonly calibration?: CalibrationSummary;
  readonly seconds: number;
}

/**
 * All or nothing: the training files are read and the model is trained on the memory as it will be, then the new
 * rows and the model are stored in one transaction. A run that fails or is killed changes nothing.
 */
export async function trainLinker(kbPath: string, options: TrainLinkerOptions = {}): Promise<TrainLinkerReport> {
  const started = performance.now();
  const reads: TrainingRead[] = [];
  for (const f of options.train ?? []) reads.push(await readTrainingFile(f, { strict: options.strict ?? false }));
  const readLanguage = reads.flatMap((r) => r.dataset.documents).find((d) => d.language !== undefined)?.language;
  const kb = openKnowledgeBase(kbPath);
  try {
    const plan = planTraining(kb.groups(), reads);
    checkSomethingToStore(plan.reports);
    const mentions = trainingMemoryAfter(kbPath, plan);
    if (mentions.length === 0) {
      throw new SyncabelError("LINKER_INVALID_OPTIONS", `${kbPath} has no training mentions: give training files, or store training mentions in the KB first (syncabel kb add-mentions)`, { path: kbPath });
    }
    const language = options.language ?? readLanguage ?? "es";
    const seed = options.seed ?? 1;
    const kbNames = kbNamesOf(kb);
    const result = trainHybrid(kbNames, mentions, { ...options, language, seed });
    const model: HybridModelJson = {
      format: "syncabel-hybrid",
      version: 1,
      language,
      perRetriever: options.perRetriever ?? 64,
      restrictToKb: options.restrictToKb ?? true,
      featureNames: [...FEATURE_NAMES],
      reranker: result.reranker.toJSON(),
      seed,
      chosen: result.chosen,
      cv: result.cv,
      training: { mentions: result.mentions, documents: result.documents, sources: [...new Set(mentions.map((m) => m.source))].sort(), candidateRecall: result.candidateRecall },
    };
    const calibration = calibrateOutOfFold(result.outOfFold, mentions, kbNames, { restrictToKb: options.restrictToKb ?? true, folds: options.folds ?? 5, seed });
    kb.verifyNames(); // the model is derived from the names: never store one made from a damaged table
    // One transaction: the new mentions, the model and its calibration (null: too few mentions to calibrate, so an
    // old model's calibration is not kept) are stored together or not at all.
    const added = withKbTransaction(resolve(kbPath), "the training mentions, the trained linker and its calibration", (db) => {
      const reports = storeTrainingPlan(db, plan);
      putArtifactRow(db, HYBRID_ARTIFACT_KEY, Buffer.from(JSON.stringify(model), "utf8"));
      putArtifactRow(db, calibrationArtifactKey("hybrid"), Buffer.from(calibration === undefined ? "null" : JSON.stringify(calibration.toJSON()), "utf8"));
      return reports;
    });
    return {
      added,
      mentions: result.mentions,
      documents: result.documents,
      language,
      candidateRecall: result.candidateRecall,
      chosen: result.chosen,
      cv: result.cv,
      ...(calibration === undefined ? {} : { calibration: calibrationSummary(calibration) }),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    kb.close();
  }
}
