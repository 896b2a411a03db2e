/**
 * `syncabel train-linker` as a library call: add training files to a KB index's training memory, fit the hybrid
 * linker's reranker on the whole training memory (out-of-fold features, cross-validated hyper-parameters) and
 * store the model in the KB index, where `link`, `link-docs`, `serve` and `Linker.open` find it.
 */
import { resolve } from "node:path";
import { readDataset } from "../data/read-dataset.js";
import type { DatasetFormat } from "../data/types.js";
import { SyncabelError } from "../errors.js";
import { addTrainingMentions, readTrainingMentions, type MentionsReport, type TrainingMention } from "../kb/mentions.js";
import { abbreviationMap, expansionOf as expansionOfShortForm } from "../lexical/abbreviations.js";
import { openKnowledgeBase } from "../kb/sqlite-kb.js";
import { FEATURE_NAMES } from "./hybrid-features.js";
import { HYBRID_ARTIFACT_KEY, kbNamesOf, type HybridModelJson } from "./hybrid-linker.js";
import { trainHybrid, type HybridTrainOptions } from "./hybrid-train.js";
import { clearCalibration, storeCalibration } from "./calibrated-linker.js";
import { calibrateOutOfFold, calibrationSummary, type CalibrationSummary } from "./calibrate.js";

export interface TrainingFile {
  readonly path: string;
  readonly format: DatasetFormat;
  /** SPACCC: folder of the texts (default texts/ beside the TSV). */
  readonly textsDir?: string;
}

export interface TrainLinkerOptions extends Omit<HybridTrainOptions, "language"> {
  /** Files to add to the training memory first (none: train on the memory already stored). */
  readonly train?: readonly TrainingFile[];
  /** Stemming language (default: the language the reader gives the training documents, else es). */
  readonly language?: string;
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

/** Key of a training document in `abbreviations`: its resolved source file and id (as TrainingMention has them). */
const documentKey = (source: string, document: string): string => `${source}\u0000${document}`;

/**
 * Read and store training files in the KB index's training memory; also gives each document's abbreviations
 * (short form -> long form), which the memory does not store.
 */
export async function addTrainingFiles(kbPath: string, files: readonly TrainingFile[]): Promise<{ reports: MentionsReport[]; language: string | undefined; abbreviations: Map<string, Map<string, string>> }> {
  const reports: MentionsReport[] = [];
  const abbreviations = new Map<string, Map<string, string>>();
  let language: string | undefined;
  for (const f of files) {
    const dataset = await readDataset(f.path, { format: f.format, ...(f.textsDir === undefined ? {} : { textsDir: f.textsDir }) });
    language ??= dataset.documents.find((d) => d.language !== undefined)?.language;
    reports.push(addTrainingMentions(kbPath, dataset, f.path));
    for (const d of dataset.documents) abbreviations.set(documentKey(resolve(f.path), d.id), abbreviationMap(d.text));
  }
  return { reports, language, abbreviations };
}

export async function trainLinker(kbPath: string, options: TrainLinkerOptions = {}): Promise<TrainLinkerReport> {
  const started = performance.now();
  const { reports, language: readLanguage, abbreviations } = await addTrainingFiles(kbPath, options.train ?? []);
  // Mentions of documents read now get their document's long forms; older memory rows go without.
  const expansionOf = (m: TrainingMention): string | undefined => {
    const map = abbreviations.get(documentKey(m.source, m.document));
    return map === undefined ? undefined : expansionOfShortForm(map, m.text);
  };
  const mentions = readTrainingMentions(kbPath);
  if (mentions.length === 0) {
    throw new SyncabelError("LINKER_INVALID_OPTIONS", `${kbPath} has no training mentions: give training files (--train FILE --format F) or run 'syncabel kb add-mentions' first`, { path: kbPath });
  }
  const language = options.language ?? readLanguage ?? "es";
  const seed = options.seed ?? 1;
  const kb = openKnowledgeBase(kbPath);
  try {
    const kbNames = kbNamesOf(kb);
    const result = trainHybrid(kbNames, mentions, { expansionOf, ...options, language, seed });
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
    kb.putArtifact(HYBRID_ARTIFACT_KEY, Buffer.from(JSON.stringify(model), "utf8"));
    const calibration = calibrateOutOfFold(result.outOfFold, mentions, kbNames, { restrictToKb: options.restrictToKb ?? true, folds: options.folds ?? 5, seed });
    if (calibration === undefined) clearCalibration(kb, "hybrid");
    else storeCalibration(kb, calibration);
    return {
      added: reports,
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
