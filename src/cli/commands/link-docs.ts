import { parseArgs } from "node:util";
import { describeProblem } from "../../data/problems.js";
import { readDataset } from "../../data/read-dataset.js";
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { linkDocuments } from "../../linker/link-documents.js";
import { openLinker } from "../../linker/open.js";
import { LINKER_ARGS, linkerOptionsFromArgs } from "../linker-args.js";
import type { CliIO } from "../io.js";
import { positiveInt } from "../args.js";
import { openKnowledgeBase } from "../../kb/index.js";
import { candidateNames, TargetNameSelector } from "../../train/target-name.js";

export const usage = `usage: syncabel link-docs --kb KB.sqlite [--model DIR] --format spaccc|pubtator|brat|bigbio
                          [--texts DIR] [--language es|fr|en] [--beams N] [--unconstrained] [--multiple-answers]
                          [--batch-size B] [--strict] [--linker generative|tfidf] [--threads N] [--verb V] [--device cpu|cuda] IN -o OUT

Links every gold mention of every document of IN (mentions come from the file; no NER). For each mention
the marked sentence is built from the document text and the offsets, then linked.
  OUT.tsv    the authors' predictions layout (filename, label, start_span, end_span, span, code,
             annotation, sentence, Prediction, Prediction_beam_score, Predicted_code, + extra columns)
  OUT.jsonl  (any other name) one JSON object per mention with every beam
Resumable: rows are appended to OUT.partial document by document; re-running the same command skips the
documents already written; OUT appears when every document is done.
--texts DIR   SPACCC: folder of <filename>.txt (default: texts/ beside the TSV)
--strict      stop at the first bad row of IN instead of skipping it (skipped rows are listed on stderr)
Without --model the TF-IDF lexical linker is used.
`;


export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...LINKER_ARGS,
      format: { type: "string" },
      texts: { type: "string" },
      beams: { type: "string" },
      unconstrained: { type: "boolean", default: false },
      "batch-size": { type: "string" },
      strict: { type: "boolean", default: false },
      out: { type: "string", short: "o" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const input = positionals[0];
  if (positionals.length !== 1 || input === undefined) throw new SyncabelError("CLI_USAGE", `give exactly one input dataset (got ${positionals.length})\n${usage}`);
  if (!values.out) throw new SyncabelError("CLI_USAGE", `give the output file with -o OUT (.tsv or .jsonl)\n${usage}`);
  const linkerOptions = linkerOptionsFromArgs(values, usage);
  const format = values.format as DatasetFormat | undefined;
  if (format === undefined || !DATASET_FORMATS.includes(format)) {
    throw new SyncabelError("CLI_USAGE", `--format must be one of ${DATASET_FORMATS.join(", ")}${format === undefined ? "" : `, got ${JSON.stringify(format)}`}`);
  }
  const numBeams = positiveInt(values.beams, "beams", 5);
  const batchSize = positiveInt(values["batch-size"], "batch-size", 32);
  const outFormat = values.out.toLowerCase().endsWith(".tsv") ? "tsv" : "jsonl";

  const dataset = await readDataset(input, {
    format,
    strict: values.strict,
    ...(values.texts === undefined ? {} : { textsDir: values.texts }),
    ...(values.language === undefined ? {} : { language: values.language }),
  });
  const errors = dataset.problems.filter((p) => p.severity === "error");
  const warnings = dataset.problems.filter((p) => p.severity === "warning");
  for (const p of errors.slice(0, 20)) io.stderr.write(`link-docs: skipped: ${describeProblem(p)}\n`);
  if (errors.length > 20) io.stderr.write(`link-docs: ... and ${errors.length - 20} more skipped rows\n`);
  const firstWarning = warnings[0];
  if (firstWarning !== undefined) io.stderr.write(`link-docs: ${warnings.length} row(s) repaired with a warning, e.g. ${describeProblem(firstWarning)}\n`);
  const mentionCount = dataset.documents.reduce((a, d) => a + d.mentions.length, 0);
  io.stderr.write(`link-docs: ${dataset.documents.length} documents, ${mentionCount} mentions from ${input}\n`);

  const linker = await openLinker(linkerOptions);
  // The `annotation` column: the gold code's KB name closest to the mention (the training-target rule).
  const kb = openKnowledgeBase(linkerOptions.kb);
  const selector = TargetNameSelector.fitOnKnowledgeBase(kb);
  const annotate = (code: string, label: string, mention: string): string | undefined => selector.select(mention, candidateNames(kb, code, label))?.name;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const started = performance.now();
  try {
    const result = await linkDocuments(dataset, linker, {
      outPath: values.out,
      format: outFormat,
      batchSize,
      numBeams,
      constrained: !values.unconstrained,
      ...(values.language === undefined ? {} : { language: values.language }),
      progress: { stream: io.stderr, tty: io.isTTY },
      signal: controller.signal,
      annotate,
    });
    io.stderr.write(
      `link-docs: ${result.linkedDocuments} documents linked, ${result.skippedDocuments} already done, ${result.mentions} mentions written` +
        `${result.mentionErrors > 0 ? ` (${result.mentionErrors} with an error)` : ""} -> ${result.outPath}\n`,
    );
    const seconds = (performance.now() - started) / 1000;
    io.stderr.write(
      `link-docs: ${seconds.toFixed(1)} s, ${(result.mentions / Math.max(seconds, 1e-9)).toFixed(1)} mentions/s this run` +
        ` (give --seconds ${seconds.toFixed(1)} to syncabel eval to report it)\n`,
    );
    if (result.aborted) {
      io.stderr.write("link-docs: interrupted; re-run the same command to resume\n");
      return 130;
    }
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await linker.close();
    kb.close();
  }
}
