import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { SyncabelError } from "../errors.js";
import { LogNormalizer, type LogitsArray, type LogitsType } from "./log-normalizer.js";
import type { CausalLM, DecodeState, NextTokenLogProbs, StepResult } from "./types.js";

export interface OnnxModelOptions {
  /** Intra-op threads (default: all cores). */
  readonly threads?: number;
  /** Execution providers in order of preference (default ["cpu"]). */
  readonly executionProviders?: readonly string[];
  /** Model file inside the folder (default: onnx/model.onnx, else model.onnx). */
  readonly modelFile?: string;
}

/** KV cache + mask of a batch of rows; owned by OnnxCausalLM. */
class OnnxDecodeState implements DecodeState {
  constructor(
    readonly rows: number,
    /** Cached length (padding included) of every row. */
    readonly pastLength: number,
    /** [rows, pastLength] 0/1 attention mask of the cached positions. */
    readonly mask: Uint8Array,
    /** Position id of the next token of every row. */
    readonly nextPosition: Int32Array,
    /** present.{layer}.key / .value in layer order: [rows, kvHeads, pastLength, headDim] (views of a reused pool). */
    readonly kv: KvArray[],
    /** The backend call that made this state: only the latest state is live (its cache pool is reused). */
    readonly generation: number,
  ) {}

  dispose(): void {
    this.kv.length = 0;
  }
}

interface CacheLayout {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly pastNames: readonly string[];
  readonly presentNames: readonly string[];
}

/**
 * A causal LM exported by Hugging Face Optimum (inputs input_ids, attention_mask, position_ids,
 * past_key_values.{i}.key/value; outputs logits, present.{i}.key/value) on onnxruntime-node.
 * Ragged prompts are left-padded; position ids count only real tokens, as in transformers.
 */
/** Most logits (floats) one prefill call may produce at once: 32M floats = 128 MB. */
const PREFILL_LOGITS_BUDGET = 32 * 1024 * 1024;

/** KV-cache data: float32, or float16 bits (half-precision exports; Node 20 has no Float16Array). */
type KvArray = Float32Array | Uint16Array;
type FloatType = "float32" | "float16";

function allocate(type: FloatType, size: number): KvArray {
  return type === "float16" ? new Uint16Array(size) : new Float32Array(size);
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

/** The float element type of a model input/output from the session's metadata (float32 when unknown). */
function floatTypeOf(metadata: readonly ort.InferenceSession.ValueMetadata[], name: string, path: string): FloatType {
  const m = metadata.find((x) => x.name === name);
  const type = m && m.isTensor ? m.type : "float32";
  if (type !== "float32" && type !== "float16") {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: ${name} has element type ${type}; float32 and float16 are supported`, { path });
  }
  return type;
}

export class OnnxCausalLM implements CausalLM {
  private forwardTime = 0;
  /** Reused output buffer for logits; what step() returns is valid until the next call. */
  private logitsStore: LogitsArray;
  /** Reused KV-cache buffers: the model writes present.* into one, beams are gathered into the other. */
  private readonly presentPool: CachePool;
  private readonly pastPool: CachePool;
  private generation = 0;
  private normalizeTime = 0;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly normalizer: LogNormalizer,
    readonly vocabSize: number,
    private readonly layout: CacheLayout,
    private readonly kvType: FloatType,
    private readonly logitsType: LogitsType,
    private readonly padId: number,
    private readonly hasPositionIds: boolean,
    private readonly hasCacheBranch: boolean,
  ) {
    this.presentPool = new CachePool(layout.pastNames.length, kvType);
    this.pastPool = new CachePool(layout.pastNames.length, kvType);
    this.logitsStore = allocate(logitsType, 0);
  }

  static async load(dir: string, options: OnnxModelOptions = {}): Promise<OnnxCausalLM> {
    const configPath = join(dir, "config.json");
    if (!existsSync(dir)) throw new SyncabelError("MODEL_FILE_MISSING", `model folder not found: ${dir}`, { path: dir });
    if (!existsSync(configPath)) throw new SyncabelError("MODEL_FILE_MISSING", `missing config.json in model folder ${dir}`, { path: configPath });
    const candidates = options.modelFile ? [options.modelFile] : ["onnx/model.onnx", "model.onnx", "onnx/decoder_model_merged.onnx"];
    const modelFile = candidates.map((f) => join(dir, f)).find((p) => existsSync(p));
    if (modelFile === undefined) {
      throw new SyncabelError("MODEL_FILE_MISSING", `missing ONNX model in ${dir}: looked for ${candidates.join(", ")}`, { path: dir });
    }
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `cannot parse ${configPath}: ${(e as Error).message}`, { path: configPath });
    }
    const num = (key: string): number | undefined => (typeof config[key] === "number" ? (config[key] as number) : undefined);
    const heads = num("num_attention_heads");
    const hidden = num("hidden_size");
    const kvHeads = num("num_key_value_heads") ?? heads;
    const headDim = num("head_dim") ?? (hidden !== undefined && heads ? hidden / heads : undefined);
    if (kvHeads === undefined || headDim === undefined || !Number.isInteger(headDim)) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `${configPath} lacks num_attention_heads/num_key_value_heads/hidden_size (or head_dim)`, { path: configPath });
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelFile, {
        intraOpNumThreads: options.threads ?? availableParallelism(),
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
        executionProviders: [...(options.executionProviders ?? ["cpu"])],
        logSeverityLevel: 3,
      });
    } catch (e) {
      const providers = options.executionProviders ?? ["cpu"];
      const hint = providers.includes("cuda")
        ? " (the CUDA provider needs a GPU, CUDA 12 and onnxruntime-node's CUDA libraries, which an install with ONNXRUNTIME_NODE_INSTALL=skip leaves out)"
        : "";
      throw new SyncabelError("MODEL_RUNTIME", `onnxruntime cannot load ${modelFile} with providers ${providers.join(", ")}: ${(e as Error).message}${hint}`, { path: modelFile });
    }
    const pastNames: string[] = [];
    const presentNames: string[] = [];
    for (let i = 0; session.inputNames.includes(`past_key_values.${i}.key`); i++) {
      pastNames.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
      presentNames.push(`present.${i}.key`, `present.${i}.value`);
    }
    const missing = ["input_ids", "attention_mask"].filter((n) => !session.inputNames.includes(n));
    if (pastNames.length === 0 || missing.length > 0 || !session.outputNames.includes("logits")) {
      await session.release();
      throw new SyncabelError(
        "MODEL_CONFIG_INVALID",
        `${modelFile} is not a decoder with KV cache in the Optimum layout (inputs: ${session.inputNames.join(", ")}; outputs: ${session.outputNames.join(", ")})`,
        { path: modelFile },
      );
    }
    const vocab = num("vocab_size");
    if (vocab === undefined) throw new SyncabelError("MODEL_CONFIG_INVALID", `${configPath} lacks vocab_size`, { path: configPath });
    const pad = num("pad_token_id") ?? 0;
    const layout: CacheLayout = { layers: pastNames.length / 2, kvHeads, headDim, pastNames, presentNames };
    const kvType = floatTypeOf(session.inputMetadata, pastNames[0], modelFile);
    const logitsType = floatTypeOf(session.outputMetadata, "logits", modelFile);
    const normalizer = await LogNormalizer.create(options.threads ?? availableParallelism(), logitsType);
    return new OnnxCausalLM(session, normalizer, vocab, layout, kvType, logitsType, pad, session.inputNames.includes("position_ids"), session.inputNames.includes("use_cache_branch"));
  }

  get forwardMs(): number {
    return this.forwardTime;
  }

  /** Milliseconds spent normalising logits (log-sum-exp over the vocabulary), outside the model's forward. */
  get normalizeMs(): number {
    return this.normalizeTime;
  }

  async prefill(prompts: readonly (readonly number[])[]): Promise<StepResult> {
    const rows = prompts.length;
    if (rows === 0) throw new SyncabelError("DECODE_INVALID_OPTIONS", "prefill needs at least one prompt");
    const length = Math.max(...prompts.map((p) => p.length));
    if (prompts.some((p) => p.length === 0)) throw new SyncabelError("DECODE_INVALID_OPTIONS", "a prompt has no tokens");
    const ids = new BigInt64Array(rows * length).fill(BigInt(this.padId));
    const mask = new Uint8Array(rows * length);
    const positions = new BigInt64Array(rows * length).fill(1n);
    const next = new Int32Array(rows);
    prompts.forEach((prompt, r) => {
      const pad = length - prompt.length;
      for (let j = 0; j < prompt.length; j++) {
        ids[r * length + pad + j] = BigInt(prompt[j]);
        mask[r * length + pad + j] = 1;
        positions[r * length + pad + j] = BigInt(j);
      }
      next[r] = prompt.length;
    });
    // Optimum exports return logits at every position: prefill in row chunks so that buffer stays bounded.
    const vocab = this.vocabSize;
    const chunk = Math.max(1, Math.floor(PREFILL_LOGITS_BUDGET / (length * vocab)));
    const last = allocate(this.logitsType, rows * vocab);
    const rowSize = this.layout.kvHeads * length * this.layout.headDim;
    const kv = this.presentPool.take(rows * rowSize);
    this.generation++;
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const n = Math.min(chunk, rows - r0);
      const logits = await this.run(
        n,
        length,
        ids.subarray(r0 * length, (r0 + n) * length),
        positions.subarray(r0 * length, (r0 + n) * length),
        0,
        this.emptyCache(),
        mask.subarray(r0 * length, (r0 + n) * length),
        kv.map((t) => t.subarray(r0 * rowSize, (r0 + n) * rowSize)),
      );
      // Left padding: every row's last real token is at the last position.
      for (let r = 0; r < n; r++) last.set(logits.subarray(((r + 1) * length - 1) * vocab, (r + 1) * length * vocab), (r0 + r) * vocab);
    }
    return { state: new OnnxDecodeState(rows, length, mask, next, kv, this.generation), logProbs: await this.toLogProbs(last, rows) };
  }

  async step(state: DecodeState, parents: Int32Array, tokens: Int32Array): Promise<StepResult> {
    if (!(state instanceof OnnxDecodeState) || state.kv.length === 0 || state.generation !== this.generation) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", "step() needs the latest live state made by this model (one decoding at a time per model)");
    }
    const rows = parents.length;
    if (tokens.length !== rows) throw new SyncabelError("DECODE_INVALID_OPTIONS", "parents and tokens differ in length");
    const past = state.pastLength;
    const total = past + 1;
    const mask = new Uint8Array(rows * total);
    const ids = new BigInt64Array(rows);
    const positions = new BigInt64Array(rows);
    const next = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const p = parents[r];
      if (p < 0 || p >= state.rows) throw new SyncabelError("DECODE_INVALID_OPTIONS", `parent row ${p} out of range`);
      mask.set(state.mask.subarray(p * past, (p + 1) * past), r * total);
      mask[r * total + past] = 1;
      ids[r] = BigInt(tokens[r]);
      positions[r] = BigInt(state.nextPosition[p]);
      next[r] = state.nextPosition[p] + 1;
    }
    const pastKv = this.gatherRows(state, parents);
    state.dispose();
    const presentKv = this.presentPool.take(rows * this.layout.kvHeads * total * this.layout.headDim);
    this.generation++;
    const logits = await this.run(rows, 1, ids, positions, past, pastKv, mask, presentKv);
    return { state: new OnnxDecodeState(rows, total, mask, next, presentKv, this.generation), logProbs: await this.toLogProbs(logits, rows) };
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await this.normalizer.dispose();
  }

  /**
   * Select/reorder cache rows by beam into the past pool: row r of the result is row parents[r] of the state. Always
   * a copy, since the model writes the next present cache into the pool the state lives in.
   */
  private gatherRows(state: OnnxDecodeState, parents: Int32Array): KvArray[] {
    const rowSize = this.layout.kvHeads * state.pastLength * this.layout.headDim;
    const out = this.pastPool.take(parents.length * rowSize);
    state.kv.forEach((src, i) => {
      const dst = out[i];
      for (let r = 0; r < parents.length; r++) dst.set(src.subarray(parents[r] * rowSize, (parents[r] + 1) * rowSize), r * rowSize);
    });
    return out;
  }

  /** Past tensors of length 0: the first call of a KV-cache decoder. */
  private emptyCache(): KvArray[] {
    return this.layout.pastNames.map(() => allocate(this.kvType, 0));
  }

  private async run(
    rows: number,
    seq: number,
    ids: BigInt64Array,
    positions: BigInt64Array,
    past: number,
    kv: KvArray[],
    fullMask: Uint8Array,
    /** Where the model writes present.* (preallocated, [rows, kvHeads, past+seq, headDim] each). */
    presentOut: KvArray[],
  ): Promise<LogitsArray> {
    const total = past + seq;
    const maskData = new BigInt64Array(rows * total);
    for (let i = 0; i < maskData.length; i++) maskData[i] = BigInt(fullMask[i]);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", ids, [rows, seq]),
      attention_mask: new ort.Tensor("int64", maskData, [rows, total]),
    };
    if (this.hasPositionIds) feeds.position_ids = new ort.Tensor("int64", positions, [rows, seq]);
    if (this.hasCacheBranch) feeds.use_cache_branch = new ort.Tensor("bool", new Uint8Array([past > 0 ? 1 : 0]), [1]);
    const dims = [rows, this.layout.kvHeads, past, this.layout.headDim];
    this.layout.pastNames.forEach((name, i) => {
      feeds[name] = new ort.Tensor(this.kvType, kv[i], dims);
    });
    // Logits go into a reused buffer (tens of MB per step otherwise left to the garbage collector).
    const logits = this.logitsBuffer(rows * seq * this.vocabSize);
    const fetches: Record<string, ort.Tensor | null> = { logits: new ort.Tensor(this.logitsType, logits, [rows, seq, this.vocabSize]) };
    const presentDims = [rows, this.layout.kvHeads, total, this.layout.headDim];
    this.layout.presentNames.forEach((name, i) => {
      fetches[name] = new ort.Tensor(this.kvType, presentOut[i], presentDims);
    });
    const started = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds, fetches as ort.InferenceSession.FetchesType);
    } catch (e) {
      throw new SyncabelError("MODEL_RUNTIME", `onnxruntime run failed (batch ${rows} x ${seq}, past ${past}): ${(e as Error).message}`);
    }
    this.forwardTime += performance.now() - started;
    for (const name of this.layout.presentNames) {
      if (out[name] === undefined) throw new SyncabelError("MODEL_RUNTIME", `the model did not return ${name}`);
    }
    return logits;
  }

  private logitsBuffer(size: number): LogitsArray {
    if (this.logitsStore.length < size) this.logitsStore = allocate(this.logitsType, Math.ceil(size * 1.25));
    return this.logitsStore.subarray(0, size);
  }

  private async toLogProbs(raw: LogitsArray, rows: number): Promise<NextTokenLogProbs> {
    if (raw.length !== rows * this.vocabSize) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `logits have ${raw.length / rows} entries per row, config.json says vocab_size ${this.vocabSize}`);
    }
    const started = performance.now();
    const { logits, logZ } = await this.normalizer.normalize(raw, rows, this.vocabSize);
    this.normalizeTime += performance.now() - started;
    return { rows, vocabSize: this.vocabSize, logits, logZ };
  }

}

export function loadOnnxCausalLM(dir: string, options?: OnnxModelOptions): Promise<OnnxCausalLM> {
  return OnnxCausalLM.load(dir, options);
}
