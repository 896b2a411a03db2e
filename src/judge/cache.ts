/**
 * The judge's verdict cache and resume state: a JSONL file with one line per model verdict, appended with one write
 * call the moment the verdict arrives. A kill can tear only the last line: on open the file is cut back to its last
 * complete line. The key is a SHA-256 of (model, prompt, gold code, predicted code, mention, sentence): the same
 * prediction in the same context is never asked twice, across runs and across predictions files sharing the cache.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { canonicalCode } from "../eval/codes.js";
import { repairJsonl } from "../synth/jsonl-store.js";
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

  /** Read every record; a torn last line is cut (see repairJsonl). */
  private load(): number {
    return repairJsonl(this.path, (value) => {
      if (!isRecord(value)) return "invalid";
      this.records.set(value.key, value);
      return "commit";
    });
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
