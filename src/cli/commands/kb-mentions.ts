/**
 * The training-memory parts of `syncabel kb`: `kb add-mentions KB TRAIN... --format F` and `kb build --train`.
 */
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import type { MentionsReport } from "../../kb/mentions.js";
import { addTrainingFiles, type TrainingFile } from "../../linker/train-linker.js";
import { parseCommandArgs } from "../args.js";
import type { CliIO } from "../io.js";

export const ADD_MENTIONS_USAGE = `  syncabel kb add-mentions KB.sqlite TRAIN... --format spaccc|pubtator|brat|bigbio [--texts DIR] [--json]
      Store the annotated mentions of training files in the KB index's training memory (group, text, code,
      provenance). The hybrid linker takes them as extra names of their concepts and learns from them
      ('syncabel train-linker'). Re-adding a file replaces its mentions. Never add dev or test files.
`;

/** `kb build` options for the training memory. */
export const TRAIN_ARGS = {
  train: { type: "string", multiple: true },
  "train-format": { type: "string" },
  texts: { type: "string" },
} as const;

export const TRAIN_USAGE = `      --train FILE... --train-format F [--texts DIR]: also store the mentions of training files (as kb add-mentions)
`;

function datasetFormat(value: string | undefined, flag: string): DatasetFormat {
  if (value === undefined || !DATASET_FORMATS.includes(value as DatasetFormat)) {
    throw new SyncabelError("CLI_USAGE", `${flag} must be one of ${DATASET_FORMATS.join(", ")}${value === undefined ? "" : `, got ${JSON.stringify(value)}`}`);
  }
  return value as DatasetFormat;
}

function describe(r: MentionsReport): string {
  return `stored ${r.stored} training mentions from ${r.source} (${r.documents} documents; ${r.withoutCode} without code and ${r.unknownGroup} of groups not in the KB left out)`;
}

/** The training files of `kb build --train` (checked before the build starts). */
export function trainFilesFromArgs(values: { train?: string[]; "train-format"?: string; texts?: string }): TrainingFile[] {
  const files = values.train ?? [];
  if (files.length === 0) return [];
  const format = datasetFormat(values["train-format"], "--train-format");
  return files.map((path) => ({ path, format, ...(values.texts === undefined ? {} : { textsDir: values.texts }) }));
}

/** Store the training files of `kb build --train` in the built index (no-op without). */
export async function addTrainFiles(kbPath: string, files: readonly TrainingFile[], io: CliIO, json: boolean): Promise<readonly MentionsReport[]> {
  if (files.length === 0) return [];
  const { reports } = await addTrainingFiles(kbPath, files);
  if (!json) io.stdout.write(`${reports.map(describe).join("\n")}\n`);
  return reports;
}

export async function addMentions(args: string[], io: CliIO, usage: string): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: { format: { type: "string" }, texts: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const [kbPath, ...files] = positionals;
  if (kbPath === undefined || files.length === 0) throw new SyncabelError("CLI_USAGE", `kb add-mentions needs a KB index and at least one training file\n${usage}`);
  const format = datasetFormat(values.format, "--format");
  const { reports } = await addTrainingFiles(kbPath, files.map((path) => ({ path, format, ...(values.texts === undefined ? {} : { textsDir: values.texts }) })));
  io.stdout.write(values.json ? `${JSON.stringify(reports)}\n` : `${reports.map(describe).join("\n")}\n`);
  return 0;
}
