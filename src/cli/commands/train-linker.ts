/**
 * `syncabel train-linker --kb KB --train FILE... --format F [--seed N] [--folds N] [--json]`: the hybrid linker.
 */
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { trainLinker, type TrainLinkerReport } from "../../linker/train-linker.js";
import { parseCommandArgs, positiveInt } from "../args.js";
import type { CliIO } from "../io.js";
import { describeMentionsReport, reportSkippedRows } from "./kb-mentions.js";

export const usage = `usage: syncabel train-linker --kb KB.sqlite [--train FILE]... [--format spaccc|pubtator|brat|bigbio]
                             [--texts DIR] [--language es|en|fr] [--seed N] [--folds N]
                             [--codes-outside-kb] [--strict] [--json]

Trains the hybrid linker (no model, no GPU) and stores it in the KB index: link, link-docs, serve and
Linker.open then use it by default (--linker tfidf for the plain TF-IDF linker).
  --train FILE   annotated training file (repeatable), read with --format; its mentions are added to the
                 KB index's training memory (as 'syncabel kb add-mentions' does). Without --train, the
                 training memory already in the KB index is used.
  The reranker is fitted on the whole training memory: features of each mention come from an index that leaves
  its own fold of documents out; hyper-parameters by cross-validation over those folds (--folds, default 5).
  Training files only: never give dev or test files here. The same data and --seed give the same model.
  The linker's calibrated confidence (P(top code right), docs/review.md) is fitted on the same out-of-fold
  rankings and stored beside the model: link / link-docs / serve then give every result a "confidence" and
  accept --min-confidence P.
  All or nothing: the model is trained first, then the new mentions, the model and its calibration are stored in one
  transaction (an interrupted run leaves the KB index as it was). Rows the reader rejects and mentions of
  groups not in the KB are skipped and listed (file:line): exit 1 (--strict: stop at the first).
  --language     stemming language (default: the reader's document language, else es)
  --codes-outside-kb  also answer with training codes the KB lacks (a KB that covers part of the annotation
                 scheme, e.g. BC5CDR's entities.txt: MeSH descriptors only, while the corpus also uses
                 supplementary concepts); by default only KB codes are answers.
`;

function printReport(r: TrainLinkerReport, io: CliIO): void {
  const lines = r.added.map((a) => describeMentionsReport(a, "added"));
  lines.push(`trained on ${r.mentions} mentions of ${r.documents} documents (language ${r.language}); gold among candidates for ${(100 * r.candidateRecall).toFixed(1)} %`);
  for (const c of r.cv) lines.push(`  cv ${JSON.stringify(c.options)}: Recall@1 ${(100 * c.recallAt1).toFixed(2)}`);
  lines.push(`chosen ${JSON.stringify(r.chosen)}; stored in the KB index (${r.seconds.toFixed(1)} s)`);
  const c = r.calibration;
  if (c === undefined) lines.push("no calibration: too few training mentions (results carry no confidence; --min-confidence is refused)");
  else lines.push(`calibration (${c.source}, ${c.samples} mentions): ${c.method}; ${c.cv.map((x) => `${x.method} Brier ${x.brier.toFixed(4)} ECE ${x.ece.toFixed(4)}`).join(", ")}`);
  io.stdout.write(`${lines.join("\n")}\n`);
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      kb: { type: "string" },
      train: { type: "string", multiple: true },
      format: { type: "string" },
      texts: { type: "string" },
      language: { type: "string" },
      seed: { type: "string" },
      folds: { type: "string" },
      json: { type: "boolean", default: false },
      "codes-outside-kb": { type: "boolean", default: false },
      strict: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (!values.kb) throw new SyncabelError("CLI_USAGE", `--kb is required\n\n${usage}`);
  // Positionals are taken as more training files (`--train a.tsv b.tsv`).
  const files = [...(values.train ?? []), ...positionals];
  const format = values.format as DatasetFormat | undefined;
  if (files.length > 0 && (format === undefined || !DATASET_FORMATS.includes(format))) {
    throw new SyncabelError("CLI_USAGE", `--format must be one of ${DATASET_FORMATS.join(", ")}${format === undefined ? "" : `, got ${JSON.stringify(format)}`}\n\n${usage}`);
  }
  const folds = positiveInt(values.folds, "folds", 5);
  if (folds < 2) throw new SyncabelError("CLI_USAGE", `--folds must be at least 2, got ${folds}`);
  const report = await trainLinker(values.kb, {
    train: files.map((path) => ({ path, format: format as DatasetFormat, ...(values.texts === undefined ? {} : { textsDir: values.texts }) })),
    seed: positiveInt(values.seed, "seed", 1, true),
    folds,
    restrictToKb: !values["codes-outside-kb"],
    strict: values.strict,
    ...(values.language === undefined ? {} : { language: values.language }),
    ...(values.json ? {} : { log: (m: string) => io.stderr.write(`${m}\n`) }),
  });
  if (values.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else printReport(report, io);
  return reportSkippedRows(report.added, io, "train-linker");
}
