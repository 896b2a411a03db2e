/**
 * Link every gold mention of a dataset with any Linker (src/linker/link-dataset.ts) and write the predictions,
 * resumably.
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
import { SyncabelError } from "../errors.js";
import { predictionJsonlLine, predictionTsvHeader, predictionTsvRow, type PredictionRecord } from "../data/predictions-writer.js";
import { quotedTsvFields } from "../data/tsv.js";
import type { Dataset } from "../data/types.js";
import { linkDataset, type LinkDatasetOptions, type LinkedDocument } from "./link-dataset.js";
import type { Linker } from "./types.js";

export type PredictionFormat = "tsv" | "jsonl";

/** linkDataset's options (batchSize, numBeams, constrained, language, concurrency, signal) and the file's. */
export interface LinkDocumentsOptions extends Omit<LinkDatasetOptions, "onProgress"> {
  readonly outPath: string;
  readonly format: PredictionFormat;
  /** A progress bar (tty) or plain lines on this stream. */
  readonly progress?: { readonly stream: Writable; readonly tty: boolean };
  /** Called after each document's rows are on disk. */
  readonly onDocumentWritten?: (documentId: string, rows: number) => void;
  /** Gold KB name for the `annotation` column, given a gold code, the mention's label and its text. */
  readonly annotate?: (code: string, label: string, mention: string) => string | undefined;
  /**
   * What the rows depend on (KB, model, linker, beams ...). Recorded in `<out>.run.json`; resuming an output
   * written with other values is refused (the file would mix two runs' rows) unless `restart` is set.
   */
  readonly runOptions?: Readonly<Record<string, string | number | boolean | null | readonly string[]>>;
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
        "RUN_OPTIONS_MISMATCH",
        `${source} was written with ${show(previous)}; this run asks ${show(wanted)}: resuming would mix two runs' rows. ` +
          `Resume with the same options, write another output, or restart (discard it and start over)`,
        { file: source },
      );
    }
  }
  writeFileAtomic(path, `${JSON.stringify(wanted, null, 2)}\n`);
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

/** The output rows of one linked document, and how many of them carry an error. */
function rowsOf(linked: LinkedDocument, format: PredictionFormat, annotate: LinkDocumentsOptions["annotate"]): { rows: string[]; errors: number } {
  let errors = 0;
  const rows = linked.mentions.map(({ mention: m, sentence, beams, error, confidence, abstained }) => {
    if (error !== undefined) errors++;
    const annotation = m.codes.length > 0 && annotate ? m.codes.map((c) => annotate(c, m.label, m.text) ?? "").join("<SEP>") : undefined;
    const calibrated = { ...(confidence === undefined ? {} : { confidence }), ...(abstained ? { abstained: true } : {}) };
    const record: PredictionRecord = { document: linked.document.id, mention: m, sentence, beams, ...(error === undefined ? {} : { error }), ...(annotation === undefined ? {} : { annotation }), ...calibrated };
    return format === "tsv" ? predictionTsvRow(record) : predictionJsonlLine(record);
  });
  return { rows, errors };
}

export async function linkDocuments(dataset: Dataset, linker: Linker, options: LinkDocumentsOptions): Promise<LinkDocumentsResult> {
  const { outPath, format } = options;
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
  let linkedDocuments = 0;
  let mentions = 0;
  let mentionErrors = 0;
  try {
    if (source === undefined || (format === "tsv" && readFileSync(partial).length === 0)) {
      if (format === "tsv") append(`${predictionTsvHeader()}\n`);
    }
    const run = linkDataset(todo, linker, { ...options, onProgress: (n) => progress?.tick(n) });
    for await (const linked of run) {
      // Each document's rows in one write, in dataset order: a kill leaves whole documents or a torn last group.
      const lines = rowsOf(linked, format, options.annotate);
      mentionErrors += lines.errors;
      if (lines.rows.length > 0) append(`${lines.rows.join("\n")}\n`);
      linkedDocuments++;
      mentions += lines.rows.length;
      options.onDocumentWritten?.(linked.document.id, lines.rows.length);
    }
  } finally {
    closeSync(fd);
  }
  // The run stops early only when the signal aborted it: what is written stays resumable.
  const aborted = linkedDocuments < todo.length;
  progress?.finish(aborted ? "(interrupted: re-run to resume)" : "");
  if (!aborted) renameSync(partial, outPath);
  return { outPath: aborted ? partial : outPath, linkedDocuments, skippedDocuments: done.size, mentions, mentionErrors, aborted };
}
