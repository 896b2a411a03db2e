/**
 * Sharding a dataset over N independent runs (job arrays). A document belongs to shard
 *   uint64_be(sha256(utf8(document id))[0..8]) mod N
 * so its shard depends on its id alone: not on its position in the file, the other documents, the machine or the
 * run. Shards are numbered 0..N-1 like Kubernetes' JOB_COMPLETION_INDEX (Slurm: --array=0-(N-1)).
 */
import { createHash } from "node:crypto";
import { SyncabelError } from "../errors.js";
import type { Dataset } from "./types.js";

export interface Shard {
  /** 0-based, < count. */
  readonly index: number;
  readonly count: number;
}

/** Largest N: far more than any job array, small enough that `K/N` never looks like a typo'd number. */
export const MAX_SHARDS = 1_000_000;

/** `K/N` as written on the command line and in run records. */
export function shardText(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/** Parse `K/N` (0 <= K < N); `what` names the option or file for the message. */
export function parseShard(text: string, what = "the shard"): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m === null ? NaN : Number(m[1]);
  const count = m === null ? NaN : Number(m[2]);
  if (m === null || !Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || count > MAX_SHARDS || index >= count) {
    throw new SyncabelError(
      "DATA_INVALID_SHARD",
      `${what} must be K/N with shards numbered from 0 (0 <= K < N <= ${MAX_SHARDS}; e.g. 0/4 ... 3/4, Kubernetes' JOB_COMPLETION_INDEX or Slurm's --array=0-3), got ${JSON.stringify(text)}`,
    );
  }
  return { index, count };
}

/** The shard (0..count-1) of a document id. */
export function shardOfId(id: string, count: number): number {
  const digest = createHash("sha256").update(id, "utf8").digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(count));
}

/** The documents of `dataset` that fall in `shard`, in the dataset's order (problems are kept: they concern the input). */
export function selectShard(dataset: Dataset, shard: Shard): Dataset {
  return { ...dataset, documents: dataset.documents.filter((d) => shardOfId(d.id, shard.count) === shard.index) };
}
