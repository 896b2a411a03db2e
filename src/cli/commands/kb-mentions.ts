/**
 * The training-memory parts of `syncabel kb`: `kb add-mentions KB TRAIN... --format F` and `kb build --train`,
 * and the report every command that stores training files prints (as link-docs does: rows read, stored, skipped
 * with their reason and file:line; exit 1 when rows were skipped).
 */
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { addTrainingFiles, readTrainingFile, type MentionsReport, type TrainingFile, type TrainingRead } from "../../kb/mentions.js";
import { parseCommandArgs } from "../args.js";
import type { CliIO } from "../io.js";

export const ADD_MENTIONS_USAGE = `  syncabel kb add-mentions KB.sqlite TRAIN... --format spaccc|pubtator|brat|bigbio [--texts DIR] [--strict] [--json]
      Store the annotated mentions of training files in the KB index's training memory (group, text, code,
      provenance). The hybrid linker takes them as extra names of their concepts and learns from them
      ('syncabel train-linker'). Re-adding a file replaces its mentions. Never add dev or test files.
      Rows the reader rejects and mentions of groups not in the KB are skipped and listed (file:line): exit 1
      (--strict: stop at the first). One transaction: an interrupted run leaves the memory as it was.
`;

/** `kb build` options for the training memory. */
export const TRAIN_ARGS = {
  train: { type: "string", multiple: true },
  "train-format": { type: "string" },
  texts: { type: "string" },
} as const;

export const TRAIN_USAGE = `      --train FILE... --train-format F [--texts DIR]: also store the mentions of training files (as kb add-mentions)
`;

/** Skipped rows printed on stderr in all (the reports hold the first ones of each file). */
const SKIPPED_SHOWN = 20;

function datasetFormat(value: string | undefined, flag: string): DatasetFormat {
  if (value === undefined || !DATASET_FORMATS.includes(value as DatasetFormat)) {
    throw new SyncabelError("CLI_USAGE", `${flag} must be one of ${DATASET_FORMATS.join(", ")}${value === undefined ? "" : `, got ${JSON.stringify(value)}`}`);
  }
  return value as DatasetFormat;
}

/** One line per training file: what was read, stored and left out. */
export function describeMentionsReport(r: MentionsReport, verb = "stored"): string {
  const parts = [`${r.read} mentions read in ${r.documents} documents`];
  if (r.duplicates > 0) parts.push(`${r.duplicates} duplicates (stored once)`);
  if (r.withoutCode > 0) parts.push(`${r.withoutCode} without code (not stored)`);
  if (r.skipped > 0) parts.push(`${r.skipped} skipped (${r.rejected} rejected by the reader, ${r.unknownGroup} of groups not in the KB)`);
  if (r.replaced > 0) parts.push(`replacing ${r.replaced} rows of an earlier add`);
  return `${verb} ${r.stored} training mentions from ${r.source}: ${parts.join("; ")}`;
}

/**
 * The skipped rows on stderr (`PREFIX: skipped: file:line: reason`, the first 20) and the exit status: 1 when rows
 * were skipped, else 0.
 */
export function reportSkippedRows(reports: readonly MentionsReport[], io: CliIO, prefix: string): number {
  const skipped = reports.reduce((n, r) => n + r.skipped, 0);
  if (skipped === 0) return 0;
  const shown = reports.flatMap((r) => r.skippedRows).slice(0, SKIPPED_SHOWN);
  for (const line of shown) io.stderr.write(`${prefix}: skipped: ${line}\n`);
  if (skipped > shown.length) io.stderr.write(`${prefix}: ... and ${skipped - shown.length} more skipped rows\n`);
  const rows = reports.reduce((n, r) => n + r.read + r.rejected, 0);
  io.stderr.write(`${prefix}: ${skipped} of ${rows} training rows failed: skipped, the others were stored\n`);
  return 1;
}

function trainingFiles(paths: readonly string[], format: DatasetFormat, textsDir: string | undefined): TrainingFile[] {
  return paths.map((path) => ({ path, format, ...(textsDir === undefined ? {} : { textsDir }) }));
}

/** The training files of `kb build --train` (checked before the build starts). */
export function trainFilesFromArgs(values: { train?: string[]; "train-format"?: string; texts?: string }): TrainingFile[] {
  const files = values.train ?? [];
  if (files.length === 0) return [];
  return trainingFiles(files, datasetFormat(values["train-format"], "--train-format"), values.texts);
}

/** Read and check the training files of `kb build --train` before the build (they are stored inside it). */
export async function readTrainFiles(files: readonly TrainingFile[]): Promise<TrainingRead[]> {
  const reads: TrainingRead[] = [];
  for (const f of files) reads.push(await readTrainingFile(f));
  return reads;
}

export async function addMentions(args: string[], io: CliIO, usage: string): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: "string" },
      texts: { type: "string" },
      strict: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const [kbPath, ...files] = positionals;
  if (kbPath === undefined || files.length === 0) throw new SyncabelError("CLI_USAGE", `kb add-mentions needs a KB index and at least one training file\n${usage}`);
  const format = datasetFormat(values.format, "--format");
  const { reports } = await addTrainingFiles(kbPath, trainingFiles(files, format, values.texts), { strict: values.strict });
  io.stdout.write(values.json ? `${JSON.stringify(reports)}\n` : `${reports.map((r) => describeMentionsReport(r)).join("\n")}\n`);
  return reportSkippedRows(reports, io, "kb add-mentions");
}
