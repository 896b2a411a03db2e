import { describeProblem } from "../../data/problems.js";
import { readDatasets } from "../../data/read-dataset.js";
import { parseShard, selectShard, shardText } from "../../data/shard.js";
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { isSyncabelError, SyncabelError } from "../../errors.js";
import { linkDocuments } from "../../linker/link-documents.js";
import { defaultLinkerWorkers, WorkerPoolLinker } from "../../linker/worker-pool-linker.js";
import { openLinker } from "../../linker/open.js";
import { innerLinker } from "../../linker/calibrated-linker.js";
import { LINKER_ARGS, linkerOptionsFromArgs, warnIneffectiveLinkerArgs } from "../linker-args.js";
import type { CliIO } from "../io.js";
import { checkOutputPath, parseCommandArgs, positiveInt } from "../args.js";
import { resolve } from "node:path";
import { openKnowledgeBase } from "../../kb/index.js";
import { candidateNames, TargetNameSelector } from "../../train/target-name.js";

export const usage = `usage: syncabel link-docs --kb KB.sqlite [--model DIR] --format spaccc|pubtator|brat|bigbio
                          [--texts DIR] [--language es|fr|en] [--beams N] [--unconstrained] [--multiple-answers]
                          [--batch-size B] [--early-stopping true|false|never] [--strict] [--linker hybrid|tfidf|generative|retrieve-generate [--candidates K]] [--workers N] [--threads N] [--verb V] [--device cpu|cuda] [--dtype fp32|fp16|q8|q4|... | --model-file PATH] [--shard K/N] IN... -o OUT

Links every gold mention of every document of IN (mentions come from the file; no NER). For each mention
the marked sentence is built from the document text and the offsets, then linked. Several IN (files, or BRAT
folders of <doc>.txt + <doc>.ann) are one dataset, in the order given; a document id already read is skipped.
  OUT.tsv    the authors' predictions layout (filename, label, start_span, end_span, span, code,
             annotation, sentence, Prediction, Prediction_beam_score, Predicted_code, + extra columns)
  OUT.jsonl  (any other name) one JSON object per mention with every beam
Resumable: rows are appended to OUT.partial document by document; re-running the same command skips the
documents already written; OUT appears when every document is done.
--texts DIR   SPACCC: folder of <filename>.txt (default: texts/ beside the TSV)
--strict      stop at the first bad row of IN instead of skipping it (skipped rows are listed on stderr)
--force       discard an OUT.partial (or OUT) written with other options and start over; without it such a
              resume is refused (the options of a run are kept in OUT.run.json)
Exit status: 0 when every mention was linked, 1 when some mentions got an error (count on stderr), 130 when
interrupted (Ctrl-C / SIGTERM: the rows written so far are kept for the resume).
Without --model the hybrid linker is used when the KB holds one (syncabel train-linker), else TF-IDF.
--min-confidence P  abstain below calibrated confidence P: the mention's Predicted_code is NO_CODE and its
              abstained column true, its candidates kept (needs a calibration: train-linker / calibrate)
--shard K/N   link only the documents of shard K of N (0 <= K < N; a document's shard is sha256 of its id mod N,
              whatever the file order or machine): one job of an array (Slurm, Kubernetes Indexed Job) per shard,
              each with its own OUT, resumable on its own; then syncabel merge-predictions SHARD_OUTS... -o OUT
              writes the output one run would have written. See docs/deployment.md.
--workers N   hybrid / TF-IDF: link on N worker threads, each with its own index (default: the machine's cores,
              at most 4, when IN has 10,000 mentions or more; else 1, in-process)
`;


/** Mentions from which link-docs links on worker threads by default: below, starting them costs more than it saves. */
const AUTO_WORKERS_FROM = 10_000;

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs({
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
      force: { type: "boolean", default: false },
      shard: { type: "string" },
      out: { type: "string", short: "o" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const inputs = positionals;
  // For messages: the input, or the first of several.
  const input = inputs.length === 1 ? (inputs[0] as string) : `${inputs[0] as string} and ${inputs.length - 1} more input(s)`;
  if (inputs.length === 0) throw new SyncabelError("CLI_USAGE", `give the input dataset (one or more files or BRAT folders)\n${usage}`);
  const shard = values.shard === undefined ? undefined : parseShard(values.shard, "--shard");
  if (!values.out) throw new SyncabelError("CLI_USAGE", `give the output file with -o OUT (.tsv or .jsonl)\n${usage}`);
  const linkerOptions = linkerOptionsFromArgs(values, usage);
  const format = values.format as DatasetFormat | undefined;
  if (format === undefined || !DATASET_FORMATS.includes(format)) {
    throw new SyncabelError("CLI_USAGE", `--format must be one of ${DATASET_FORMATS.join(", ")}${format === undefined ? "" : `, got ${JSON.stringify(format)}`}`);
  }
  const numBeams = positiveInt(values.beams, "beams", 5);
  const batchSize = positiveInt(values["batch-size"], "batch-size", 32);
  const outFormat = values.out.toLowerCase().endsWith(".tsv") ? "tsv" : "jsonl";
  checkOutputPath(values.out, "-o", [...inputs, linkerOptions.kb]);

  // Signals count from here: interrupted while reading IN or opening the linker (its index build), nothing was
  // written, and it still ends at once with 130 and the message (worker threads' start-up is cut short).
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const offSignals = (): void => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  const startup = await startUp().catch((e: unknown) => {
    offSignals();
    if (controller.signal.aborted) return undefined;
    throw e;
  });
  if (startup === undefined) {
    offSignals();
    io.stderr.write("link-docs: interrupted while starting (nothing was written); re-run the same command\n");
    return 130;
  }
  const { dataset, kb, linker, selector } = startup;
  const pool = innerLinker(linker);

  /** Read IN, open the KB and the linker; undefined when a signal came meanwhile (what was opened is closed). */
  async function startUp() {
    const whole = await readDatasets(inputs, {
      format: format as DatasetFormat,
      strict: values.strict,
      ...(values.texts === undefined ? {} : { textsDir: values.texts }),
      ...(values.language === undefined ? {} : { language: values.language }),
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (controller.signal.aborted) return undefined;
    const errors = whole.problems.filter((p) => p.severity === "error");
    const warnings = whole.problems.filter((p) => p.severity === "warning");
    for (const p of errors.slice(0, 20)) io.stderr.write(`link-docs: skipped: ${describeProblem(p)}\n`);
    if (errors.length > 20) io.stderr.write(`link-docs: ... and ${errors.length - 20} more skipped rows\n`);
    const firstWarning = warnings[0];
    if (firstWarning !== undefined) io.stderr.write(`link-docs: ${warnings.length} row(s) repaired with a warning, e.g. ${describeProblem(firstWarning)}\n`);
    const allMentions = whole.documents.reduce((a, d) => a + d.mentions.length, 0);
    io.stderr.write(`link-docs: ${whole.documents.length} documents, ${allMentions} mentions from ${input}\n`);
    if (allMentions === 0) {
      throw new SyncabelError("DATA_BAD_ROW", `${input}: no mention read with --format ${format}${errors.length > 0 ? ` (${errors.length} rows skipped)` : ""}: is the format right? (${DATASET_FORMATS.join(", ")})`, { file: input });
    }

    // A shard may hold no document at all (tiny dataset, many shards): it still writes its (header-only) output.
    const dataset = shard === undefined ? whole : selectShard(whole, shard);
    const mentionCount = dataset.documents.reduce((a, d) => a + d.mentions.length, 0);
    if (shard !== undefined) io.stderr.write(`link-docs: shard ${shardText(shard)}: ${dataset.documents.length} documents, ${mentionCount} mentions\n`);

    // The `annotation` column: the gold code's KB name closest to the mention (the training-target rule).
    const kb = openKnowledgeBase(linkerOptions.kb);
    let linker: Awaited<ReturnType<typeof openLinker>>;
    try {
      checkLabelsAreGroups(whole.documents.flatMap((d) => d.mentions.map((m) => m.label)), kb.groups(), input, linkerOptions.kb, io);
      // Long inputs use every core (up to 4) with the model-free linkers; openLinker ignores it for a model.
      const workers = linkerOptions.workers ?? (mentionCount >= AUTO_WORKERS_FROM ? defaultLinkerWorkers() : 1);
      linker = await openLinker({ ...linkerOptions, workers, signal: controller.signal, onWarning: (m) => void io.stderr.write(`warning: ${m}\n`) });
      warnIneffectiveLinkerArgs(values, linker.kind, "link-docs", io.stderr, false);
    } catch (e) {
      kb.close();
      throw e;
    }
    const selector = TargetNameSelector.fitOnKnowledgeBase(kb);
    // The index build and the fit run on this thread: let a signal that came meanwhile be handled, then look.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (controller.signal.aborted) {
      await linker.close();
      kb.close();
      return undefined;
    }
    return { dataset, kb, linker, selector };
  }

  const annotate = (code: string, label: string, mention: string): string | undefined => selector.select(mention, candidateNames(kb, code, label))?.name;
  const started = performance.now();
  try {
    const result = await resumeAsUsage(linkDocuments(dataset, linker, {
      outPath: values.out,
      format: outFormat,
      batchSize,
      // Worker threads stay busy while the main thread writes: two batches in flight per worker.
      concurrency: pool instanceof WorkerPoolLinker ? 2 * pool.workers : 1,
      numBeams,
      constrained: !values.unconstrained,
      ...(values.language === undefined ? {} : { language: values.language }),
      progress: { stream: io.stderr, tty: io.isTTY },
      signal: controller.signal,
      annotate,
      restart: values.force,
      runOptions: {
        input: inputs.length === 1 ? resolve(input) : inputs.map((p) => resolve(p)),
        kb: resolve(linkerOptions.kb),
        model: linkerOptions.model === undefined ? null : resolve(linkerOptions.model),
        linker: linker.kind,
        beams: numBeams,
        constrained: !values.unconstrained,
        multiple_answers: linkerOptions.multipleAnswers ?? false,
        language: values.language ?? null,
        verb: values.verb ?? null,
        format: outFormat,
        // What merge-predictions needs to re-read the dataset (the order of the merged rows) and check the shards.
        ...(shard === undefined ? {} : { shard: shardText(shard), dataset_format: format, texts: values.texts === undefined ? null : resolve(values.texts) }),
        ...(linkerOptions.minConfidence === undefined ? {} : { min_confidence: linkerOptions.minConfidence }),
      },
    }));
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
    if (result.mentionErrors > 0) {
      io.stderr.write(`link-docs: ${result.mentionErrors} of ${result.mentions} mentions of this run failed (their error is in the output's error column)\n`);
      return 1;
    }
    return 0;
  } finally {
    offSignals();
    await linker.close();
    kb.close();
  }
}

/** An output written with other options is the command line's to fix: a usage error naming the flags that do. */
async function resumeAsUsage<T>(run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (e) {
    if (isSyncabelError(e) && e.code === "RUN_OPTIONS_MISMATCH") {
      throw new SyncabelError("CLI_USAGE", `${e.message}: re-run with the same options, choose another -o, or add --force to discard it and start over`, e.details, { cause: e });
    }
    throw e;
  }
}

/** Mentions whose label is no KB group all fail: say so before linking, and refuse when none matches. */
function checkLabelsAreGroups(labels: readonly string[], groups: readonly string[], input: string, kbPath: string, io: CliIO): void {
  const known = new Set(groups);
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const unknown = [...counts].filter(([l]) => !known.has(l));
  if (unknown.length === 0) return;
  const list = (xs: readonly string[]): string => xs.slice(0, 10).map((x) => JSON.stringify(x)).join(", ") + (xs.length > 10 ? ", ..." : "");
  const missing = unknown.reduce((a, [, n]) => a + n, 0);
  if (missing === labels.length) {
    throw new SyncabelError(
      "MARKUP_UNKNOWN_GROUP",
      `none of the labels of ${input} (${list(unknown.map(([l]) => l))}) is a group of the KB ${kbPath} (${list(groups)}): ` +
        `build the KB with the dataset's label names in its group column`,
      { file: input },
    );
  }
  io.stderr.write(`link-docs: warning: ${missing} mention(s) have labels that are not KB groups (${list(unknown.map(([l]) => l))}); they will get MARKUP_UNKNOWN_GROUP\n`);
}
