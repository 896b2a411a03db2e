/**
 * The judge's verdict cache and resume state: a JSONL file with one line per model verdict, appended with one write
 * call the moment the verdict arrives. A kill can tear only the last line: on open the file is cut back to its last
 * complete line. The key is a SHA-256 of (model, prompt, gold code, predicted code, mention, sentence): the same
 * prediction in the same context is never asked twice, across runs and across predictions files sharing the cache.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { canonicalCode } from "../eval/codes.js";
import { forEachLine } from "../synth/jsonl-store.js";
import { MODEL_LABELS, type CacheRecord, type JudgeItem } from "./types.js";

export function cacheKey(model: string, promptSha256: string, item: JudgeItem): string {
  const parts = [model, promptSha256, canonicalCode(item.gold), canonicalCode(item.predicted), item.span, item.sentence];
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

function isRecord(v: unknown): v is CacheRecord {
  const r = v as CacheRecord;
  return r !== null && typeof r === "object" && typeof r.key === "string" && (MODEL_LABELS as readonly string[]).includes(r.label);
}

export class VerdictCache {
  private readonly records = new Map<string, CacheRecord>();
  private fd = -1;
  /** Bytes cut from the end on open (a write torn by a kill). */
  readonly truncatedBytes: number;

  constructor(readonly path: string) {
    this.truncatedBytes = existsSync(path) ? this.load() : 0;
    try {
      this.fd = openSync(path, "a");
    } catch (e) {
      throw new SyncabelError("IO_ERROR", `cannot open the judge cache ${path} for appending: ${(e as Error).message}`, { path }, { cause: e });
    }
  }

  /** Read every line; cut a torn tail; a bad line elsewhere is damage not ours to drop. */
  private load(): number {
    const fd = openSync(this.path, "r+");
    try {
      const size = fstatSync(fd).size;
      let keepUntil = 0;
      let lineNo = 0;
      let stopped = false;
      forEachLine(fd, (line, _start, end, complete) => {
        if (stopped) return;
        lineNo++;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          value = undefined;
        }
        if (!complete || !isRecord(value)) {
          if (end < size) throw new SyncabelError("IO_ERROR", `${this.path}:${lineNo}: not a judge cache record in the middle of the file; refusing to resume over it`, { path: this.path, line: lineNo });
          stopped = true;
          return;
        }
        this.records.set(value.key, value);
        keepUntil = end;
      });
      if (keepUntil < size) ftruncateSync(fd, keepUntil);
      return size - keepUntil;
    } finally {
      closeSync(fd);
    }
  }

  get size(): number {
    return this.records.size;
  }

  get(key: string): CacheRecord | undefined {
    return this.records.get(key);
  }

  /** Append one verdict (one write call: a kill leaves it whole or as a torn last line). */
  add(record: CacheRecord): void {
    this.records.set(record.key, record);
    const bytes = Buffer.from(`${JSON.stringify(record)}\n`, "utf8");
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
