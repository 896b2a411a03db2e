import { SyncabelError } from "../errors.js";
import { readBigbio } from "./bigbio.js";
import { readBrat } from "./brat.js";
import { readPubtator } from "./pubtator.js";
import { readSpaccc } from "./spaccc.js";
import { DATASET_FORMATS, type Dataset, type DatasetFormat, type ReadOptions } from "./types.js";

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
