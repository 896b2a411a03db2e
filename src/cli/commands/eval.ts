import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { readPredictions } from "../../data/predictions-jsonl.js";
import { readDataset } from "../../data/read-dataset.js";
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { codesOfDataset, goldFromDataset, goldWithPredictionCodes, predictionsFromRows } from "../../eval/adapters.js";
import { DEFAULT_RESAMPLES, DEFAULT_SEED, evaluate } from "../../eval/evaluate.js";
import { renderRecallPlot, type ReferenceLine } from "../../eval/plot-svg.js";
import { renderMarkdown } from "../../eval/report-markdown.js";
import { renderCalibrationMarkdown, renderCalibrationSvg } from "../../eval/calibration-report.js";
import { writeFileAtomic } from "../../io/atomic-write.js";
import type { CliIO } from "../io.js";
import { checkOutputPath, parseCommandArgs } from "../args.js";
import { mapForEvaluation, openXrefMap } from "../../kb/xrefs.js";
import { checkLabelArgs, hierarchyGrades, LABEL_ARGS, LABEL_USAGE, runJudgments } from "./eval-labels.js";

export const usage = `usage: syncabel eval --gold GOLD --predictions PRED.tsv [--only-predicted] [--train TRAIN]
                     [--format spaccc|pubtator|brat|bigbio] [--texts DIR] [--k 1,5] [--gold-codes gold|predictions]
                     [--json OUT.json] [--plot OUT.svg] [--reference NAME=R@1 ...] [--seconds S] [--codes set|authors]
                     [--resamples N] [--seed N] [--title TEXT] [--map-to VOCAB --kb KB.sqlite]

Scores predictions (a TSV in the SynCABEL authors' layout: filename, label, start_span, end_span, ...,
Predicted_code; several rows of one mention are its ranked beams) against a gold dataset. Prints a Markdown
table: Recall@1 and Recall@k (exact code match, composite codes as sets) overall, per label and, with --train,
for mentions whose gold code was seen / unseen in training, each with a document-level bootstrap CI.
Gold NO_CODE is excluded and mentions are de-duplicated on (document, label, start, end).

  --only-predicted   the authors' protocol: score only gold mentions the predictions file covers (it did not
                     predict mentions whose gold code was missing from its KB); the count left out is reported.
                     Implies --gold-codes predictions.
  --gold-codes       where gold codes come from: the gold file (default), or the predictions file's own \`code\`
                     column where it has one (the authors mapped a few gold codes to their KB version)
  --format           gold/train format (default spaccc); --texts: folder of SPACCC texts (default: beside GOLD)
  --k                cut-offs (default 1..the largest number of beams in the file)
  --codes            how code strings match: set (default; composite parts as a set, A+A = A) or authors (the
                     SynCABEL authors' evaluation: parts sorted, repeats kept, A+A != A); the report says which
  --reference        a reference Recall@1 in percent drawn on the plot, e.g. --reference "paper=66.3" (repeatable)
  --seconds          wall-clock seconds of the linking run, for mentions/s
  --map-to VOCAB     score in another vocabulary through the KB's cross-references (--kb): gold and predicted
                     codes become their VOCAB ids; a prediction is right when its ids meet the gold's ids
                     (one-to-many); gold mentions without an id in VOCAB are left out and counted
  --calibration-plot OUT.svg  reliability diagram and accuracy / coverage curve of the predictions' calibrated
                     confidences (link / link-docs with a calibrated linker). With confidences the report also
                     gives the ECE (15 equal-mass bins), Recall@1 of the most confident 50/80/90/100 % and the
                     coverage at 90 % and 95 % accuracy; abstentions (--min-confidence) are counted apart.
${LABEL_USAGE}`;

function parseFormat(value: string | undefined): DatasetFormat {
  const f = (value ?? "spaccc") as DatasetFormat;
  if (!DATASET_FORMATS.includes(f)) throw new SyncabelError("CLI_USAGE", `--format must be one of ${DATASET_FORMATS.join(", ")}, got ${JSON.stringify(value)}`);
  return f;
}

function parseNumber(value: string | undefined, name: string, check: (n: number) => boolean, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || !check(n)) throw new SyncabelError("CLI_USAGE", `--${name} must be ${what}, got ${JSON.stringify(value)}`);
  return n;
}

function parseKs(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const ks = value.split(",").map((s) => Number(s.trim()));
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new SyncabelError("CLI_USAGE", `--k must be a comma-separated list of positive integers, got ${JSON.stringify(value)}`);
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

function parseReference(value: string): ReferenceLine {
  const at = value.lastIndexOf("=");
  const name = at < 0 ? "" : value.slice(0, at).trim();
  const v = at < 0 ? Number.NaN : Number(value.slice(at + 1));
  if (name === "" || !Number.isFinite(v) || v < 0 || v > 100) {
    throw new SyncabelError("CLI_USAGE", `--reference must look like NAME=VALUE with VALUE a percentage, got ${JSON.stringify(value)}`);
  }
  return { name, value: v };
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: {
      gold: { type: "string" },
      predictions: { type: "string" },
      "only-predicted": { type: "boolean", default: false },
      train: { type: "string" },
      format: { type: "string" },
      texts: { type: "string" },
      k: { type: "string" },
      "gold-codes": { type: "string" },
      codes: { type: "string" },
      json: { type: "string" },
      plot: { type: "string" },
      reference: { type: "string", multiple: true },
      seconds: { type: "string" },
      resamples: { type: "string" },
      seed: { type: "string" },
      title: { type: "string" },
      "map-to": { type: "string" },
      kb: { type: "string" },
      "calibration-plot": { type: "string" },
      ...LABEL_ARGS,
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  checkLabelArgs(values, [values.gold, values.predictions, values.judgments].filter((p): p is string => p !== undefined));
  if (values.judgments !== undefined) return runJudgments(values, io);
  if (!values.gold || !values.predictions) throw new SyncabelError("CLI_USAGE", `--gold and --predictions are required\n\n${usage}`);
  const format = parseFormat(values.format);
  const ks = parseKs(values.k);
  const goldCodes = values["gold-codes"] ?? (values["only-predicted"] ? "predictions" : "gold");
  if (goldCodes !== "gold" && goldCodes !== "predictions") {
    throw new SyncabelError("CLI_USAGE", `--gold-codes must be gold or predictions, got ${JSON.stringify(goldCodes)}`);
  }
  const codes = values.codes ?? "set";
  if (codes !== "set" && codes !== "authors") throw new SyncabelError("CLI_USAGE", `--codes must be set or authors, got ${JSON.stringify(codes)}\n\n${usage}`);
  const seconds = parseNumber(values.seconds, "seconds", (n) => n > 0, "a positive number");
  const resamples = parseNumber(values.resamples, "resamples", (n) => Number.isInteger(n) && n >= 0, "a non-negative integer") ?? DEFAULT_RESAMPLES;
  const seed = parseNumber(values.seed, "seed", (n) => Number.isInteger(n), "an integer") ?? DEFAULT_SEED;
  const references = (values.reference ?? []).map(parseReference);
  for (const [flag, path] of [["--json", values.json], ["--plot", values.plot], ["--calibration-plot", values["calibration-plot"]]] as const) {
    if (path !== undefined) checkOutputPath(path, flag, [values.gold, values.predictions]);
  }
  checkNotSwapped(values.gold, values.predictions);

  const readOptions = { format, ...(values.texts ? { textsDir: values.texts } : {}) };
  const goldSet = await readDataset(values.gold, readOptions);
  const goldSkipped = reportProblems(io, values.gold, goldSet.problems);
  const predictionsFile = readPredictions(values.predictions);
  for (const p of predictionsFile.problems.slice(0, 20)) io.stderr.write(`${p.file}:${p.line}: ${p.message} (row skipped)\n`);
  if (predictionsFile.problems.length > 20) io.stderr.write(`... and ${predictionsFile.problems.length - 20} more bad prediction rows\n`);
  let trainCodes: Set<string> | undefined;
  if (values.train) {
    const trainSet = await readDataset(values.train, { format, ...(values.texts ? { textsDir: values.texts } : {}) });
    reportProblems(io, values.train, trainSet.problems);
    trainCodes = codesOfDataset(trainSet);
  }

  let gold = goldFromDataset(goldSet);
  let remapped = 0;
  if (goldCodes === "predictions") ({ gold, changed: remapped } = goldWithPredictionCodes(gold, predictionsFile.rows));
  let predictions = predictionsFromRows(predictionsFile.rows);
  let goldUnmapped = 0;
  if (values["map-to"] !== undefined) {
    if (!values.kb) throw new SyncabelError("CLI_USAGE", `--map-to needs --kb KB.sqlite (the KB holding the cross-references)\n\n${usage}`);
    const xrefs = openXrefMap(values.kb, values["map-to"]);
    try {
      ({ gold, predictions, goldUnmapped } = mapForEvaluation(gold, predictions, (c) => xrefs.map(c)));
    } finally {
      xrefs.close();
    }
  }
  const report = evaluate(gold, predictions, {
    onlyPredicted: values["only-predicted"],
    ...(trainCodes ? { trainCodes } : {}),
    ...(ks ? { ks } : {}),
    resamples,
    seed,
    ...(seconds !== undefined ? { elapsedSeconds: seconds } : {}),
    goldRowsSkipped: goldSkipped,
    codes,
  });
  const title = values.title ?? values.predictions;
  let markdown = renderMarkdown(report, title);
  if (goldCodes === "predictions") markdown += `- Gold codes taken from the predictions file's \`code\` column: ${remapped} mention(s) differ from ${values.gold}.\n`;
  markdown += renderCalibrationMarkdown(report);
  if (values["map-to"] !== undefined) markdown += `- Codes mapped to ${values["map-to"]} through ${values.kb}: ${goldUnmapped} gold mention(s) without a ${values["map-to"]} id left out.\n`;
  const graded = values.hierarchy ? hierarchyGrades(values, gold, predictions, { onlyPredicted: values["only-predicted"], trainCodes, title }) : undefined;
  if (graded) markdown += `\n${graded.markdown}`;
  io.stdout.write(markdown);
  if (values.json) {
    const json = { gold: values.gold, predictions: values.predictions, gold_codes: goldCodes, gold_codes_remapped: remapped, ...report, ...(graded ? { hierarchy: graded.report } : {}) };
    writeFileAtomic(values.json, `${JSON.stringify(json, null, 2)}\n`);
  }
  if (values.plot) writeFileAtomic(values.plot, renderRecallPlot(report, references, `Recall@1: ${title}`));
  const calibrationPlot = values["calibration-plot"];
  if (calibrationPlot !== undefined) {
    if (report.calibration === undefined) throw new SyncabelError("CLI_USAGE", `--calibration-plot: ${values.predictions} carries no confidence (link with a calibrated linker: syncabel train-linker / calibrate)`);
    writeFileAtomic(calibrationPlot, renderCalibrationSvg(report.calibration, `Confidence: ${title}`));
  }
  return 0;
}

/** Print the skipped rows of a dataset; returns how many. */
function reportProblems(io: CliIO, file: string, problems: readonly { severity: string; message: string; line?: number }[]): number {
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length === 0) return 0;
  io.stderr.write(`${file}: ${errors.length} gold row(s) skipped (also stated in the report), e.g. line ${errors[0].line ?? "?"}: ${errors[0].message}\n`);
  return errors.length;
}

/** The first line of a file (at most 64 KB of it), "" when unreadable. */
function firstLine(path: string): string {
  if (!existsSync(path) || !statSync(path).isFile()) return "";
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(65536);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString("utf8").split(/\r?\n/)[0] ?? "";
  } finally {
    closeSync(fd);
  }
}

/** A predictions file given as --gold (the columns say so) is a swapped command line, not a missing texts folder. */
function checkNotSwapped(gold: string, predictions: string): void {
  if (/(^|\t)"?predicted_code"?(\t|$)/i.test(firstLine(gold))) {
    const hint = /(^|\t)"?predicted_code"?(\t|$)/i.test(firstLine(predictions)) ? "" : " (did you swap --gold and --predictions?)";
    throw new SyncabelError("CLI_USAGE", `--gold ${gold} is a predictions file (its header has a Predicted_code column)${hint}: give the gold dataset as --gold`);
  }
}
