/**
 * Merge the outputs of `link-docs --shard K/N` (K = 0..N-1) into the output one run over the whole dataset writes:
 * the same bytes (header, rows in the dataset's document order) and the same run record.
 *
 * Order. Each shard's rows are in dataset order, but which document comes next across shards is known only from
 * the dataset: the merge re-reads it, as the shards' run records name it (input paths, dataset format, texts
 * folder), and takes each document's rows from the shard its id hashes to. So a run record stays a few lines
 * whatever the corpus size, and the merge checks every document of the dataset against the shards: each one is
 * in exactly its shard with exactly one row per mention, and no shard holds anything else. A shard linked from
 * another version of the input, a lost or extra row, a missing shard: all are refused, never merged silently.
 * The cost is reading the input once more, far less than linking it.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { predictionTsvHeader } from "../data/predictions-writer.js";
import { readDatasets } from "../data/read-dataset.js";
import { parseShard, shardOfId, shardText, type Shard } from "../data/shard.js";
import { quoteTsvField } from "../data/tsv.js";
import { DATASET_FORMATS, type DatasetFormat } from "../data/types.js";
import { isSameFile, removeStaleTemps, tempPathFor, writeAll, writeFileAtomic } from "../io/atomic-write.js";
import { partialPathFor, runOptionsPathFor, type PredictionFormat } from "./link-documents.js";

/** Keys a sharded run adds to its run record; the merged record (that of one whole run) has none of them. */
export const SHARD_RECORD_KEYS = ["shard", "dataset_format", "texts"] as const;

type RunRecord = Readonly<Record<string, unknown>>;

interface ShardOutput {
  readonly path: string;
  readonly shard: Shard;
  readonly record: RunRecord;
}

export interface MergeResult {
  readonly outPath: string;
  readonly shards: number;
  readonly documents: number;
  readonly rows: number;
}

/** Lines of a file read in chunks, as raw bytes (rows are copied to the merged output unchanged). */
class LineReader {
  private readonly fd: number;
  private buffer = Buffer.alloc(0);
  private eof = false;
  private ahead: Buffer | undefined;
  /** 1-based number of the last line returned by next(). */
  line = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, "r");
  }

  /** The next line without its "\n"; undefined at the end. A last line without "\n" is a torn write: refused. */
  peek(): Buffer | undefined {
    if (this.ahead !== undefined) return this.ahead;
    for (;;) {
      const nl = this.buffer.indexOf(10);
      if (nl >= 0) {
        this.ahead = this.buffer.subarray(0, nl);
        this.buffer = this.buffer.subarray(nl + 1);
        return this.ahead;
      }
      if (this.eof) {
        if (this.buffer.length > 0) {
          throw new SyncabelError("DATA_BAD_ROW", `${this.path}: its last line has no line end (a torn write): it is not a finished link-docs output`, { file: this.path });
        }
        return undefined;
      }
      const chunk = Buffer.alloc(1 << 20);
      const n = readSync(this.fd, chunk, 0, chunk.length, null);
      if (n === 0) this.eof = true;
      else this.buffer = this.buffer.length === 0 ? chunk.subarray(0, n) : Buffer.concat([this.buffer, chunk.subarray(0, n)]);
    }
  }

  next(): Buffer | undefined {
    const line = this.peek();
    if (line !== undefined) this.line++;
    this.ahead = undefined;
    return line;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** How a document's rows begin: its id is the first field of a TSV row and the first key of a JSONL object. */
function rowPrefix(documentId: string, format: PredictionFormat): Buffer {
  return Buffer.from(format === "tsv" ? `${quoteTsvField(documentId.replace(/[\t\r\n]/g, " "))}\t` : `{"document":${JSON.stringify(documentId)},`, "utf8");
}

function startsWith(line: Buffer, prefix: Buffer): boolean {
  return line.length >= prefix.length && line.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

function readRecord(outPath: string): RunRecord {
  const path = runOptionsPathFor(outPath);
  if (!existsSync(path)) {
    throw new SyncabelError("DATA_FILE_MISSING", `${outPath} has no run record ${path}: only outputs of a sharded link-docs run can be merged`, { file: path });
  }
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as RunRecord;
  } catch (e) {
    throw new SyncabelError("DATA_BAD_ROW", `the run record ${path} of ${outPath} is not valid JSON (${(e as Error).message})`, { file: path }, { cause: e });
  }
}

/** A shard output as given: finished (no `.partial`), with a run record naming its shard. */
function openShardOutput(path: string): ShardOutput {
  const unfinished = path.endsWith(".partial") ? path : existsSync(partialPathFor(path)) ? partialPathFor(path) : undefined;
  if (unfinished !== undefined) {
    const out = path.endsWith(".partial") ? path.slice(0, -".partial".length) : path;
    throw new SyncabelError("DATA_FILE_MISSING", `shard output ${out} is unfinished (${unfinished} exists): re-run its link-docs command to finish it, then merge`, { file: unfinished });
  }
  if (!existsSync(path)) throw new SyncabelError("DATA_FILE_MISSING", `shard output ${path} does not exist`, { file: path });
  const record = readRecord(path);
  if (typeof record.shard !== "string") {
    throw new SyncabelError("MERGE_INVALID_INPUT", `${path} was not written by a sharded link-docs run (its run record ${runOptionsPathFor(path)} names no shard)`, { file: path });
  }
  return { path, shard: parseShard(record.shard, `the shard of ${path}`), record };
}

/** The shards must be 0..N-1 of one N, each once, written with the same options (apart from the shard). */
function checkShardSet(outputs: readonly ShardOutput[]): number {
  const first = outputs[0] as ShardOutput;
  const count = first.shard.count;
  const listing = outputs.map((o) => `${shardText(o.shard)} ${o.path}`).join(", ");
  const other = outputs.find((o) => o.shard.count !== count);
  if (other !== undefined) {
    throw new SyncabelError("MERGE_INVALID_INPUT", `the shard outputs split the dataset in different numbers of shards: ${first.path} is shard ${shardText(first.shard)}, ${other.path} is ${shardText(other.shard)}`);
  }
  const byIndex = new Map<number, ShardOutput>();
  for (const o of outputs) {
    const seen = byIndex.get(o.shard.index);
    if (seen !== undefined) throw new SyncabelError("MERGE_INVALID_INPUT", `shard ${shardText(o.shard)} is given twice: ${seen.path} and ${o.path}`);
    byIndex.set(o.shard.index, o);
  }
  const missing = Array.from({ length: count }, (_, k) => k).filter((k) => !byIndex.has(k));
  if (missing.length > 0) {
    const names = missing.slice(0, 20).map((k) => `${k}/${count}`).join(", ") + (missing.length > 20 ? `, ... (${missing.length} in all)` : "");
    throw new SyncabelError("MERGE_INVALID_INPUT", `shard${missing.length > 1 ? "s" : ""} ${names} ${missing.length > 1 ? "are" : "is"} missing: a merge needs all ${count} shards (given: ${listing})`);
  }
  const keys = (r: RunRecord): string[] => Object.keys(r).filter((k) => k !== "shard");
  for (const o of outputs) {
    const all = [...new Set([...keys(first.record), ...keys(o.record)])].sort();
    const differ = all.filter((k) => JSON.stringify(first.record[k] ?? null) !== JSON.stringify(o.record[k] ?? null));
    if (differ.length > 0) {
      const show = (r: RunRecord): string => differ.map((k) => `${k}=${JSON.stringify(r[k] ?? null)}`).join(", ");
      throw new SyncabelError("MERGE_INVALID_INPUT", `${first.path} and ${o.path} were linked with different options (${show(first.record)} / ${show(o.record)}): their rows cannot make one output`);
    }
  }
  return count;
}

function recordString(record: RunRecord, key: string, path: string): string {
  const v = record[key];
  if (typeof v !== "string") throw new SyncabelError("DATA_BAD_ROW", `the run record of ${path} has no ${key}`, { file: runOptionsPathFor(path) });
  return v;
}

/**
 * Merge the finished outputs of every shard of one sharded link-docs run into `outPath` (written atomically, with
 * its run record `<outPath>.run.json`).
 */
export async function mergePredictions(shardPaths: readonly string[], outPath: string): Promise<MergeResult> {
  if (shardPaths.length === 0) throw new SyncabelError("MERGE_INVALID_INPUT", "no shard output given to merge");
  const outputs = shardPaths.map(openShardOutput);
  const count = checkShardSet(outputs);
  const first = outputs[0] as ShardOutput;
  const format = recordString(first.record, "format", first.path);
  if (format !== "tsv" && format !== "jsonl") throw new SyncabelError("DATA_BAD_ROW", `the run record of ${first.path} names an unknown output format ${JSON.stringify(format)}`);
  const wanted: PredictionFormat = outPath.toLowerCase().endsWith(".tsv") ? "tsv" : "jsonl";
  if (wanted !== format) throw new SyncabelError("MERGE_INVALID_INPUT", `the output ${outPath} would be ${wanted.toUpperCase()} but the shards are ${format.toUpperCase()}: name the output like the shards (.tsv for TSV, anything else for JSONL)`);
  if (existsSync(partialPathFor(outPath))) {
    throw new SyncabelError("MERGE_INVALID_INPUT", `${partialPathFor(outPath)} exists (an unfinished link-docs run writes there): remove it or choose another output`, { path: outPath });
  }

  const datasetFormat = recordString(first.record, "dataset_format", first.path) as DatasetFormat;
  if (!DATASET_FORMATS.includes(datasetFormat)) throw new SyncabelError("DATA_BAD_ROW", `the run record of ${first.path} names an unknown dataset format ${JSON.stringify(datasetFormat)}`);
  const input = first.record.input;
  const inputs = typeof input === "string" ? [input] : Array.isArray(input) && input.every((p) => typeof p === "string") ? (input as string[]) : undefined;
  if (inputs === undefined || inputs.length === 0) throw new SyncabelError("DATA_BAD_ROW", `the run record of ${first.path} names no input`);
  const input0 = inputs.find((p) => isSameFile(outPath, p));
  if (input0 !== undefined) throw new SyncabelError("MERGE_INVALID_INPUT", `the output ${outPath} is the shards' input ${input0}: writing it would destroy the input; choose another output path`, { path: outPath });
  const texts = first.record.texts;
  const language = first.record.language;
  const dataset = await readDatasets(inputs, {
    format: datasetFormat,
    ...(typeof texts === "string" ? { textsDir: texts } : {}),
    ...(typeof language === "string" ? { language } : {}),
  });

  const readers = new Map<number, LineReader>();
  removeStaleTemps(outPath);
  const tmp = tempPathFor(outPath);
  const fd = openSync(tmp, "w");
  let rows = 0;
  let documents = 0;
  try {
    for (const o of outputs) readers.set(o.shard.index, new LineReader(o.path));
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    const emit = (line: Buffer): void => {
      pending.push(line, NEWLINE);
      pendingBytes += line.length + 1;
      if (pendingBytes >= 1 << 20) flush();
    };
    const flush = (): void => {
      writeAll(fd, Buffer.concat(pending, pendingBytes));
      pending.length = 0;
      pendingBytes = 0;
    };
    if (format === "tsv") {
      const header = Buffer.from(predictionTsvHeader(), "utf8");
      for (const o of outputs) {
        const r = readers.get(o.shard.index) as LineReader;
        const line = r.next();
        if (line === undefined || !line.equals(header)) throw new SyncabelError("DATA_BAD_ROW", `${o.path}: the first line is not the predictions TSV header of this version`, { file: o.path, line: 1 });
      }
      emit(header);
    }
    for (const doc of dataset.documents) {
      if (doc.mentions.length === 0) continue; // no row in any output
      const shard = shardOfId(doc.id, count);
      const reader = readers.get(shard) as LineReader;
      const prefix = rowPrefix(doc.id, format);
      for (let k = 0; k < doc.mentions.length; k++) {
        const line = reader.next();
        if (line === undefined || !startsWith(line, prefix)) {
          const found = line === undefined ? "its end" : `a row of another document (line ${reader.line})`;
          throw new SyncabelError(
            "DATA_BAD_ROW",
            `${reader.path} (shard ${shard}/${count}) should hold ${doc.mentions.length} row(s) of document ${doc.id} next, found ${k} then ${found}: ` +
              `the shard was not linked from this dataset (${inputs.join(", ")}) as it reads now, or its file was changed`,
            { file: reader.path, document: doc.id },
          );
        }
        emit(line);
      }
      const extra = reader.peek();
      if (extra !== undefined && startsWith(extra, prefix)) {
        throw new SyncabelError("DATA_BAD_ROW", `${reader.path} (shard ${shard}/${count}) holds more rows of document ${doc.id} than its ${doc.mentions.length} mention(s) in the dataset`, { file: reader.path, document: doc.id });
      }
      rows += doc.mentions.length;
      documents++;
    }
    for (const o of outputs) {
      const r = readers.get(o.shard.index) as LineReader;
      if (r.peek() !== undefined) {
        throw new SyncabelError("DATA_BAD_ROW", `${o.path} (shard ${shardText(o.shard)}) holds rows (from line ${r.line + 1}) of no document of the dataset at that place: it was not linked from this dataset as it reads now`, { file: o.path });
      }
    }
    flush();
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    for (const r of readers.values()) r.close();
  }
  closeSync(fd);
  // The record of one whole run: the shards' options without the shard's own keys, in their order.
  const merged = Object.fromEntries(Object.entries(first.record).filter(([k]) => !(SHARD_RECORD_KEYS as readonly string[]).includes(k)));
  writeFileAtomic(runOptionsPathFor(outPath), `${JSON.stringify(merged, null, 2)}\n`);
  renameSync(tmp, outPath);
  return { outPath, shards: count, documents, rows };
}

const NEWLINE = Buffer.from("\n");
