import { SyncabelError } from "../errors.js";
import { readBigbio } from "./bigbio.js";
import { readBrat } from "./brat.js";
import { problemError } from "./problems.js";
import { readPubtator } from "./pubtator.js";
import { readSpaccc } from "./spaccc.js";
import { DATASET_FORMATS, type Dataset, type DatasetFormat, type Document, type ReadOptions, type ReadProblem } from "./types.js";

export interface ReadDatasetOptions extends ReadOptions {
  readonly format: DatasetFormat;
}

/** Read a dataset of any supported format into the one document model. */
export async function readDataset(path: string, options: ReadDatasetOptions): Promise<Dataset> {
  switch (options.format) {
    case "spaccc":
      return readSpaccc(path, options);
    case "pubtator":
      return readPubtator(path, options);
    case "brat":
      return readBrat(path, options);
    case "bigbio":
      return readBigbio(path, options);
    default:
      throw new SyncabelError("DATA_UNKNOWN_FORMAT", `unknown dataset format ${JSON.stringify(options.format)}: use ${DATASET_FORMATS.join(", ")}`, { format: String(options.format) });
  }
}

/**
 * Several input files (or BRAT folders) read as one dataset: documents in argument order, then each file's own
 * order. A document id seen in an earlier file (or earlier in the same file) keeps its first document; the later
 * one is skipped as an error problem naming both places (outputs and resumption key rows by document id).
 */
export async function readDatasets(paths: readonly string[], options: ReadDatasetOptions): Promise<Dataset> {
  if (paths.length === 0) throw new SyncabelError("DATA_FILE_MISSING", "no input dataset given");
  const documents: Document[] = [];
  const problems: ReadProblem[] = [];
  const firstSeen = new Map<string, string>();
  for (const path of paths) {
    const dataset = await readDataset(path, options);
    problems.push(...dataset.problems);
    for (const doc of dataset.documents) {
      const earlier = firstSeen.get(doc.id);
      if (earlier !== undefined) {
        const problem: ReadProblem = { severity: "error", code: "DATA_BAD_ROW", file: path, document: doc.id, message: `document ${doc.id} is also in ${earlier}: the first one is kept, this one (${doc.mentions.length} mention(s)) is skipped` };
        if (options.strict) throw problemError(problem);
        problems.push(problem);
        continue;
      }
      firstSeen.set(doc.id, path);
      documents.push(doc);
    }
  }
  return { format: options.format, documents, problems };
}
