import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { SyncabelError } from "../errors.js";
import { LogNormalizer } from "./log-normalizer.js";
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
    /** present.{layer}.key / .value in layer order: [rows, kvHeads, pastLength, headDim]. */
    readonly kv: Float32Array[],
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
export class OnnxCausalLM implements CausalLM {
  private forwardTime = 0;
  private normalizeTime = 0;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly normalizer: LogNormalizer,
    readonly vocabSize: number,
    private readonly layout: CacheLayout,
    private readonly padId: number,
    private readonly hasPositionIds: boolean,
    private readonly hasCacheBranch: boolean,
  ) {}

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
      throw new SyncabelError("MODEL_RUNTIME", `onnxruntime cannot load ${modelFile}: ${(e as Error).message}`, { path: modelFile });
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
    const normalizer = await LogNormalizer.create(options.threads ?? availableParallelism());
    return new OnnxCausalLM(session, normalizer, vocab, layout, pad, session.inputNames.includes("position_ids"), session.inputNames.includes("use_cache_branch"));
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
    const { kv, logits } = await this.run(rows, length, ids, positions, 0, this.emptyCache(), mask);
    // Left padding: every row's last real token is at the last position.
    const last = new Float32Array(rows * this.vocabSize);
    for (let r = 0; r < rows; r++) {
      const from = (r * length + length - 1) * this.vocabSize;
      last.set(logits.subarray(from, from + this.vocabSize), r * this.vocabSize);
    }
    return { state: new OnnxDecodeState(rows, length, mask, next, kv), logProbs: await this.toLogProbs(last, rows) };
  }

  async step(state: DecodeState, parents: Int32Array, tokens: Int32Array): Promise<StepResult> {
    if (!(state instanceof OnnxDecodeState) || state.kv.length === 0) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", "step() needs a live state made by this model");
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
    const kv = this.gatherRows(state, parents);
    state.dispose();
    const out = await this.run(rows, 1, ids, positions, past, kv, mask);
    return { state: new OnnxDecodeState(rows, total, mask, next, out.kv), logProbs: await this.toLogProbs(out.logits, rows) };
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await this.normalizer.dispose();
  }

  /** Select/reorder cache rows by beam: row r of the result is row parents[r] of the state. */
  private gatherRows(state: OnnxDecodeState, parents: Int32Array): Float32Array[] {
    const rowSize = this.layout.kvHeads * state.pastLength * this.layout.headDim;
    let identity = parents.length === state.rows;
    for (let r = 0; identity && r < parents.length; r++) identity = parents[r] === r;
    if (identity) return [...state.kv];
    return state.kv.map((src) => {
      const dst = new Float32Array(parents.length * rowSize);
      for (let r = 0; r < parents.length; r++) dst.set(src.subarray(parents[r] * rowSize, (parents[r] + 1) * rowSize), r * rowSize);
      return dst;
    });
  }

  /** Past tensors of length 0: the first call of a KV-cache decoder. */
  private emptyCache(): Float32Array[] {
    return this.layout.pastNames.map(() => new Float32Array(0));
  }

  private async run(
    rows: number,
    seq: number,
    ids: BigInt64Array,
    positions: BigInt64Array,
    past: number,
    kv: Float32Array[],
    fullMask: Uint8Array,
  ): Promise<{ kv: Float32Array[]; logits: Float32Array }> {
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
      feeds[name] = new ort.Tensor("float32", kv[i], dims);
    });
    const started = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds);
    } catch (e) {
      throw new SyncabelError("MODEL_RUNTIME", `onnxruntime run failed (batch ${rows} x ${seq}, past ${past}): ${(e as Error).message}`);
    }
    this.forwardTime += performance.now() - started;
    const logits = out.logits.data as Float32Array;
    const present = this.layout.presentNames.map((name) => {
      const t = out[name];
      if (t === undefined) throw new SyncabelError("MODEL_RUNTIME", `the model did not return ${name}`);
      return t.data as Float32Array;
    });
    return { kv: present, logits };
  }

  private async toLogProbs(logits: Float32Array, rows: number): Promise<NextTokenLogProbs> {
    if (logits.length !== rows * this.vocabSize) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `logits have ${logits.length / rows} entries per row, config.json says vocab_size ${this.vocabSize}`);
    }
    const started = performance.now();
    const logZ = await this.normalizer.logZ(logits, rows, this.vocabSize);
    this.normalizeTime += performance.now() - started;
    return { rows, vocabSize: this.vocabSize, logits, logZ };
  }
}

export function loadOnnxCausalLM(dir: string, options?: OnnxModelOptions): Promise<OnnxCausalLM> {
  return OnnxCausalLM.load(dir, options);
}
