/**
 * `syncabel calibrate --kb KB --linker tfidf|generative|retrieve-generate [--model DIR] --train FILE --format F`:
 * fit a linker's calibrated confidence on a held-back slice of training documents.
 */
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { calibrateLinker, type CalibrateOptions, type CalibrateReport } from "../../linker/calibrate.js";
import { fraction, parseCommandArgs, positiveInt } from "../args.js";
import type { CliIO } from "../io.js";
import { LINKER_ARGS, linkerOptionsFromArgs } from "../linker-args.js";

export const usage = `usage: syncabel calibrate --kb KB.sqlite --linker tfidf|generative|retrieve-generate [--model DIR]
                          --train FILE... --format spaccc|pubtator|brat|bigbio [--texts DIR]
                          [--slice 0.2] [--beams 5] [--seed N] [--json]

Fits the calibrated confidence of a linker (the probability that its top code is right) on training documents
only: a held-back slice of the training files' documents (--slice, default 0.2, chosen by a seeded hash of the
document id) is linked as link-docs links it, then isotonic regression on the top score, logistic regression on
score features, and isotonic regression on the logistic output are compared by document-fold cross-validation
(lowest Brier score wins) and the best is stored: in the KB index for the TF-IDF linker, beside the model
(DIR/syncabel-calibration.KIND.json) for the generative and retrieve-generate linkers. link, link-docs and serve
then give every result a "confidence", and --min-confidence P abstains below P.
A model must not have been fine-tuned on the held-back documents. The hybrid linker is calibrated out of fold by
'syncabel train-linker' (no slice is held back from its training memory).
`;

function printReport(r: CalibrateReport, io: CliIO): void {
  const lines = [
    `calibrated the ${r.linker} linker on ${r.samples} mentions of ${r.heldBackDocuments} held-back training documents (top right: ${(100 * r.accuracy).toFixed(1)} %)`,
    ...r.cv.map((c) => `  cv ${c.method}: Brier ${c.brier.toFixed(4)}, log-loss ${c.log_loss.toFixed(4)}, ECE ${c.ece.toFixed(4)}`),
    `chosen ${r.method}; stored in ${r.storedIn} (${r.seconds.toFixed(1)} s)`,
  ];
  io.stdout.write(`${lines.join("\n")}\n`);
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      ...LINKER_ARGS,
      train: { type: "string", multiple: true },
      format: { type: "string" },
      texts: { type: "string" },
      slice: { type: "string" },
      beams: { type: "string" },
      seed: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const base = linkerOptionsFromArgs(values, usage);
  const kind = values.linker;
  if (kind === "hybrid") throw new SyncabelError("CLI_USAGE", `the hybrid linker is calibrated out of fold by 'syncabel train-linker' (its training memory holds every training document)\n\n${usage}`);
  if (kind !== "tfidf" && kind !== "generative" && kind !== "retrieve-generate") throw new SyncabelError("CLI_USAGE", `--linker must be tfidf, generative or retrieve-generate\n\n${usage}`);
  const files = [...(values.train ?? []), ...positionals];
  const format = values.format as DatasetFormat | undefined;
  if (files.length === 0) throw new SyncabelError("CLI_USAGE", `give training files with --train FILE\n\n${usage}`);
  if (format === undefined || !DATASET_FORMATS.includes(format)) throw new SyncabelError("CLI_USAGE", `--format must be one of ${DATASET_FORMATS.join(", ")}\n\n${usage}`);
  const slice = fraction(values.slice, "slice", 0.2, 1);
  if (slice === 0) throw new SyncabelError("CLI_USAGE", `--slice must be above 0\n\n${usage}`);
  const { linker: _kind, minConfidence: _min, ...rest } = base;
  const options: CalibrateOptions = {
    ...rest,
    linker: kind,
    train: files.map((path) => ({ path, format, ...(values.texts === undefined ? {} : { textsDir: values.texts }) })),
    slice,
    beams: positiveInt(values.beams, "beams", 5),
    seed: positiveInt(values.seed, "seed", 1, true),
    ...(values.json ? {} : { log: (m: string) => void io.stderr.write(`${m}\n`) }),
  };
  const report = await calibrateLinker(options);
  if (values.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else printReport(report, io);
  return 0;
}
