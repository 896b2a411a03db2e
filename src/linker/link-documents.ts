/**
 * Link every gold mention of a dataset with any Linker and write the predictions, resumably.
 *
 * Resumption design (no sidecar file):
 * - Rows go to `<out>.partial` (appended); only a finished run renames it to `<out>`, so `<out>` is
 *   never half-written.
 * - Each document's rows are formatted first, then appended with ONE write and fsynced, in dataset order.
 * - A document is "done" iff the file holds a contiguous group of exactly as many complete, parseable
 *   rows for it as the dataset has mentions. On start, the existing `<out>.partial` (else `<out>`) is
 *   scanned from the top: groups are accepted while they are complete; the file is truncated right
 *   after the last accepted group. A kill mid-write leaves either a torn last line or a short group:
 *   both are cut and that document is linked again. So no document is lost or duplicated.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeSync } from "node:fs";
import { writeFileAtomic } from "../io/atomic-write.js";
import type { Writable } from "node:stream";
import { Progress } from "../io/progress.js";
import { SyncabelError, asSyncabelError } from "../errors.js";
import { predictionJsonlLine, predictionTsvHeader, predictionTsvRow, type PredictionRecord } from "../data/predictions-writer.js";
import { quotedTsvFields } from "../data/tsv.js";
import type { Dataset, Document } from "../data/types.js";
import { abbreviationMap, expansionOf } from "../lexical/abbreviations.js";
import { buildMarkedSentence, SegmentationCache } from "../markup/sentence-builder.js";
import type { Beam, Linker, SampleResult, SentenceError } from "./types.js";

export type PredictionFormat = "tsv" | "jsonl";

export interface LinkDocumentsOptions {
  readonly outPath: string;
  readonly format: PredictionFormat;
  /** Sentences per linker call (documents are grouped until a batch is full; default 32). */
  readonly batchSize?: number;
  readonly numBeams?: number;
  readonly constrained?: boolean;
  /** Segmentation language when a document has none (default "es"). */
  readonly language?: string;
  /** A progress bar (tty) or plain lines on this stream. */
  readonly progress?: { readonly stream: Writable; readonly tty: boolean };
  /** Stop cleanly between documents; the output stays resumable. */
  readonly signal?: AbortSignal;
  /** Called after each document's rows are on disk. */
  readonly onDocumentWritten?: (documentId: string, rows: number) => void;
  /** Gold KB name for the `annotation` column, given a gold code, the mention's label and its text. */
  readonly annotate?: (code: string, label: string, mention: string) => string | undefined;
  /**
   * What the rows depend on (KB, model, linker, beams ...). Recorded in `<out>.run.json`; resuming an output
   * written with other values is refused (the file would mix two runs' rows) unless `restart` is set.
   */
  readonly runOptions?: Readonly<Record<string, string | number | boolean | null | readonly string[]>>;
  /**
   * Linker calls in flight at once (default 1). A linker that works on several threads (WorkerPoolLinker) stays
   * busy while the previous batch is written; a model linker takes one call at a time.
   */
  readonly concurrency?: number;
  /** Discard an existing `<out>.partial` / `<out>` and start over. */
  readonly restart?: boolean;
}

export interface LinkDocumentsResult {
  readonly outPath: string;
  /** Documents linked by this run / found already done. */
  readonly linkedDocuments: number;
  readonly skippedDocuments: number;
  readonly mentions: number;
  /** Mentions of this run that got an error instead of beams. */
  readonly mentionErrors: number;
  readonly aborted: boolean;
}

export function partialPathFor(outPath: string): string {
  return `${outPath}.partial`;
}

/** The options of the run that wrote `<out>` / `<out>.partial`. */
export function runOptionsPathFor(outPath: string): string {
  return `${outPath}.run.json`;
}

/** Refuse to resume rows written with other options; record this run's options. */
function checkRunOptions(outPath: string, source: string | undefined, wanted: Readonly<Record<string, unknown>>): void {
  const path = runOptionsPathFor(outPath);
  if (source !== undefined && existsSync(path)) {
    let previous: Record<string, unknown> = {};
    try {
      previous = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    } catch {
      previous = {};
    }
    const keys = [...new Set([...Object.keys(previous), ...Object.keys(wanted)])].sort();
    const differ = keys.filter((k) => JSON.stringify(previous[k] ?? null) !== JSON.stringify(wanted[k] ?? null));
    if (differ.length > 0) {
      const show = (o: Readonly<Record<string, unknown>>): string => differ.map((k) => `${k}=${JSON.stringify(o[k] ?? null)}`).join(", ");
      throw new SyncabelError(
        "CLI_USAGE",
        `${source} was written with ${show(previous)}; this run asks ${show(wanted)}: resuming would mix two runs' rows. ` +
          `Re-run with the same options to resume, choose another -o, or add --force to discard it and start over`,
        { file: source },
      );
    }
  }
  writeFileAtomic(path, `${JSON.stringify(wanted, null, 2)}\n`);
}

/** Let pending signal handlers and timers run: a linker that never awaits I/O would otherwise starve them. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The document id of one output line, or undefined if the line is not a complete, valid row. */
function rowDocument(line: string, format: PredictionFormat, columns: number): string | undefined {
  if (format === "jsonl") {
    try {
      const v = JSON.parse(line) as { document?: unknown };
      return typeof v.document === "string" ? v.document : undefined;
    } catch {
      return undefined;
    }
  }
  const f = quotedTsvFields(line);
  return f.length === columns ? f[0] : undefined;
}

/**
 * Scan an existing output: the byte length of its valid prefix (whole documents only) and the ids of
 * those documents.
 */
function scanExisting(path: string, dataset: Dataset, format: PredictionFormat): { keepBytes: number; done: Set<string> } {
  const expected = new Map(dataset.documents.map((d) => [d.id, d.mentions.length]));
  const buf = readFileSync(path);
  const done = new Set<string>();
  const columns = predictionTsvHeader().split("\t").length;
  let pos = 0;
  if (format === "tsv") {
    const nl = buf.indexOf(10);
    if (nl < 0 || buf.subarray(0, nl).toString("utf8") !== predictionTsvHeader()) {
      if (buf.length > 0 && nl >= 0) {
        throw new SyncabelError("IO_ERROR", `${path} exists but is not a syncabel predictions TSV of this layout (its header differs): remove it or choose another output`, { file: path });
      }
      return { keepBytes: 0, done };
    }
    pos = nl + 1;
  }
  let keepBytes = pos;
  let current: string | undefined;
  let count = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) break; // torn last line
    const doc = rowDocument(buf.subarray(pos, nl).toString("utf8"), format, columns);
    if (doc === undefined) break;
    if (doc !== current) {
      if (current !== undefined) break; // the previous group ended short (it would have been accepted below)
      if (done.has(doc) || !expected.has(doc)) break;
      current = doc;
      count = 0;
    }
    count++;
    pos = nl + 1;
    if (count === expected.get(current)) {
      done.add(current);
      keepBytes = pos;
      current = undefined;
    } else if (count > (expected.get(current) ?? 0)) break;
  }
  return { keepBytes, done };
}

function toSentenceError(e: unknown): SentenceError {
  const err = asSyncabelError(e, "MARKUP_BAD_OFFSETS");
  return { code: err.code, message: err.message, details: err.details };
}

interface Job {
  readonly doc: Document;
  /** Per mention: its marked sentence, or why it could not be built. */
  readonly sentences: (string | undefined)[];
  readonly buildErrors: (SentenceError | undefined)[];
  /** Per mention: the long form when its text is a short form defined in the document. */
  readonly expansions: (string | undefined)[];
  /** The texts of every mention of the document (document-level features of the hybrid linker). */
  readonly documentMentions: readonly string[];
}

/** A batch of whole documents sent to the linker, and its outcome once linked. */
interface Batch {
  readonly jobs: readonly Job[];
  readonly outcome: Promise<BatchOutcome>;
}

interface BatchOutcome {
  /** One result per built sentence of the batch's jobs, in order. */
  readonly results: readonly SampleResult[];
  /** Set when the linker call failed: every sentence of the batch gets it. */
  readonly batchError?: SentenceError;
  /** The call was interrupted by the signal: nothing of the batch is written. */
  readonly aborted: boolean;
  /** Results so far handed out (`rowsOf` advances it). */
  cursor: number;
}

/** A document's marked sentences, short-form expansions and mention texts. */
function jobOf(doc: Document, language: string | undefined, cache: SegmentationCache): Job {
  const sentences: (string | undefined)[] = [];
  const buildErrors: (SentenceError | undefined)[] = [];
  const abbreviations = abbreviationMap(doc.text);
  const expansions = doc.mentions.map((m) => expansionOf(abbreviations, m.text));
  for (const m of doc.mentions) {
    try {
      sentences.push(buildMarkedSentence(doc, m, { language: doc.language ?? language ?? "es", cache }).sentence);
      buildErrors.push(undefined);
    } catch (e) {
      sentences.push(undefined);
      buildErrors.push(toSentenceError(e));
    }
  }
  return { doc, sentences, buildErrors, expansions, documentMentions: doc.mentions.map((m) => m.text) };
}

/** Send the built sentences of `jobs` to the linker; progress ticks per mention. */
function startBatch(linker: Linker, jobs: readonly Job[], options: LinkDocumentsOptions, batchSize: number, progress: Progress | undefined): Batch {
  const flat = jobs.flatMap((j) => j.sentences.filter((s): s is string => s !== undefined));
  const flatExpansions = jobs.flatMap((j) => j.expansions.filter((_, k) => j.sentences[k] !== undefined));
  const flatDocumentMentions = jobs.flatMap((j) => j.sentences.filter((x) => x !== undefined).map(() => j.documentMentions));
  const n = jobs.reduce((a, j) => a + j.doc.mentions.length, 0);
  // Progress per mention: linkers that decode in steps report each sentence as it ends.
  let ticked = 0;
  const onSentenceDone = (): void => {
    ticked++;
    progress?.tick(1);
  };
  const settle = (): void => {
    const rest = n - Math.min(ticked, flat.length);
    if (rest > 0) progress?.tick(rest);
  };
  const call = flat.length === 0
    ? Promise.resolve<SampleResult[]>([])
    : linker.sample(flat, {
        num_beams: options.numBeams ?? 5,
        constrained: options.constrained ?? true,
        batch_size: batchSize,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onSentenceDone,
        expansions: flatExpansions,
        documentMentions: flatDocumentMentions,
      });
  const outcome = call.then(
    (results): BatchOutcome => {
      settle();
      return { results, aborted: false, cursor: 0 };
    },
    (e: unknown): BatchOutcome => {
      if (options.signal?.aborted) return { results: [], aborted: true, cursor: 0 };
      settle();
      return { results: [], batchError: toSentenceError(e), aborted: false, cursor: 0 }; // one failed call marks its mentions, never the run
    },
  );
  return { jobs, outcome };
}

/** The output rows of one document of a linked batch, and how many of them carry an error. */
function rowsOf(job: Job, outcome: BatchOutcome, format: PredictionFormat, annotate: LinkDocumentsOptions["annotate"]): { rows: string[]; errors: number } {
  const rows: string[] = [];
  let errors = 0;
  job.doc.mentions.forEach((m, idx) => {
    const sentence = job.sentences[idx];
    let beams: readonly Beam[] = [];
    let error: SentenceError | undefined;
    let calibrated: { confidence?: number; abstained?: boolean } = {};
    if (sentence === undefined) {
      error = job.buildErrors[idx];
    } else {
      const r = outcome.results[outcome.cursor++];
      if (outcome.batchError !== undefined) error = outcome.batchError;
      else if (r === undefined) error = { code: "MODEL_RUNTIME", message: "the linker returned fewer results than sentences", details: {} };
      else if (r.error !== undefined) error = r.error;
      else {
        beams = r.beams;
        calibrated = { ...(r.confidence === undefined ? {} : { confidence: r.confidence }), ...(r.abstained ? { abstained: true } : {}) };
      }
    }
    if (error !== undefined) errors++;
    const annotation = m.codes.length > 0 && annotate ? m.codes.map((c) => annotate(c, m.label, m.text) ?? "").join("<SEP>") : undefined;
    const record: PredictionRecord = { document: job.doc.id, mention: m, sentence: sentence ?? "", beams, ...(error === undefined ? {} : { error }), ...(annotation === undefined ? {} : { annotation }), ...calibrated };
    rows.push(format === "tsv" ? predictionTsvRow(record) : predictionJsonlLine(record));
  });
  return { rows, errors };
}

export async function linkDocuments(dataset: Dataset, linker: Linker, options: LinkDocumentsOptions): Promise<LinkDocumentsResult> {
  const { outPath, format } = options;
  const batchSize = Math.max(1, options.batchSize ?? 32);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const partial = partialPathFor(outPath);
  if (options.restart) {
    rmSync(partial, { force: true });
    rmSync(outPath, { force: true });
  }
  const source = existsSync(partial) ? partial : existsSync(outPath) ? outPath : undefined;
  if (options.runOptions !== undefined) checkRunOptions(outPath, source, options.runOptions);
  let done = new Set<string>();
  if (source !== undefined) {
    const scan = scanExisting(source, dataset, format);
    done = scan.done;
    truncateSync(source, scan.keepBytes);
    if (source !== partial) renameSync(source, partial);
  }
  const fd = openSync(partial, "a");
  const append = (text: string): void => {
    const bytes = Buffer.from(text, "utf8");
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  };
  const todo = dataset.documents.filter((d) => !done.has(d.id));
  const totalMentions = dataset.documents.reduce((a, d) => a + d.mentions.length, 0);
  const progress = options.progress === undefined ? undefined : new Progress({ total: totalMentions, label: "link-docs", stream: options.progress.stream, tty: options.progress.tty, unit: "mentions" });
  const skippedMentions = totalMentions - todo.reduce((a, d) => a + d.mentions.length, 0);
  if (skippedMentions > 0) progress?.skip(skippedMentions, `(${done.size} documents already done)`);
  const cache = new SegmentationCache();
  let linkedDocuments = 0;
  let mentions = 0;
  let mentionErrors = 0;
  let aborted = false;
  try {
    if (source === undefined || (format === "tsv" && readFileSync(partial).length === 0)) {
      if (format === "tsv") append(`${predictionTsvHeader()}\n`);
    }
    let next = 0;
    const takeJobs = (): Job[] => {
      const jobs: Job[] = [];
      let n = 0;
      while (next < todo.length && (jobs.length === 0 || n + (todo[next] as Document).mentions.length <= batchSize)) {
        const doc = todo[next++] as Document;
        jobs.push(jobOf(doc, options.language, cache));
        n += doc.mentions.length;
      }
      return jobs;
    };
    // Batches in dataset order; up to `concurrency` are being linked while the oldest is awaited and written.
    const inFlight: Batch[] = [];
    while (next < todo.length || inFlight.length > 0) {
      await yieldToEventLoop();
      if (options.signal?.aborted) {
        aborted = true;
        break;
      }
      if (next < todo.length && inFlight.length < concurrency) {
        inFlight.push(startBatch(linker, takeJobs(), options, batchSize, progress));
        continue;
      }
      const batch = inFlight.shift() as Batch;
      const outcome = await batch.outcome;
      if (outcome.aborted) {
        // Interrupted inside the batch: its documents are not written and are linked again on resume.
        aborted = true;
        break;
      }
      for (const job of batch.jobs) {
        if (options.signal?.aborted) {
          aborted = true;
          break;
        }
        const lines = rowsOf(job, outcome, format, options.annotate);
        mentionErrors += lines.errors;
        if (lines.rows.length > 0) append(`${lines.rows.join("\n")}\n`);
        linkedDocuments++;
        mentions += lines.rows.length;
        options.onDocumentWritten?.(job.doc.id, lines.rows.length);
      }
      if (aborted) break;
    }
  } finally {
    closeSync(fd);
  }
  progress?.finish(aborted ? "(interrupted: re-run to resume)" : "");
  if (!aborted) renameSync(partial, outPath);
  return { outPath: aborted ? partial : outPath, linkedDocuments, skippedDocuments: done.size, mentions, mentionErrors, aborted };
}
