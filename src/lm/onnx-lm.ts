import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";
import { SyncabelError } from "../errors.js";
import { describeIo, leftPadded, readConfig, type DecoderIo, type FloatType, type KvArray } from "./decoder-io.js";
import { LogNormalizer } from "./log-normalizer.js";
import { newSlotName } from "./logit-readout.js";
import { LogitResults, readoutChunk, readoutIo, type ReadoutChunk } from "./logit-results.js";
import { hasVnni, int8SaturationWarning } from "./cpu-features.js";
import { resolveModelFile, type ModelDtype } from "./model-file.js";
import { openDecoderSession } from "./onnx-session.js";
import type { CausalLM, DecodeState, LogitRequest, StepResult } from "./types.js";

export interface OnnxModelOptions {
  /** Intra-op threads (default: all cores). */
  readonly threads?: number;
  /** Execution providers in order of preference (default ["cpu"]). */
  readonly executionProviders?: readonly string[];
  /** Model file inside the folder (or absolute); default: see src/lm/model-file.ts. */
  readonly modelFile?: string;
  /** transformers.js dtype choosing `onnx/model{suffix}.onnx` (fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4, quantized). */
  readonly dtype?: ModelDtype;
  /**
   * Read the logits out inside the graph (default true): only logZ and the requested entries leave the runtime.
   * false hands over whole rows of logits, as a plain export does (kept for benchmarks and diagnosis).
   */
  readonly logitReadout?: boolean;
  /** Idle ONNX Runtime threads spin instead of sleeping (default false: see src/lm/onnx-session.ts). */
  readonly spinThreads?: boolean;
}

/** Most logits (floats) one prefill call may compute at once when the graph returns every position: 128 MB. */
const PREFILL_LOGITS_BUDGET = 32 * 1024 * 1024;

/** KV cache + mask of a batch of rows; owned by OnnxCausalLM. */
class OnnxDecodeState implements DecodeState {
  constructor(
    readonly rows: number,
    /** Cached length (padding included) of every row. */
    readonly pastLength: number,
    /** [rows, pastLength] int64 0/1 attention mask of the cached slots. */
    readonly mask: BigInt64Array,
    /** Tokens of every row so far = the position id of its next token. */
    readonly nextPosition: Int32Array,
    /**
     * present.{layer}.key / .value in layer order: [rows, kvHeads, pastLength, headDim] each, or, when `appended`
     * is set, the first pastLength - 1 slots (the past the model was fed) with the last slot in `appended`.
     */
    readonly kv: KvArray[],
    /** The backend call that made this state: only the latest state is live. */
    readonly generation: number,
    /** [rows, kvHeads, 1, headDim] per tensor: the slot of the token the last step ran. */
    readonly appended: KvArray[] | null = null,
  ) {}

  dispose(): void {
    this.kv.length = 0;
  }
}

/** One growable array per KV tensor; `take(n)` hands out views of length n (valid until the next take). */
class CachePool {
  private buffers: KvArray[];

  constructor(
    count: number,
    private readonly type: FloatType,
  ) {
    this.buffers = Array.from({ length: count }, () => allocate(type, 0));
  }

  take(size: number): KvArray[] {
    return this.buffers.map((b, i) => {
      if (b.length < size) this.buffers[i] = b = allocate(this.type, Math.ceil(size * 1.25));
      return b.subarray(0, size);
    });
  }
}

function allocate(type: FloatType, size: number): KvArray {
  return type === "float16" ? new Uint16Array(size) : new Float32Array(size);
}

/** One model call's token inputs: [rows, seq] ids, position ids and the [rows, total] mask. */
interface RunInput {
  readonly rows: number;
  readonly seq: number;
  readonly ids: BigInt64Array;
  readonly positions: BigInt64Array;
  readonly mask: BigInt64Array;
  readonly past: number;
  readonly pastKv: readonly KvArray[];
}

/**
 * A causal LM exported in the Hugging Face Optimum layout (inputs input_ids, attention_mask, position_ids,
 * past_key_values.{i}.key/value; outputs logits, present.{i}.key/value) and its variants (no position_ids, merged
 * decoders with use_cache_branch, num_logits_to_keep / logits_to_keep, GroupQueryAttention, float16 boundaries)
 * on onnxruntime-node. Ragged prompts are left-padded (position ids count only real tokens, as in transformers),
 * except for GroupQueryAttention graphs, which are fed right-padded rows.
 */
export class OnnxCausalLM implements CausalLM {
  private forwardTime = 0;
  private normalizeTime = 0;
  private generation = 0;
  /**
   * Where each step's past is assembled (beams gathered, last slot appended); two, used in turn, since a step reads
   * the past the previous step was fed.
   */
  private readonly pools: [CachePool, CachePool];
  private poolTurn = 0;

  private constructor(
    private readonly session: ort.InferenceSession,
    /** log-sum-exp outside the graph, for models without the read-out only. */
    private readonly normalizer: LogNormalizer | null,
    readonly vocabSize: number,
    private readonly io: DecoderIo,
    private readonly padId: number,
    /** The ONNX file this model runs. */
    readonly modelFile: string,
    /** What the caller should tell the user about this model on this machine (e.g. int8 kernels that saturate). */
    readonly warnings: readonly string[] = [],
    /** The cost of one more prefill call in prompt tokens (PREFILL_CALL_TOKENS of the provider). */
    private readonly prefillCallTokens: number,
  ) {
    this.pools = [new CachePool(io.pastNames.length, io.kvType), new CachePool(io.pastNames.length, io.kvType)];
  }

  static async load(dir: string, options: OnnxModelOptions = {}): Promise<OnnxCausalLM> {
    const { vocab, kvHeads, headDim, pad } = readConfig(dir);
    const modelFile = resolveModelFile(dir, {
      ...(options.modelFile === undefined ? {} : { modelFile: options.modelFile }),
      ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
    });
    const threads = options.threads ?? availableParallelism();
    const opened = await openDecoderSession(modelFile, {
      threads,
      ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
      ...(options.logitReadout === undefined ? {} : { readout: options.logitReadout }),
      ...(options.spinThreads === undefined ? {} : { spinThreads: options.spinThreads }),
      demotePresents: true,
    });
    let io: DecoderIo;
    try {
      io = describeIo(opened.session, modelFile, kvHeads, headDim, opened.scan.ops, opened.readout, opened.lastPosition, opened.newKv);
    } catch (e) {
      await opened.session.release();
      throw e;
    }
    const normalizer = io.readout ? null : await LogNormalizer.create(threads, io.logitsType);
    const cpu = (options.executionProviders ?? ["cpu"])[0] === "cpu";
    const warning = cpu ? int8SaturationWarning(opened.scan.ops, modelFile, hasVnni()) : null;
    return new OnnxCausalLM(opened.session, normalizer, vocab, io, pad, modelFile, warning === null ? [] : [warning], prefillCallTokens(options.executionProviders));
  }

  get forwardMs(): number {
    return this.forwardTime;
  }

  /** Milliseconds spent normalising logits outside the model (0 when the read-out computes logZ in the graph). */
  get normalizeMs(): number {
    return this.normalizeTime;
  }

  /** Whether a prefill computes the logits of the last prompt position only (never the others: nobody reads them). */
  get lastPositionLogits(): boolean {
    return this.io.lastOnly;
  }

  /** Whether each layer's present is freed after its attention (src/lm/present-sources.ts). */
  get presentsDemoted(): boolean {
    return this.io.newKvNames !== null;
  }

  /** Whether prompts are right-padded (GroupQueryAttention graphs). */
  get rightPadded(): boolean {
    return this.io.rightPadded;
  }

  async prefill(prompts: readonly (readonly number[])[], request?: LogitRequest): Promise<StepResult> {
    const generation = ++this.generation;
    const { state, results } = await this.prefillRows(prompts, request);
    // Another prefill started while this one ran: one decoding at a time per model (their caches share buffers).
    if (generation !== this.generation) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", "another decoding started on this model during prefill (one decoding at a time per model)");
    }
    return { state, logProbs: results.result() };
  }

  /**
   * Continuous batching: prefill `prompts` and add them as rows after the live `state`'s (which is consumed). The
   * result's logits are the new rows' only. The merged cache keeps each row's real slots and drops the padding no
   * row needs any more, so a batch that keeps taking prompts does not keep growing its cache.
   */
  async extend(state: DecodeState, prompts: readonly (readonly number[])[], request?: LogitRequest): Promise<StepResult> {
    this.checkLive(state);
    const { state: added, results } = await this.prefillRows(prompts, request);
    const merged = this.merge(state, added);
    state.dispose();
    added.dispose();
    return { state: merged, logProbs: results.result() };
  }

  private async prefillRows(prompts: readonly (readonly number[])[], request: LogitRequest | undefined): Promise<{ state: OnnxDecodeState; results: LogitResults }> {
    const rows = prompts.length;
    if (rows === 0) throw new SyncabelError("DECODE_INVALID_OPTIONS", "prefill needs at least one prompt");
    if (prompts.some((p) => p.length === 0)) throw new SyncabelError("DECODE_INVALID_OPTIONS", "a prompt has no tokens");
    checkRequest(request, rows);
    const results = new LogitResults(rows, this.vocabSize, request);
    const length = Math.max(...prompts.map((p) => p.length));
    const state = this.io.rightPadded ? await this.prefillByLength(prompts, length, request, results) : await this.prefillLeftPadded(prompts, length, request, results);
    return { state, results };
  }

  private checkLive(state: DecodeState): asserts state is OnnxDecodeState {
    if (!(state instanceof OnnxDecodeState) || state.kv.length === 0 || state.generation !== this.generation) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", "step() and extend() need the latest live state made by this model (one decoding at a time per model)");
    }
  }

  /**
   * Rows of `a` then rows of `b` in one cache as long as the longest row's tokens. Left padding keeps each row's
   * tokens at the end of its slots, right padding (GQA) at the start; the other slots are zero and masked.
   */
  private merge(a: OnnxDecodeState, b: OnnxDecodeState): OnnxDecodeState {
    const rows = a.rows + b.rows;
    const next = new Int32Array(rows);
    next.set(a.nextPosition);
    next.set(b.nextPosition, a.rows);
    const length = Math.max(...next);
    const { kvHeads, headDim: d } = this.io;
    // A reused buffer: each row's padding slots are zeroed below, its own slots copied over.
    const kv = this.nextPool().take(rows * kvHeads * length * d);
    const mask = new BigInt64Array(rows * length);
    const right = this.io.rightPadded;
    const copyRows = (from: OnnxDecodeState, first: number): void => {
      const fed = from.appended ? from.pastLength - 1 : from.pastLength;
      for (let r = 0; r < from.rows; r++) {
        const n = from.nextPosition[r];
        const at = right ? 0 : length - n;
        mask.fill(1n, (first + r) * length + at, (first + r) * length + at + n);
        // The row's n slots: the first n (right padding) or the last n (left padding, the newest maybe in `appended`).
        const inCache = from.appended ? n - 1 : n;
        const start = right ? 0 : fed - inCache;
        kv.forEach((dst, i) => {
          for (let h = 0; h < kvHeads; h++) {
            const src = (r * kvHeads + h) * fed * d;
            const rowStart = ((first + r) * kvHeads + h) * length * d;
            const out = rowStart + at * d;
            if (right) dst.fill(0, rowStart + n * d, rowStart + length * d);
            else dst.fill(0, rowStart, out);
            dst.set(from.kv[i].subarray(src + start * d, src + (start + inCache) * d), out);
            if (from.appended) dst.set(from.appended[i].subarray((r * kvHeads + h) * d, (r * kvHeads + h + 1) * d), out + inCache * d);
          }
        });
      }
    };
    copyRows(a, 0);
    copyRows(b, a.rows);
    this.generation++;
    return new OnnxDecodeState(rows, length, mask, next, kv, this.generation);
  }

  /** Rows per prefill call: bounded by the logits buffer when the graph computes every position's logits. */
  private prefillChunk(length: number): number {
    return this.io.lastOnly ? Number.MAX_SAFE_INTEGER : Math.max(1, Math.floor(PREFILL_LOGITS_BUDGET / (length * this.vocabSize)));
  }

  /**
   * Left-padded prefill. Prompts of very different lengths run in separate calls (each padded to its own longest),
   * and their caches are laid right-aligned into one cache of the longest length: a batch of one 150-token and
   * fifteen 60-token prompts then runs ~1,050 tokens through the model instead of 2,400. The slots left of a
   * shorter group stay zero and masked, as padding is.
   */
  private async prefillLeftPadded(prompts: readonly (readonly number[])[], length: number, request: LogitRequest | undefined, results: LogitResults): Promise<OnnxDecodeState> {
    const rows = prompts.length;
    const mask = new BigInt64Array(rows * length);
    const next = new Int32Array(rows);
    prompts.forEach((prompt, r) => {
      mask.fill(1n, r * length + length - prompt.length, (r + 1) * length);
      next[r] = prompt.length;
    });
    const groups = paddingGroups(prompts, this.prefillChunk.bind(this), this.prefillCallTokens);
    if (groups.length === 1 && groups[0].length === rows && groups[0].every((r, i) => r === i)) {
      const kv = await this.prefillGroup(prompts, groups[0], length, request, results);
      return new OnnxDecodeState(rows, length, mask, next, kv, this.generation);
    }
    const { kvHeads, headDim } = this.io;
    const kv = this.io.pastNames.map(() => allocate(this.io.kvType, rows * kvHeads * length * headDim));
    for (const group of groups) {
      const groupLength = Math.max(...group.map((r) => prompts[r].length));
      const out = await this.prefillGroup(prompts, group, groupLength, request, results);
      layRows(kv, length, out, groupLength, group, length - groupLength, kvHeads, headDim);
    }
    return new OnnxDecodeState(rows, length, mask, next, kv, this.generation);
  }

  /** One call over `group` (rows of `prompts`), left-padded to `length`; its KV tensors in group order. */
  private async prefillGroup(prompts: readonly (readonly number[])[], group: readonly number[], length: number, request: LogitRequest | undefined, results: LogitResults): Promise<KvArray[]> {
    const { ids, mask, positions } = leftPadded(prompts, group, length, this.padId);
    return this.run({ rows: group.length, seq: length, ids, positions, mask, past: 0, pastKv: this.emptyCache() }, request, group, results);
  }

  /**
   * GroupQueryAttention: prompts of one length run together, unpadded, and their caches are laid into a
   * right-padded cache of the longest length (ORT's GQA reads row r's first seqlens_k[r] + 1 slots).
   */
  private async prefillByLength(prompts: readonly (readonly number[])[], length: number, request: LogitRequest | undefined, results: LogitResults): Promise<OnnxDecodeState> {
    const rows = prompts.length;
    const { kvHeads, headDim } = this.io;
    const kv = this.io.pastNames.map(() => allocate(this.io.kvType, rows * kvHeads * length * headDim));
    const mask = new BigInt64Array(rows * length);
    const next = new Int32Array(rows);
    const byLength = new Map<number, number[]>();
    prompts.forEach((p, r) => {
      const group = byLength.get(p.length);
      if (group) group.push(r);
      else byLength.set(p.length, [r]);
    });
    for (const [len, group] of byLength) {
      const chunk = this.prefillChunk(len);
      for (let g0 = 0; g0 < group.length; g0 += chunk) {
        const batchRows = group.slice(g0, g0 + chunk);
        const n = batchRows.length;
        const ids = new BigInt64Array(n * len);
        const positions = new BigInt64Array(n * len);
        batchRows.forEach((r, i) => {
          for (let j = 0; j < len; j++) {
            ids[i * len + j] = BigInt(prompts[r][j]);
            positions[i * len + j] = BigInt(j);
          }
        });
        const out = await this.run({ rows: n, seq: len, ids, positions, mask: new BigInt64Array(n * len).fill(1n), past: 0, pastKv: this.emptyCache() }, request, batchRows, results);
        for (const r of batchRows) {
          mask.fill(1n, r * length, r * length + len);
          next[r] = len;
        }
        layRows(kv, length, out, len, batchRows, 0, kvHeads, headDim);
      }
    }
    return new OnnxDecodeState(rows, length, mask, next, kv, this.generation);
  }

  async step(state: DecodeState, parents: Int32Array, tokens: Int32Array, request?: LogitRequest): Promise<StepResult> {
    this.checkLive(state);
    const rows = parents.length;
    if (tokens.length !== rows) throw new SyncabelError("DECODE_INVALID_OPTIONS", "parents and tokens differ in length");
    checkRequest(request, rows);
    const past = state.pastLength;
    const total = past + 1;
    const mask = new BigInt64Array(rows * total);
    const ids = new BigInt64Array(rows);
    const positions = new BigInt64Array(rows);
    const next = new Int32Array(rows);
    let identity = rows <= state.rows;
    for (let r = 0; r < rows; r++) {
      const p = parents[r];
      if (p < 0 || p >= state.rows) throw new SyncabelError("DECODE_INVALID_OPTIONS", `parent row ${p} out of range`);
      if (p !== r) identity = false;
      mask.set(state.mask.subarray(p * past, (p + 1) * past), r * total);
      // Left padding appends at the end; right padding (GQA) writes right after the row's own tokens.
      mask[r * total + (this.io.rightPadded ? state.nextPosition[p] : past)] = 1n;
      ids[r] = BigInt(tokens[r]);
      positions[r] = BigInt(state.nextPosition[p]);
      next[r] = state.nextPosition[p] + 1;
    }
    const rowSize = this.io.kvHeads * past * this.io.headDim;
    // A prefill's cache kept in row order is fed as it came out of the runtime: no copy.
    const pastKv = state.appended ? this.gatherAppend(state, parents) : identity ? state.kv.map((t) => t.subarray(0, rows * rowSize)) : this.gatherRows(state, parents);
    state.dispose();
    this.generation++;
    const results = new LogitResults(rows, this.vocabSize, request);
    const allRows = Array.from({ length: rows }, (_, r) => r);
    // Without GQA the new token's slot is the last one: fetch that slot, not the whole cache again.
    const slots = this.io.readout && !this.io.rightPadded;
    const kv = await this.run({ rows, seq: 1, ids, positions, mask, past, pastKv }, request, allRows, results, slots);
    const nextState = slots ? new OnnxDecodeState(rows, total, mask, next, pastKv, this.generation, kv) : new OnnxDecodeState(rows, total, mask, next, kv, this.generation);
    return { state: nextState, logProbs: results.result() };
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await this.normalizer?.dispose();
  }

  private nextPool(): CachePool {
    this.poolTurn ^= 1;
    return this.pools[this.poolTurn];
  }

  /** Row r of the result is row parents[r] of the state (a reused buffer: the model only reads it). */
  private gatherRows(state: OnnxDecodeState, parents: Int32Array): KvArray[] {
    const rowSize = this.io.kvHeads * state.pastLength * this.io.headDim;
    const out = this.nextPool().take(parents.length * rowSize);
    state.kv.forEach((src, i) => {
      const dst = out[i];
      for (let r = 0; r < parents.length; r++) dst.set(src.subarray(parents[r] * rowSize, (parents[r] + 1) * rowSize), r * rowSize);
    });
    return out;
  }

  /** Gather rows by parent and append each (row, head)'s last slot: one copy of the cache per step. */
  private gatherAppend(state: OnnxDecodeState, parents: Int32Array): KvArray[] {
    const { kvHeads, headDim: d } = this.io;
    const total = state.pastLength;
    const fed = total - 1;
    const out = this.nextPool().take(parents.length * kvHeads * total * d);
    state.kv.forEach((src, i) => {
      const dst = out[i];
      const slot = state.appended![i];
      for (let r = 0; r < parents.length; r++) {
        for (let h = 0; h < kvHeads; h++) {
          const from = parents[r] * kvHeads + h;
          const at = (r * kvHeads + h) * total * d;
          dst.set(src.subarray(from * fed * d, (from + 1) * fed * d), at);
          dst.set(slot.subarray(from * d, (from + 1) * d), at + fed * d);
        }
      }
    });
    return out;
  }

  /** Past tensors of length 0: the first call of a KV-cache decoder. */
  private emptyCache(): KvArray[] {
    return this.io.pastNames.map(() => allocate(this.io.kvType, 0));
  }

  /**
   * One model call; stores the logits of `batchRows` in `results` and returns the present KV tensors, or with
   * `slots` only their last slot (the read-out's syncabel_new.* outputs).
   */
  private async run(input: RunInput, request: LogitRequest | undefined, batchRows: readonly number[], results: LogitResults, slots = false): Promise<KvArray[]> {
    const { rows, seq, past } = input;
    const total = past + seq;
    const io = this.io;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", input.ids, [rows, seq]),
      attention_mask: new ort.Tensor("int64", input.mask, [rows, total]),
    };
    if (io.positionIds) feeds.position_ids = new ort.Tensor("int64", input.positions, [rows, seq]);
    if (io.cacheBranch) feeds.use_cache_branch = new ort.Tensor("bool", new Uint8Array([past > 0 ? 1 : 0]), [1]);
    if (io.keep) feeds[io.keep.name] = new ort.Tensor("int64", new BigInt64Array([1n]), [...io.keep.dims]);
    const dims = [rows, io.kvHeads, past, io.headDim];
    io.pastNames.forEach((name, i) => {
      feeds[name] = new ort.Tensor(io.kvType, input.pastKv[i], dims);
    });
    // Demoted presents: the new positions are the whole cache at prefill (slots false, past 0) and the slot at a step.
    const kvNames = io.newKvNames ?? (slots ? io.presentNames.map(newSlotName) : io.presentNames);
    const fetches: Record<string, null> = {};
    for (const name of kvNames) fetches[name] = null;
    let pickWidth = 0;
    if (io.readout) {
      const readout = readoutIo(request, batchRows, results.wantsFull);
      Object.assign(feeds, readout.feeds);
      for (const name of readout.fetches) fetches[name] = null;
      pickWidth = readout.pickWidth;
    } else {
      fetches.logits = null;
    }
    const started = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds, fetches as ort.InferenceSession.FetchesType);
    } catch (e) {
      throw new SyncabelError("MODEL_RUNTIME", `onnxruntime run failed (batch ${rows} x ${seq}, past ${past}): ${(e as Error).message}`);
    }
    this.forwardTime += performance.now() - started;
    const kv = kvNames.map((name) => {
      const t = out[name];
      if (t === undefined) throw new SyncabelError("MODEL_RUNTIME", `the model did not return ${name}`);
      return t.data as KvArray;
    });
    results.add(batchRows, io.readout ? readoutChunk(out, pickWidth) : await this.normalizeFull(out.logits, rows));
    return kv;
  }

  /** Without the read-out: the last position of every row, normalised by a separate LogSoftmax session. */
  private async normalizeFull(logits: ort.Tensor | undefined, rows: number): Promise<ReadoutChunk> {
    if (logits === undefined || logits.dims.length !== 3 || logits.dims[2] !== this.vocabSize) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `logits have shape ${JSON.stringify(logits?.dims)}, config.json says vocab_size ${this.vocabSize}`);
    }
    const positions = logits.dims[1];
    const data = logits.data as Float32Array | Uint16Array;
    const last = data instanceof Float32Array ? new Float32Array(rows * this.vocabSize) : new Uint16Array(rows * this.vocabSize);
    for (let r = 0; r < rows; r++) last.set(data.subarray(((r + 1) * positions - 1) * this.vocabSize, (r + 1) * positions * this.vocabSize), r * this.vocabSize);
    const started = performance.now();
    const { logits: full, logZ } = await this.normalizer!.normalize(last, rows, this.vocabSize);
    this.normalizeTime += performance.now() - started;
    return { logZ, full };
  }
}


function checkRequest(request: LogitRequest | undefined, rows: number): void {
  if (request?.tokens && request.tokens.length !== rows) {
    throw new SyncabelError("DECODE_INVALID_OPTIONS", `the logit request lists tokens for ${request.tokens.length} rows, the batch has ${rows}`);
  }
  const k = request?.topK;
  if (k !== undefined && (!Number.isInteger(k) || k < 1)) throw new SyncabelError("DECODE_INVALID_OPTIONS", `topK must be a positive integer, got ${k}`);
}

/**
 * Copy the KV rows of one prefill call (`src`: [rows.length, heads, srcLength, d] per tensor) into rows `rows` of a
 * longer cache (`dst`: [*, heads, dstLength, d]), starting at slot `offset` (left padding: the end of the row).
 */
function layRows(dst: readonly KvArray[], dstLength: number, src: readonly KvArray[], srcLength: number, rows: readonly number[], offset: number, kvHeads: number, d: number): void {
  rows.forEach((r, i) => {
    dst.forEach((t, k) => {
      for (let h = 0; h < kvHeads; h++) {
        const from = (i * kvHeads + h) * srcLength * d;
        t.set((src[k] as KvArray).subarray(from, from + srcLength * d), ((r * kvHeads + h) * dstLength + offset) * d);
      }
    });
  });
}

/**
 * What one more prefill call costs, in prompt tokens: its fixed work (every node's dispatch, the cache outputs)
 * measured against the time per token. On 2 CPU threads a call costs ~18 ms and a token ~4.9 ms of the Llama-3.2-1B
 * int4 shape (prefill time is linear in tokens from 16 to 200, batched or not), so ~4 tokens: a padded slot is as
 * dear as a real one and grouping pays only for prompts of nearly one length. An accelerator runs padded slots
 * nearly free and calls dearly (not measurable here: no GPU), so it groups far more.
 */
export const PREFILL_CALL_TOKENS = { cpu: 4, accelerator: 256 } as const;

/** The cost of a prefill call on the first of `executionProviders` (default: the CPU). */
export function prefillCallTokens(executionProviders: readonly string[] = ["cpu"]): number {
  return executionProviders[0] === "cpu" ? PREFILL_CALL_TOKENS.cpu : PREFILL_CALL_TOKENS.accelerator;
}

/** Longest group the grouping considers (bounds its work on huge batches; larger groups gain nothing). */
const MAX_GROUP_ROWS = 256;

/**
 * Rows of `prompts` in prefill groups of least total cost, each group costing `callTokens` plus its padded tokens
 * (rows x its longest prompt) and holding at most `chunk(longest)` rows. Longest first, an optimal grouping takes
 * runs of that order, so dynamic programming over the sorted prompts finds it.
 */
export function paddingGroups(prompts: readonly (readonly number[])[], chunk: (length: number) => number, callTokens: number = PREFILL_CALL_TOKENS.cpu): number[][] {
  const order = prompts.map((_, r) => r).sort((a, b) => prompts[b].length - prompts[a].length || a - b);
  const n = order.length;
  // cost[i]: least cost of the first i prompts of `order`; from[i]: where the last group of that grouping starts.
  const cost = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  cost[0] = 0;
  for (let start = 0; start < n; start++) {
    const longest = prompts[order[start]].length;
    const limit = Math.min(n - start, MAX_GROUP_ROWS, Math.max(1, chunk(longest)));
    for (let size = 1; size <= limit; size++) {
      const c = cost[start] + callTokens + size * longest;
      if (c < cost[start + size]) {
        cost[start + size] = c;
        from[start + size] = start;
      }
    }
  }
  const groups: number[][] = [];
  for (let end = n; end > 0; end = from[end]) groups.unshift(order.slice(from[end], end));
  // One group holding every row keeps the callers' row order (its cache is then used as it comes out).
  return groups.length === 1 ? [groups[0].sort((a, b) => a - b)] : groups;
}

export function loadOnnxCausalLM(dir: string, options?: OnnxModelOptions): Promise<OnnxCausalLM> {
  return OnnxCausalLM.load(dir, options);
}
