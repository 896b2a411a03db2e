/**
 * An encoder-decoder model (mBART / BART) in the Optimum / transformers.js seq2seq layout on onnxruntime-node,
 * behind the CausalLM interface the beam search and the candidate scorer use: `prefill(decoderPrompts, request,
 * sources)` runs the encoder once per sentence and the decoder over each prompt, `step` runs one token per row.
 *
 * Caches:
 *  - cross-attention keys and values are computed once per sentence, by the prefill (the decoder's no-past call), and
 *    kept per sentence. They are never recomputed and never copied when beams are reordered: rows map to their
 *    sentence by index. Graphs marked `syncabel.cross_attention = grouped` (the converter's) take them per sentence,
 *    rows laid out [sentence, beam] (a sentence with fewer live beams gets copies of its first row, whose outputs are
 *    dropped); other graphs (Optimum's) take one tensor row per decoder row, built from the sentence tensors only when
 *    the rows' sentences change (a sentence finishing), not at every step;
 *  - the self-attention cache is gathered by parent row every step (the decoder's prompt and names are short).
 *
 * Rows of different decoder-prompt lengths run in one batch when the decoder has an `attention_mask` input (left
 * padding, positions counted from the mask); Optimum's decoders have none (positions run from the cache length),
 * so there each prompt length is a segment of its own, run by its own call. Either way each row computes exactly
 * what it would alone. Logits leave the runtime through the in-graph read-out (only logZ and the requested tokens).
 */
import { availableParallelism } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { SyncabelError } from "../errors.js";
import { CROSS_ATTENTION_METADATA, GROUPED_CROSS_ATTENTION, SEQ2SEQ_IO } from "../convert/onnx-seq2seq-graph.js";
import { hasVnni, int8SaturationWarning } from "./cpu-features.js";
import { leftPadded, type FloatType, type KvArray } from "./decoder-io.js";
import { newSlotName } from "./logit-readout.js";
import { LogitResults, readoutChunk, readoutIo, type ReadoutChunk } from "./logit-results.js";
import type { OnnxModelOptions } from "./onnx-lm.js";
import { openDecoderSession, type OpenedSession } from "./onnx-session.js";
import { resolveSeq2SeqFiles, type Seq2SeqFiles } from "./seq2seq-files.js";
import type { CausalLM, DecodeState, LogitRequest, StepResult } from "./types.js";

/** What the runtime reads from config.json. */
interface Seq2SeqShape {
  readonly vocab: number;
  readonly dModel: number;
  readonly heads: number;
  readonly headDim: number;
  readonly pad: number;
  /** max_position_embeddings: the longest source and decoder sequence the learned positions cover. */
  readonly maxPositions: number;
}

function readShape(dir: string): Seq2SeqShape {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new SyncabelError("MODEL_FILE_MISSING", `missing config.json in model folder ${dir}`, { path });
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `cannot parse ${path}: ${(e as Error).message}`, { path });
  }
  const int = (key: string): number => {
    const v = c[key];
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: ${key} must be a positive integer, got ${JSON.stringify(v)}`, { path });
    return v as number;
  };
  const dModel = int("d_model");
  const heads = int("decoder_attention_heads");
  if (dModel % heads !== 0) throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: d_model ${dModel} is not a multiple of decoder_attention_heads ${heads}`, { path });
  const maxPositions = Number.isSafeInteger(c.max_position_embeddings) ? (c.max_position_embeddings as number) : 1024;
  return { vocab: int("vocab_size"), dModel, heads, headDim: dModel / heads, pad: typeof c.pad_token_id === "number" ? c.pad_token_id : 1, maxPositions };
}

/** How the decoder graph is fed, read once at load. */
interface DecoderIo {
  readonly layers: number;
  readonly kvType: FloatType;
  /** A decoder `attention_mask` input: rows of different lengths share a call, left-padded. */
  readonly decoderMask: boolean;
  /** Encoder tensors per sentence, rows [sentence, beam] (metadata of the converter's graphs). */
  readonly grouped: boolean;
}

/** Cross-attention keys/values and the encoder mask of a group of sentences. */
interface CrossStore {
  readonly sentences: number;
  readonly length: number;
  /** present.{i}.encoder.key / .value in layer order: [sentences, heads, length, headDim] each. */
  readonly kv: readonly KvArray[];
  /** [sentences, length] 0/1. */
  readonly mask: BigInt64Array;
  /** Per-row copies for graphs without grouped cross-attention, reused while the rows' sentences stay the same. */
  perRow?: { readonly key: string; readonly kv: KvArray[]; readonly mask: BigInt64Array };
}

/** Rows that run in one decoder call; their self-attention caches share a length. */
interface Segment {
  /** State rows of this segment, in order (segment row i is state row rows[i]). */
  readonly rows: readonly number[];
  /** Cached length (padding included). */
  readonly past: number;
  /** Row of `kv` (and of `mask`) holding each segment row's cache. */
  readonly cacheRow: Int32Array;
  readonly cacheRows: number;
  /** [cacheRows, past] 0/1 mask (decoders with an attention_mask input; else all ones). */
  readonly mask: BigInt64Array;
  /** Tokens of each segment row so far. */
  readonly next: Int32Array;
  /** Sentence (index into `cross`) of each segment row. */
  readonly sentence: Int32Array;
  /** present.{i}.decoder.key / .value: [cacheRows, heads, fed, headDim], fed = past, or past - 1 with `appended`. */
  readonly kv: readonly KvArray[];
  /** [cacheRows, heads, 1, headDim]: the slot of the token the last step ran (read-out outputs). */
  readonly appended: readonly KvArray[] | null;
  readonly cross: CrossStore;
}

class Seq2SeqDecodeState implements DecodeState {
  constructor(
    readonly rows: number,
    readonly segments: Segment[],
    /** Segment and segment row of every state row. */
    readonly where: { readonly segment: Int32Array; readonly index: Int32Array },
    readonly generation: number,
  ) {}

  dispose(): void {
    this.segments.length = 0;
  }
}

function allocate(type: FloatType, size: number): KvArray {
  return type === "float16" ? new Uint16Array(size) : new Float32Array(size);
}

/** Growable buffers per (turn, segment slot): a step reads the previous turn's and writes its own. */
class BufferPool {
  private readonly turns: [Map<string, KvArray>, Map<string, KvArray>] = [new Map(), new Map()];
  private turn = 0;

  constructor(private readonly type: FloatType) {}

  flip(): void {
    this.turn ^= 1;
  }

  take(key: string, size: number): KvArray {
    const pool = this.turns[this.turn];
    let b = pool.get(key);
    if (b === undefined || b.length < size) pool.set(key, (b = allocate(this.type, Math.ceil(size * 1.25))));
    return b.subarray(0, size);
  }
}

/** The rows `keep` (indices into the chunk) of a read-out chunk. */
function chunkRows(chunk: ReadoutChunk, keep: readonly number[], vocab: number, topK: number): ReadoutChunk {
  const rows = <T extends Float32Array | BigInt64Array>(a: T | undefined, width: number): T | undefined => {
    if (a === undefined) return undefined;
    const out = new (a.constructor as new (n: number) => T)(keep.length * width);
    keep.forEach((r, i) => out.set(a.subarray(r * width, (r + 1) * width) as never, i * width));
    return out;
  };
  const w = chunk.pickWidth ?? 0;
  return {
    logZ: rows(chunk.logZ, 1)!,
    ...(chunk.picked ? { picked: rows(chunk.picked, w)!, pickWidth: w } : {}),
    ...(chunk.topIds ? { topIds: rows(chunk.topIds, topK)!, topLogits: rows(chunk.topLogits, topK)! } : {}),
    ...(chunk.full ? { full: rows(chunk.full, vocab)! } : {}),
  };
}

function checkRequest(request: LogitRequest | undefined, rows: number): void {
  if (request?.tokens && request.tokens.length !== rows) {
    throw new SyncabelError("DECODE_INVALID_OPTIONS", `the logit request lists tokens for ${request.tokens.length} rows, the batch has ${rows}`);
  }
  const k = request?.topK;
  if (k !== undefined && (!Number.isInteger(k) || k < 1)) throw new SyncabelError("DECODE_INVALID_OPTIONS", `topK must be a positive integer, got ${k}`);
}

export class OnnxSeq2SeqLM implements CausalLM {
  readonly encoderDecoder = true;
  private forwardTime = 0;
  private encoderTime = 0;
  private encoded = 0;
  private crossCopies = 0;
  private generation = 0;
  private readonly pool: BufferPool;

  private constructor(
    private readonly shape: Seq2SeqShape,
    private readonly encoder: ort.InferenceSession,
    /** The decoder's first call (merged decoder, or decoder_model). */
    private readonly first: OpenedSession,
    /** Steps (merged decoder again, or decoder_with_past_model). */
    private readonly steps: OpenedSession,
    private readonly io: DecoderIo,
    readonly files: Seq2SeqFiles,
    readonly warnings: readonly string[],
  ) {
    this.pool = new BufferPool(io.kvType);
  }

  static async load(dir: string, options: OnnxModelOptions = {}): Promise<OnnxSeq2SeqLM> {
    const shape = readShape(dir);
    const files = resolveSeq2SeqFiles(dir, {
      ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
      ...(options.modelFile === undefined ? {} : { modelFile: options.modelFile }),
    });
    if (options.logitReadout === false) throw new SyncabelError("MODEL_CONFIG_INVALID", "encoder-decoder models always read logits through the in-graph read-out");
    const choice = {
      threads: options.threads ?? availableParallelism(),
      ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
      ...(options.spinThreads === undefined ? {} : { spinThreads: options.spinThreads }),
    };
    const opened: ort.InferenceSession[] = [];
    try {
      const encoder = await openDecoderSession(files.encoder, { ...choice, readout: false });
      opened.push(encoder.session);
      const first = await openDecoderSession(files.decoder, choice);
      opened.push(first.session);
      const steps = files.decoderWithPast === null ? first : await openDecoderSession(files.decoderWithPast, choice);
      if (steps !== first) opened.push(steps.session);
      const io = describeDecoder(first, steps, files, shape);
      const cpu = (options.executionProviders ?? ["cpu"])[0] === "cpu";
      const warnings = cpu ? [encoder, first, steps].map((s, i) => int8SaturationWarning(s.scan.ops, [files.encoder, files.decoder, files.decoderWithPast][i] ?? "", hasVnni())).filter((w): w is string => w !== null) : [];
      return new OnnxSeq2SeqLM(shape, encoder.session, first, steps, io, files, [...new Set(warnings)]);
    } catch (e) {
      for (const s of opened) await s.release();
      throw e;
    }
  }

  get vocabSize(): number {
    return this.shape.vocab;
  }

  get forwardMs(): number {
    return this.forwardTime;
  }

  /**
   * Milliseconds in the encoder, sentences encoded, and copies made of cross-attention tensors (a sentence leaving a
   * grouped batch, or the rows' sentences changing for per-row graphs; never a beam reordering).
   */
  get encoderStats(): { readonly ms: number; readonly sentences: number; readonly crossCopies: number } {
    return { ms: this.encoderTime, sentences: this.encoded, crossCopies: this.crossCopies };
  }

  /** Whether the decoder takes cross-attention tensors per sentence (the converter's graphs). */
  get groupedCrossAttention(): boolean {
    return this.io.grouped;
  }

  async prefill(prompts: readonly (readonly number[])[], request?: LogitRequest, encoderInputs?: readonly (readonly number[])[]): Promise<StepResult> {
    const generation = ++this.generation;
    const { segments, results } = await this.prefillSegments(prompts, request, encoderInputs, 0);
    if (generation !== this.generation) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", "another decoding started on this model during prefill (one decoding at a time per model)");
    }
    return { state: this.stateOf(prompts.length, segments), logProbs: results.result() };
  }

  /**
   * Continuous batching: prefill `prompts` (with their sources) and add them as rows after the live `state`'s (which
   * is consumed). Their rows form segments of their own (their sentences' cross-attention tensors stay separate).
   */
  async extend(state: DecodeState, prompts: readonly (readonly number[])[], request?: LogitRequest, encoderInputs?: readonly (readonly number[])[]): Promise<StepResult> {
    this.checkLive(state);
    const { segments, results } = await this.prefillSegments(prompts, request, encoderInputs, state.rows);
    const merged = [...state.segments, ...segments];
    state.dispose();
    this.generation++;
    return { state: this.stateOf(state.rows + prompts.length, merged), logProbs: results.result() };
  }

  /** Encoder and first decoder call of `prompts`; segment rows are numbered from `firstRow`. */
  private async prefillSegments(prompts: readonly (readonly number[])[], request: LogitRequest | undefined, encoderInputs: readonly (readonly number[])[] | undefined, firstRow: number): Promise<{ segments: Segment[]; results: LogitResults }> {
    const rows = prompts.length;
    if (rows === 0) throw new SyncabelError("DECODE_INVALID_OPTIONS", "prefill needs at least one prompt");
    if (prompts.some((p) => p.length === 0)) throw new SyncabelError("DECODE_INVALID_OPTIONS", "a decoder prompt has no tokens");
    if (encoderInputs === undefined || encoderInputs.length !== rows) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", `an encoder-decoder model needs one source (encoder input) per prompt: ${encoderInputs?.length ?? 0} for ${rows} prompts`);
    }
    if (encoderInputs.some((s) => s.length === 0)) throw new SyncabelError("DECODE_INVALID_OPTIONS", "a source (encoder input) has no tokens");
    const longest = Math.max(...encoderInputs.map((s) => s.length), ...prompts.map((p) => p.length));
    if (longest > this.shape.maxPositions) throw this.tooLong(longest);
    checkRequest(request, rows);
    const results = new LogitResults(rows, this.shape.vocab, request);
    const { hidden, mask, length } = await this.encode(encoderInputs);
    const groups = this.io.decoderMask ? [prompts.map((_, r) => r)] : byLength(prompts);
    const segments: Segment[] = [];
    for (const group of groups) {
      const seg = await this.prefillSegment(prompts, group, hidden, mask, length, request, results);
      segments.push(firstRow === 0 ? seg : { ...seg, rows: seg.rows.map((r) => r + firstRow) });
    }
    return { segments, results };
  }

  private tooLong(length: number): SyncabelError {
    return new SyncabelError("DECODE_INVALID_OPTIONS", `a sequence of ${length} tokens exceeds the model's max_position_embeddings (${this.shape.maxPositions}): shorten the sentence or lower max_new_tokens`, { tokens: length });
  }

  private checkLive(state: DecodeState): asserts state is Seq2SeqDecodeState {
    if (!(state instanceof Seq2SeqDecodeState) || state.segments.length === 0 || state.generation !== this.generation) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", "step() and extend() need the latest live state made by this model (one decoding at a time per model)");
    }
  }

  async step(state: DecodeState, parents: Int32Array, tokens: Int32Array, request?: LogitRequest): Promise<StepResult> {
    this.checkLive(state);
    const rows = parents.length;
    if (tokens.length !== rows) throw new SyncabelError("DECODE_INVALID_OPTIONS", "parents and tokens differ in length");
    checkRequest(request, rows);
    let longest = 0; // real tokens (padding takes no position)
    for (const seg of state.segments) for (const n of seg.next) longest = Math.max(longest, n + 1);
    if (longest > this.shape.maxPositions) throw this.tooLong(longest);
    // Children grouped by their parent's segment (a row never changes segment).
    const children = new Map<number, { row: number; index: number }[]>();
    for (let r = 0; r < rows; r++) {
      const p = parents[r];
      if (!Number.isInteger(p) || p < 0 || p >= state.rows) throw new SyncabelError("DECODE_INVALID_OPTIONS", `parent row ${p} out of range`);
      const s = state.where.segment[p];
      let list = children.get(s);
      if (list === undefined) children.set(s, (list = []));
      list.push({ row: r, index: state.where.index[p] });
    }
    const segments = state.segments.slice();
    state.dispose();
    this.generation++;
    this.pool.flip();
    const results = new LogitResults(rows, this.shape.vocab, request);
    const next: Segment[] = [];
    let slot = 0;
    for (const [s, list] of children) next.push(await this.stepSegment(segments[s], list, tokens, request, results, slot++));
    return { state: this.stateOf(rows, next), logProbs: results.result() };
  }

  async dispose(): Promise<void> {
    await this.encoder.release();
    await this.first.session.release();
    if (this.steps !== this.first) await this.steps.session.release();
  }

  private stateOf(rows: number, segments: Segment[]): Seq2SeqDecodeState {
    const segment = new Int32Array(rows);
    const index = new Int32Array(rows);
    segments.forEach((seg, s) => seg.rows.forEach((r, i) => ((segment[r] = s), (index[r] = i))));
    return new Seq2SeqDecodeState(rows, segments, { segment, index }, this.generation);
  }

  /** Run the encoder over right-padded sources (positions start at 0 in every row; padding is masked). */
  private async encode(sources: readonly (readonly number[])[]): Promise<{ hidden: KvArray; mask: BigInt64Array; length: number }> {
    const n = sources.length;
    const length = Math.max(...sources.map((s) => s.length));
    const ids = new BigInt64Array(n * length).fill(BigInt(this.shape.pad));
    const mask = new BigInt64Array(n * length);
    sources.forEach((s, r) => {
      for (let j = 0; j < s.length; j++) {
        ids[r * length + j] = BigInt(s[j]);
        mask[r * length + j] = 1n;
      }
    });
    const started = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.encoder.run({ input_ids: new ort.Tensor("int64", ids, [n, length]), attention_mask: new ort.Tensor("int64", mask, [n, length]) });
    } catch (e) {
      throw new SyncabelError("MODEL_RUNTIME", `onnxruntime encoder run failed (batch ${n} x ${length}): ${(e as Error).message}`);
    }
    const elapsed = performance.now() - started;
    this.encoderTime += elapsed;
    this.forwardTime += elapsed;
    this.encoded += n;
    const hidden = out[SEQ2SEQ_IO.lastHiddenState];
    if (hidden === undefined || hidden.dims[2] !== this.shape.dModel) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `${this.files.encoder}: last_hidden_state has shape ${JSON.stringify(hidden?.dims)}, config.json says d_model ${this.shape.dModel}`);
    }
    return { hidden: hidden.data as KvArray, mask, length };
  }

  /** The first decoder call over the prompts `group` (rows of the batch), left-padded to their longest. */
  private async prefillSegment(
    prompts: readonly (readonly number[])[],
    group: readonly number[],
    hidden: KvArray,
    encMask: BigInt64Array,
    encLength: number,
    request: LogitRequest | undefined,
    results: LogitResults,
  ): Promise<Segment> {
    const n = group.length;
    const length = Math.max(...group.map((r) => prompts[r].length));
    const { ids, mask } = leftPadded(prompts, group, length, this.shape.pad);
    const next = Int32Array.from(group, (r) => prompts[r].length);
    const { dModel, heads, headDim } = this.shape;
    const whole = n * encLength === encMask.length; // every sentence, in order: the encoder's tensors as they are
    const sentHidden = whole ? hidden : allocate(this.io.kvType, n * encLength * dModel);
    const sentMask = whole ? encMask : new BigInt64Array(n * encLength);
    if (!whole) {
      group.forEach((r, i) => {
        sentHidden.set(hidden.subarray(r * encLength * dModel, (r + 1) * encLength * dModel) as never, i * encLength * dModel);
        sentMask.set(encMask.subarray(r * encLength, (r + 1) * encLength), i * encLength);
      });
    }
    const feeds: Record<string, ort.Tensor> = {
      [SEQ2SEQ_IO.inputIds]: new ort.Tensor("int64", ids, [n, length]),
      [SEQ2SEQ_IO.encoderAttentionMask]: new ort.Tensor("int64", sentMask, [n, encLength]),
      [SEQ2SEQ_IO.encoderHiddenStates]: new ort.Tensor(this.io.kvType, sentHidden, [n, encLength, dModel]),
    };
    if (this.io.decoderMask) feeds[SEQ2SEQ_IO.attentionMask] = new ort.Tensor("int64", mask, [n, length]);
    const session = this.first.session;
    if (session.inputNames.includes(SEQ2SEQ_IO.useCacheBranch)) {
      feeds[SEQ2SEQ_IO.useCacheBranch] = new ort.Tensor("bool", new Uint8Array([0]), [1]);
      const empty = allocate(this.io.kvType, 0);
      for (let l = 0; l < this.io.layers; l++) {
        for (const side of ["decoder", "encoder"] as const) {
          for (const kind of ["key", "value"] as const) feeds[SEQ2SEQ_IO.past(l, side, kind)] = new ort.Tensor(this.io.kvType, empty, [n, heads, 0, headDim]);
        }
      }
    }
    const names = (side: "decoder" | "encoder") => Array.from({ length: this.io.layers }, (_, l) => [SEQ2SEQ_IO.present(l, side, "key"), SEQ2SEQ_IO.present(l, side, "value")]).flat();
    const out = await this.run(session, feeds, [...names("decoder"), ...names("encoder")], request, group, group, results, "prefill");
    const presents = (side: "decoder" | "encoder") => names(side).map((name) => out[name].data as KvArray);
    return {
      rows: group,
      past: length,
      cacheRow: Int32Array.from({ length: n }, (_, i) => i),
      cacheRows: n,
      mask,
      next,
      sentence: Int32Array.from({ length: n }, (_, i) => i),
      kv: presents("decoder"),
      appended: null,
      cross: { sentences: n, length: encLength, kv: presents("encoder"), mask: sentMask },
    };
  }

  /**
   * One decoder step for the `children` (state row, parent's segment row) of one segment. With grouped
   * cross-attention the rows are laid out [sentence, beam], each sentence padded to the most beams any has.
   */
  private async stepSegment(seg: Segment, children: readonly { row: number; index: number }[], tokens: Int32Array, request: LogitRequest | undefined, results: LogitResults, slotKey: number): Promise<Segment> {
    const { heads, headDim: d, dModel } = this.shape;
    const layout = this.io.grouped ? groupedLayout(seg, children) : { slots: children.map((_, i) => i), cross: seg.cross, sentenceOf: children.map((c) => seg.sentence[c.index]), real: children.map((_, i) => i) };
    const slots = layout.slots.length;
    const parentOf = (slot: number): number => children[layout.slots[slot]].index;
    const past = seg.past;
    const total = past + 1;
    const ids = new BigInt64Array(slots);
    const mask = new BigInt64Array(slots * total);
    for (let s = 0; s < slots; s++) {
      const child = children[layout.slots[s]];
      ids[s] = BigInt(tokens[child.row]);
      const cache = seg.cacheRow[child.index];
      mask.set(seg.mask.subarray(cache * past, (cache + 1) * past), s * total);
      mask[s * total + past] = 1n;
    }
    const pastKv = this.gatherSelf(seg, layout.slots.map((_, s) => seg.cacheRow[parentOf(s)]), slotKey);
    if (layout.cross !== seg.cross) this.crossCopies++;
    const before = seg.cross.perRow;
    const cross = this.io.grouped ? { kv: layout.cross.kv, mask: layout.cross.mask, rows: layout.cross.sentences } : perRowCross(seg.cross, layout.sentenceOf, heads, d, this.io.kvType);
    if (!this.io.grouped && seg.cross.perRow !== before) this.crossCopies++;
    const feeds: Record<string, ort.Tensor> = {
      [SEQ2SEQ_IO.inputIds]: new ort.Tensor("int64", ids, [slots, 1]),
      [SEQ2SEQ_IO.encoderAttentionMask]: new ort.Tensor("int64", cross.mask, [cross.rows, seg.cross.length]),
    };
    if (this.io.decoderMask) feeds[SEQ2SEQ_IO.attentionMask] = new ort.Tensor("int64", mask, [slots, total]);
    const session = this.steps.session;
    if (session.inputNames.includes(SEQ2SEQ_IO.useCacheBranch)) feeds[SEQ2SEQ_IO.useCacheBranch] = new ort.Tensor("bool", new Uint8Array([1]), [1]);
    // Unused by the with-past branch, but an input of the merged graph: an empty tensor.
    if (session.inputNames.includes(SEQ2SEQ_IO.encoderHiddenStates)) feeds[SEQ2SEQ_IO.encoderHiddenStates] = new ort.Tensor(this.io.kvType, allocate(this.io.kvType, 0), [cross.rows, 0, dModel]);
    for (let l = 0; l < this.io.layers; l++) {
      for (const [k, kind] of (["key", "value"] as const).entries()) {
        feeds[SEQ2SEQ_IO.past(l, "decoder", kind)] = new ort.Tensor(this.io.kvType, pastKv[2 * l + k], [slots, heads, past, d]);
        feeds[SEQ2SEQ_IO.past(l, "encoder", kind)] = new ort.Tensor(this.io.kvType, cross.kv[2 * l + k], [cross.rows, heads, seg.cross.length, d]);
      }
    }
    const slotNames = Array.from({ length: this.io.layers }, (_, l) => [newSlotName(SEQ2SEQ_IO.present(l, "decoder", "key")), newSlotName(SEQ2SEQ_IO.present(l, "decoder", "value"))]).flat();
    const slotRows = layout.slots.map((i) => children[i].row);
    const out = await this.run(session, feeds, slotNames, request, slotRows, layout.real.map((s) => slotRows[s]), results, "step", layout.real);
    const realSlots = new Map(layout.real.map((s) => [layout.slots[s], s]));
    const cacheRow = Int32Array.from(children, (_, i) => realSlots.get(i)!);
    return {
      rows: children.map((c) => c.row),
      past: total,
      cacheRow,
      cacheRows: slots,
      mask,
      next: Int32Array.from(children, (c) => seg.next[c.index] + 1),
      sentence: Int32Array.from(children, (_, i) => layout.sentenceOf[realSlots.get(i)!]),
      kv: pastKv,
      appended: slotNames.map((name) => out[name].data as KvArray),
      cross: layout.cross,
    };
  }

  /** The parents' self-attention caches, in slot order, with the last step's slot appended: one copy per step. */
  private gatherSelf(seg: Segment, cacheRows: readonly number[], slotKey: number): KvArray[] {
    const { heads, headDim: d } = this.shape;
    const total = seg.past;
    const fed = seg.appended ? total - 1 : total;
    return seg.kv.map((src, t) => {
      const dst = this.pool.take(`${slotKey}:${t}`, cacheRows.length * heads * total * d);
      const slot = seg.appended?.[t];
      cacheRows.forEach((from, r) => {
        for (let h = 0; h < heads; h++) {
          const f = from * heads + h;
          const at = (r * heads + h) * total * d;
          dst.set(src.subarray(f * fed * d, (f + 1) * fed * d) as never, at);
          if (slot) dst.set(slot.subarray(f * d, (f + 1) * d) as never, at + fed * d);
        }
      });
      return dst;
    });
  }

  /**
   * One session call. `slotRows` are the state rows of the call's rows (dummy rows repeat a real one); `real` lists
   * the call rows whose logits are kept (default all), stored for `keptRows`.
   */
  private async run(
    session: ort.InferenceSession,
    feeds: Record<string, ort.Tensor>,
    kvNames: readonly string[],
    request: LogitRequest | undefined,
    slotRows: readonly number[],
    keptRows: readonly number[],
    results: LogitResults,
    what: string,
    real?: readonly number[],
  ): Promise<ort.InferenceSession.ReturnType> {
    const readout = readoutIo(request, slotRows, results.wantsFull);
    Object.assign(feeds, readout.feeds);
    const fetches: Record<string, null> = {};
    for (const name of [...readout.fetches, ...kvNames]) fetches[name] = null;
    const started = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await session.run(feeds, fetches as ort.InferenceSession.FetchesType);
    } catch (e) {
      throw new SyncabelError("MODEL_RUNTIME", `onnxruntime decoder ${what} failed (batch ${slotRows.length}): ${(e as Error).message}`);
    }
    this.forwardTime += performance.now() - started;
    for (const name of kvNames) if (out[name] === undefined) throw new SyncabelError("MODEL_RUNTIME", `the decoder did not return ${name}`);
    let chunk = readoutChunk(out, readout.pickWidth);
    if (real !== undefined && real.length !== slotRows.length) chunk = chunkRows(chunk, real, this.shape.vocab, request?.topK ?? 0);
    results.add(keptRows, chunk);
    return out;
  }
}

/** Prompts grouped by length (decoders without an attention_mask run each length in its own call). */
function byLength(prompts: readonly (readonly number[])[]): number[][] {
  const groups = new Map<number, number[]>();
  prompts.forEach((p, r) => {
    const g = groups.get(p.length);
    if (g) g.push(r);
    else groups.set(p.length, [r]);
  });
  return [...groups.values()];
}

/**
 * Grouped cross-attention: the children's sentences in order, each with B slots (B = most children of one sentence;
 * missing slots repeat the sentence's first child). The cross store is narrowed (copied) only when some of its
 * sentences have no rows left.
 */
function groupedLayout(seg: Segment, children: readonly { index: number }[]): { slots: number[]; cross: CrossStore; sentenceOf: number[]; real: number[] } {
  const bySentence = new Map<number, number[]>();
  children.forEach((c, i) => {
    const s = seg.sentence[c.index];
    const list = bySentence.get(s);
    if (list) list.push(i);
    else bySentence.set(s, [i]);
  });
  const sentences = [...bySentence.keys()].sort((a, b) => a - b);
  const beams = Math.max(...[...bySentence.values()].map((l) => l.length));
  const slots: number[] = [];
  const sentenceOf: number[] = [];
  const real: number[] = [];
  sentences.forEach((s, k) => {
    const list = bySentence.get(s)!;
    for (let b = 0; b < beams; b++) {
      if (b < list.length) real.push(slots.length);
      slots.push(list[Math.min(b, list.length - 1)]);
      sentenceOf.push(k);
    }
  });
  const all = sentences.length === seg.cross.sentences;
  return { slots, cross: all ? seg.cross : narrowCross(seg.cross, sentences), sentenceOf, real };
}

/** A cross store holding only `keep` (sentence indices) of `cross`. */
function narrowCross(cross: CrossStore, keep: readonly number[]): CrossStore {
  const per = cross.kv.length > 0 ? cross.kv[0].length / cross.sentences : 0;
  const kv = cross.kv.map((t) => {
    const out = new (t.constructor as new (n: number) => KvArray)(keep.length * per);
    keep.forEach((s, i) => out.set(t.subarray(s * per, (s + 1) * per) as never, i * per));
    return out;
  });
  const mask = new BigInt64Array(keep.length * cross.length);
  keep.forEach((s, i) => mask.set(cross.mask.subarray(s * cross.length, (s + 1) * cross.length), i * cross.length));
  return { sentences: keep.length, length: cross.length, kv, mask };
}

/** Per-row encoder tensors for graphs without grouped cross-attention, rebuilt only when the rows' sentences change. */
function perRowCross(cross: CrossStore, sentenceOf: readonly number[], heads: number, d: number, type: FloatType): { kv: readonly KvArray[]; mask: BigInt64Array; rows: number } {
  const key = sentenceOf.join(",");
  if (cross.perRow?.key !== key) {
    const per = heads * cross.length * d;
    const kv = cross.kv.map((t) => {
      const out = allocate(type, sentenceOf.length * per);
      sentenceOf.forEach((s, r) => out.set(t.subarray(s * per, (s + 1) * per) as never, r * per));
      return out;
    });
    const mask = new BigInt64Array(sentenceOf.length * cross.length);
    sentenceOf.forEach((s, r) => mask.set(cross.mask.subarray(s * cross.length, (s + 1) * cross.length), r * cross.length));
    cross.perRow = { key, kv, mask };
  }
  return { kv: cross.perRow.kv, mask: cross.perRow.mask, rows: sentenceOf.length };
}

/** Layers, cache type and feeding of the decoder files, checked against config.json. */
function describeDecoder(first: OpenedSession, steps: OpenedSession, files: Seq2SeqFiles, shape: Seq2SeqShape): DecoderIo {
  const s = steps.session;
  let layers = 0;
  while (s.inputNames.includes(SEQ2SEQ_IO.past(layers, "decoder", "key"))) layers++;
  const need = [SEQ2SEQ_IO.inputIds, SEQ2SEQ_IO.encoderAttentionMask];
  const file = files.decoderWithPast ?? files.decoder;
  if (layers === 0 || need.some((n) => !s.inputNames.includes(n)) || !first.session.inputNames.includes(SEQ2SEQ_IO.encoderHiddenStates)) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${file} is not a seq2seq decoder with past in the Optimum layout (inputs: ${s.inputNames.join(", ")})`, { path: file });
  }
  if (!first.readout || !steps.readout) throw new SyncabelError("MODEL_CONFIG_INVALID", `${file}: no float logits output to read (outputs: ${s.outputNames.join(", ")})`, { path: file });
  const meta = s.inputMetadata.find((m) => m.name === SEQ2SEQ_IO.past(0, "decoder", "key"));
  const type = meta && meta.isTensor ? meta.type : "float32";
  if (type !== "float32" && type !== "float16") throw new SyncabelError("MODEL_CONFIG_INVALID", `${file}: the cache has element type ${type}; float32 and float16 are supported`, { path: file });
  if (meta && meta.isTensor && typeof meta.shape[1] === "number" && meta.shape[1] !== shape.heads) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${file}: the cache has ${meta.shape[1]} heads, config.json says decoder_attention_heads ${shape.heads}`, { path: file });
  }
  const grouped = [first, steps].every((o) => o.scan.metadata.get(CROSS_ATTENTION_METADATA) === GROUPED_CROSS_ATTENTION);
  const decoderMask = [first, steps].every((o) => o.session.inputNames.includes(SEQ2SEQ_IO.attentionMask));
  return { layers, kvType: type, decoderMask, grouped };
}

export function loadOnnxSeq2SeqLM(dir: string, options?: OnnxModelOptions): Promise<OnnxSeq2SeqLM> {
  return OnnxSeq2SeqLM.load(dir, options);
}
