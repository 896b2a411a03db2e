/**
 * Assembles a NextTokenLogProbs for a batch from the read-out outputs of one or several runs (prefill runs in
 * chunks and, for GroupQueryAttention models, per prompt length): each run covers some rows of the batch.
 */
import * as ort from "onnxruntime-node";
import { READOUT } from "./logit-readout.js";
import { SyncabelError } from "../errors.js";
import type { LogitRequest, NextTokenLogProbs } from "./types.js";

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Feeds for the read-out of `rows` (row indices into the batch): the pick ids padded to the longest list. */
export function pickIds(request: LogitRequest | undefined, rows: readonly number[]): { data: BigInt64Array; width: number } {
  const lists = request?.tokens;
  if (!lists) return { data: new BigInt64Array(0), width: 0 };
  let width = 0;
  for (const r of rows) width = Math.max(width, lists[r].length);
  const data = new BigInt64Array(rows.length * width);
  // Token ids are small non-negative integers: on little-endian machines write the low 32 bits of each int64
  // (thousands of ids per step otherwise each allocate a BigInt).
  const low = new Int32Array(data.buffer);
  rows.forEach((r, i) => {
    const list = lists[r];
    for (let j = 0; j < list.length; j++) {
      if (LITTLE_ENDIAN) low[2 * (i * width + j)] = list[j];
      else data[i * width + j] = BigInt(list[j]);
    }
  });
  return { data, width };
}

/**
 * The read-out's feeds and fetches for one call over `batchRows` (rows of the batch `request` is for): the pick ids,
 * k and the whole-row switch (ORT runs every node whatever is fetched: k = 0 and rows = 0 make TopK and the whole-row
 * copy free when unused).
 */
export function readoutIo(request: LogitRequest | undefined, batchRows: readonly number[], wantsFull: boolean): { feeds: Record<string, ort.Tensor>; fetches: string[]; pickWidth: number } {
  const pick = pickIds(request, batchRows);
  const feeds: Record<string, ort.Tensor> = {
    [READOUT.pick]: new ort.Tensor("int64", pick.data, [batchRows.length, pick.width]),
    [READOUT.topK]: new ort.Tensor("int64", new BigInt64Array([BigInt(request?.topK ?? 0)]), [1]),
    [READOUT.rows]: new ort.Tensor("int64", new BigInt64Array([wantsFull || request?.topK !== undefined ? 1n : 0n]), [1]),
  };
  const fetches: string[] = [READOUT.logZ];
  if (wantsFull) fetches.push(READOUT.lastLogits);
  if (request?.tokens) fetches.push(READOUT.picked);
  if (request?.topK !== undefined) fetches.push(READOUT.topLogits, READOUT.topIds);
  return { feeds, fetches, pickWidth: pick.width };
}

/** The read-out outputs of one call as a chunk for LogitResults.add. */
export function readoutChunk(out: ort.InferenceSession.ReturnType, pickWidth: number): ReadoutChunk {
  const data = (name: string) => out[name]?.data;
  return {
    logZ: data(READOUT.logZ) as Float32Array,
    ...(out[READOUT.picked] ? { picked: data(READOUT.picked) as Float32Array, pickWidth } : {}),
    ...(out[READOUT.topIds] ? { topIds: data(READOUT.topIds) as BigInt64Array, topLogits: data(READOUT.topLogits) as Float32Array } : {}),
    ...(out[READOUT.lastLogits] ? { full: data(READOUT.lastLogits) as Float32Array } : {}),
  };
}

export interface ReadoutChunk {
  readonly logZ: Float32Array;
  /** [n, width] logits of the pick ids (width as fed). */
  readonly picked?: Float32Array;
  readonly pickWidth?: number;
  readonly topLogits?: Float32Array;
  readonly topIds?: BigInt64Array;
  /** [n, vocab] full last-position logits. */
  readonly full?: Float32Array;
}

export class LogitResults {
  private readonly logZ: Float32Array;
  private readonly full: Float32Array;
  private readonly offsets: Int32Array | undefined;
  private readonly picked: Float32Array | undefined;
  private readonly topIds: Int32Array | undefined;
  private readonly topLogits: Float32Array | undefined;

  constructor(
    private readonly rows: number,
    private readonly vocab: number,
    private readonly request: LogitRequest | undefined,
  ) {
    this.logZ = new Float32Array(rows);
    const lists = request?.tokens;
    if (lists) {
      this.offsets = new Int32Array(rows + 1);
      for (let r = 0; r < rows; r++) this.offsets[r + 1] = this.offsets[r] + lists[r].length;
      this.picked = new Float32Array(this.offsets[rows]);
    }
    const k = request?.topK;
    if (k !== undefined) {
      this.topIds = new Int32Array(rows * k);
      this.topLogits = new Float32Array(rows * k);
    }
    this.full = new Float32Array(request ? 0 : rows * vocab);
  }

  /** Whether the runs must return the full rows (no request). */
  get wantsFull(): boolean {
    return this.request === undefined;
  }

  /** Store the outputs of one run that covered batch rows `rows` (in that order). */
  add(rows: readonly number[], chunk: ReadoutChunk): void {
    const k = this.request?.topK;
    if (chunk.full && this.request) chunk = { ...chunk, ...selectFromFull(chunk.full, rows.length, this.vocab, this.request, rows) };
    rows.forEach((r, i) => {
      this.logZ[r] = chunk.logZ[i];
      if (this.offsets && this.picked && chunk.picked) {
        const n = this.offsets[r + 1] - this.offsets[r];
        const w = chunk.pickWidth ?? 0;
        this.picked.set(chunk.picked.subarray(i * w, i * w + n), this.offsets[r]);
      }
      if (k !== undefined && this.topIds && this.topLogits && chunk.topIds && chunk.topLogits) {
        for (let j = 0; j < k; j++) this.topIds[r * k + j] = Number(chunk.topIds[i * k + j]);
        this.topLogits.set(chunk.topLogits.subarray(i * k, (i + 1) * k), r * k);
      }
      if (chunk.full && this.full.length > 0) this.full.set(chunk.full.subarray(i * this.vocab, (i + 1) * this.vocab), r * this.vocab);
    });
  }

  /**
   * The assembled distribution. A row whose logits hold NaN or infinity (broken weights, a config such as a tiny
   * rope_theta) has a non-finite log-sum-exp: it fails with MODEL_RUNTIME instead of decoding to no beam at all.
   */
  result(): NextTokenLogProbs {
    let broken = 0;
    for (let r = 0; r < this.rows; r++) if (!Number.isFinite(this.logZ[r])) broken++;
    if (broken > 0) {
      throw new SyncabelError("MODEL_RUNTIME", `the model returned non-finite logits (NaN or infinity) for ${broken} of ${this.rows} rows: its weights or its config.json (e.g. rope_theta) are broken`, { rows: broken });
    }
    const k = this.request?.topK;
    return {
      rows: this.rows,
      vocabSize: this.vocab,
      logits: this.full,
      logZ: this.logZ,
      ...(this.offsets && this.picked ? { picked: { offsets: this.offsets, logits: this.picked } } : {}),
      ...(k !== undefined && this.topIds && this.topLogits ? { top: { k, ids: this.topIds, logits: this.topLogits } } : {}),
    };
  }
}

/** The picked / top entries of full logit rows (backends without the in-graph read-out). */
function selectFromFull(full: Float32Array, n: number, vocab: number, request: LogitRequest, rows: readonly number[]): Partial<ReadoutChunk> {
  const out: { picked?: Float32Array; pickWidth?: number; topLogits?: Float32Array; topIds?: BigInt64Array } = {};
  const lists = request.tokens;
  if (lists) {
    const width = Math.max(0, ...rows.map((r) => lists[r].length));
    const picked = new Float32Array(n * width);
    rows.forEach((r, i) => {
      for (let j = 0; j < lists[r].length; j++) picked[i * width + j] = full[i * vocab + lists[r][j]];
    });
    Object.assign(out, { picked, pickWidth: width });
  }
  const k = request.topK;
  if (k !== undefined) {
    const topLogits = new Float32Array(n * k);
    const topIds = new BigInt64Array(n * k);
    for (let i = 0; i < n; i++) {
      const row = full.subarray(i * vocab, (i + 1) * vocab);
      const order = Array.from({ length: vocab }, (_, t) => t).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
      order.forEach((t, j) => ((topLogits[i * k + j] = row[t]), (topIds[i * k + j] = BigInt(t))));
    }
    Object.assign(out, { topLogits, topIds });
  }
  return out;
}
