/**
 * `npm run bench:peer`: syncabel's ONNX Runtime decoding against llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU
 * binaries) on the same random Llama checkpoint, at equal precision, measured in one run with the two interleaved:
 *
 *   int4 (MatMulNBits, block 32, symmetric; accuracy levels 0 and 4)  vs  Q4_0
 *   int8 (MatMulNBits, block 32, accuracy level 4, as `model convert`)  vs  Q8_0
 *   fp32                                                                vs  F32
 *
 * The checkpoint is the one the capacity bench writes (bf16 safetensors, Llama-3 vocabulary + <SEP>); syncabel's
 * models come from `convertCheckpoint`, llama.cpp's from src/testing/gguf-writer.ts. Before timing, the F32 GGUF is
 * read back by llama.cpp and one prompt's next-token log-probs are compared with the ONNX fp32 model (F32 KV cache,
 * no flash attention: exact to float rounding); each quantized pair is compared with the fp32 model too.
 *
 * Figures (medians over --repeats; per-step times are medians over --steps steps after a first untimed step):
 *   decode_ms[rows]  one decoding step of `rows` rows, rows = prompts x beams: 1 = 1x1, 5 = 1x5 (`link`), 8 = 8x1,
 *                    40 = 8x5 (batches of 8 sentences). syncabel: `step` with beam-search parents (rows regrouped
 *                    every step, as beam search does) and the read-out of 8 trie children per row; llama.cpp: one
 *                    batch of one token per sequence (a sequence per row), greedy-sampled
 *   prefill_tokens_per_s[n]  n = 1 or 8 SPACCC prompts (31-144 tokens) from an empty cache; 3 interleaved runs
 *                    per repeat
 *   ratio = llama.cpp time / syncabel time (> 1: syncabel faster)
 * What differs in the work: syncabel normalises every row over the full vocabulary (log-softmax, for beam scores)
 * and regroups its fp32 KV cache by beam parent every step (a copy of the cache); llama.cpp here neither reorders
 * its cache (no beams) nor normalises (greedy argmax), and keeps its KV cache in float16 with flash attention on
 * (its defaults). Random weights decode at the speed of trained ones.
 *
 *   npm run bench:peer                             (Llama-3.2-1B shape; ~15 min on 2 idle cores, 14 GB of disk)
 *   npm run bench:peer -- --model small            (the `npm run bench` shape: a quick run)
 *   --dtypes int4,int8,fp32  --rows 1,5,8,40  --steps 8  --repeats 3  --threads 2  --dir D  --keep  --spin
 *   --agreement N   int4 accuracy level 4 against level 0 on the first N SPACCC dev prompts (all: 4058): next-token
 *                   top-1 agreement and log-prob error (0 = skip; the default)
 *   --no-timing     skip the timings (with --agreement: the accuracy study alone)
 */
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { freemem, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
import { convertCheckpoint } from "../src/convert/convert.js";
import { readPredictionsTsv } from "../src/data/predictions-tsv.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../src/lm/onnx-lm.js";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import type { DecodeState } from "../src/lm/types.js";
import { buildPrompt, parseMarkedSentence } from "../src/markup/index.js";
import { writeLlamaGguf, type GgufWeightType } from "../src/testing/gguf-writer.js";
import { writeRandomCheckpoint, type RandomCheckpointOptions } from "../src/testing/random-checkpoint.js";

const SHARED = fileURLToPath(new URL("../../shared/data/spaccc/", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TRIE_CHILDREN = 8;
const PREFILL_RUNS = 3;

type Precision = "int4" | "int8" | "fp32";
const GGUF_OF: Record<Precision, GgufWeightType> = { int4: "Q4_0", int8: "Q8_0", fp32: "F32" };
/** syncabel variants per precision: MatMulNBits accuracy level (int4: 0 = `model convert`'s default, 4 = int8 activations). */
const LEVELS: Record<Precision, (0 | 4 | null)[]> = { int4: [0, 4], int8: [4], fp32: [null] };

const MODELS: Record<string, RandomCheckpointOptions> = {
  "1b": { preset: "llama-3.2-1b", seed: 1 },
  // `npm run bench`'s shape with tied embeddings and llama3 rope (as the 1B), intermediate a multiple of 32 (Q4_0).
  small: {
    shape: { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 704, tieWordEmbeddings: true, ropeScaling: { rope_type: "llama3", factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192 } },
    seed: 1,
  },
};

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, digits = 2): number => +x.toFixed(digits);

function cpuFlags(): Record<string, unknown> {
  const info = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? "").trim().split(/\s+/));
  const wanted = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16"];
  return { model: /^model name\s*:(.*)$/m.exec(info)?.[1]?.trim() ?? "unknown", flags: wanted.filter((f) => flags.has(f)) };
}

const uptime = (): string => {
  try {
    return execSync("uptime", { encoding: "utf8" }).trim();
  } catch {
    return loadavg().map((x) => x.toFixed(2)).join(", ");
  }
};

// ---------------------------------------------------------------- the two engines

interface Engine {
  readonly name: string;
  /** Milliseconds of each of `steps` decoding steps of prompts.length x beams rows (after an untimed first step). */
  decode(prompts: readonly number[][], beams: number, steps: number): Promise<number[]>;
  /** Milliseconds to prefill the prompts from an empty cache (logits of each last position). */
  prefill(prompts: readonly number[][]): Promise<number>;
  dispose(): Promise<void>;
}

/** Beam-search-like parents: row r of prompt p continues row (r * 2 + 1) % beams of the same prompt. */
function beamParents(prompts: number, beams: number): Int32Array {
  return Int32Array.from({ length: prompts * beams }, (_, i) => Math.floor(i / beams) * beams + ((i % beams) * 2 + 1) % beams);
}

class SyncabelEngine implements Engine {
  /** Share of the last decode's step time spent outside ONNX Runtime (cache regrouping, inputs, read-out copies), by rows. */
  readonly outsideShare = new Map<number, number>();

  private constructor(
    readonly name: string,
    private readonly lm: OnnxCausalLM,
  ) {}

  static async open(name: string, dir: string, threads: number, spin: boolean): Promise<SyncabelEngine> {
    return new SyncabelEngine(name, await loadOnnxCausalLM(dir, { threads, spinThreads: spin }));
  }

  private request(rows: number) {
    return { tokens: Array.from({ length: rows }, (_, r) => Int32Array.from({ length: TRIE_CHILDREN }, (_, i) => 1000 + r * 37 + i * 101)) };
  }

  async decode(prompts: readonly number[][], beams: number, steps: number): Promise<number[]> {
    const rows = prompts.length * beams;
    const { state } = await this.lm.prefill(prompts, this.request(prompts.length));
    const tokens = Int32Array.from({ length: rows }, (_, r) => 500 + r);
    // First step: every prompt's row fans out to its beams (untimed, as the prefill).
    let s: DecodeState = (await this.lm.step(state, Int32Array.from({ length: rows }, (_, i) => Math.floor(i / beams)), tokens, this.request(rows))).state;
    const parents = beamParents(prompts.length, beams);
    const times: number[] = [];
    const forward0 = this.lm.forwardMs;
    for (let k = 0; k < steps; k++) {
      const t0 = performance.now();
      s = (await this.lm.step(s, parents, tokens, this.request(rows))).state;
      times.push(performance.now() - t0);
    }
    s.dispose();
    this.outsideShare.set(rows, 1 - (this.lm.forwardMs - forward0) / times.reduce((a, b) => a + b, 0));
    return times;
  }

  async prefill(prompts: readonly number[][]): Promise<number> {
    const t0 = performance.now();
    const { state } = await this.lm.prefill(prompts, this.request(prompts.length));
    const ms = performance.now() - t0;
    state.dispose();
    return ms;
  }

  /** Next-token log-probs of one prompt (whole row). */
  async logProbs(prompt: readonly number[]): Promise<Float64Array> {
    const { state, logProbs } = await this.lm.prefill([prompt]);
    state.dispose();
    return Float64Array.from(logProbs.logits, (x) => x - logProbs.logZ[0]);
  }

  dispose(): Promise<void> {
    return this.lm.dispose();
  }
}

/** A context per row count (one sequence per row), made once; sequences are cleared before each measurement. */
class LlamaCppEngine implements Engine {
  private readonly contexts = new Map<number, { context: LlamaContext; sequences: LlamaContextSequence[] }>();

  private constructor(
    readonly name: string,
    private readonly model: LlamaModel,
    private readonly threads: number,
  ) {}

  static async open(name: string, llama: Llama, path: string, threads: number): Promise<LlamaCppEngine> {
    return new LlamaCppEngine(name, await llama.loadModel({ modelPath: path, useMmap: true }), threads);
  }

  private async sequences(rows: number): Promise<LlamaContextSequence[]> {
    let entry = this.contexts.get(rows);
    if (entry === undefined) {
      const context = await this.model.createContext({ sequences: rows, contextSize: rows * 256, batchSize: Math.max(512, rows * 128), threads: this.threads });
      entry = { context, sequences: Array.from({ length: rows }, () => context.getSequence()) };
      this.contexts.set(rows, entry);
    }
    await Promise.all(entry.sequences.map((s) => s.clearHistory()));
    return entry.sequences;
  }

  /** Evaluate one input per sequence in one batch (queued in the same tick), the last token of each sampled. */
  private static async evaluate(sequences: readonly LlamaContextSequence[], inputs: readonly (readonly number[])[]): Promise<void> {
    await Promise.all(
      sequences.map((s, i) => {
        const input = inputs[i].map((t, j) => (j === inputs[i].length - 1 ? ([t as Token, { generateNext: { token: true } }] as const) : (t as Token)));
        return s.controlledEvaluate(input as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
      }),
    );
  }

  async decode(prompts: readonly number[][], beams: number, steps: number): Promise<number[]> {
    const rows = prompts.length * beams;
    const seqs = await this.sequences(rows);
    await LlamaCppEngine.evaluate(seqs, seqs.map((_, r) => prompts[Math.floor(r / beams)]));
    const tokens = seqs.map((_, r) => [500 + r]);
    await LlamaCppEngine.evaluate(seqs, tokens);
    const times: number[] = [];
    for (let k = 0; k < steps; k++) {
      const t0 = performance.now();
      await LlamaCppEngine.evaluate(seqs, tokens);
      times.push(performance.now() - t0);
    }
    return times;
  }

  async prefill(prompts: readonly number[][]): Promise<number> {
    const seqs = (await this.sequences(prompts.length)).slice(0, prompts.length);
    const t0 = performance.now();
    await LlamaCppEngine.evaluate(seqs, prompts);
    return performance.now() - t0;
  }

  async dispose(): Promise<void> {
    for (const { context } of this.contexts.values()) await context.dispose();
    await this.model.dispose();
  }
}

/** llama.cpp's next-token log-probs of one prompt, with a float32 KV cache and no flash attention (exact arithmetic). */
async function llamaCppLogProbs(llama: Llama, path: string, prompt: readonly number[], threads: number, vocab: number): Promise<Float64Array> {
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: 512, threads, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  try {
    const input = prompt.map((t, j) => (j === prompt.length - 1 ? ([t as Token, { generateNext: { probabilities: true } }] as const) : (t as Token)));
    const out = await context.getSequence().controlledEvaluate(input as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
    const probs = out.at(-1)?.next.probabilities;
    if (probs === undefined) throw new Error("llama.cpp returned no probabilities");
    const row = new Float64Array(vocab).fill(-Infinity);
    for (const [token, p] of probs) row[token] = Math.log(p);
    return row;
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

function compareRows(ref: Float64Array, other: Float64Array): Record<string, number> {
  let maxDiff = 0;
  let err = 0;
  let mean = 0;
  for (const v of ref) mean += v;
  mean /= ref.length;
  let variance = 0;
  let topRef = 0;
  let topOther = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = other[i] - ref[i];
    maxDiff = Math.max(maxDiff, Math.abs(d));
    err += d * d;
    variance += (ref[i] - mean) ** 2;
    if (ref[i] > ref[topRef]) topRef = i;
    if (other[i] > other[topOther]) topOther = i;
  }
  return { max_abs_logprob_diff: +maxDiff.toPrecision(3), logprob_rmse_relative_to_std: +Math.sqrt(err / variance).toPrecision(3), same_top1: topRef === topOther ? 1 : 0 };
}

/** int4 accuracy level 4 vs 0: next-token top-1 over the whole vocabulary and log-prob error, prompt by prompt. */
async function levelAgreement(level0: SyncabelEngine, level4: SyncabelEngine, prompts: readonly number[][]): Promise<Record<string, number>> {
  let same = 0;
  const rmse: number[] = [];
  const maxDiff: number[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const c = compareRows(await level0.logProbs(prompt), await level4.logProbs(prompt));
    same += c.same_top1;
    rmse.push(c.logprob_rmse_relative_to_std);
    maxDiff.push(c.max_abs_logprob_diff);
    if ((i + 1) % 200 === 0) console.error(`[peer] agreement: ${i + 1}/${prompts.length} prompts, ${same} same top-1`);
  }
  return {
    prompts: prompts.length,
    next_token_top1_agreement: round(same / prompts.length, 4),
    logprob_rmse_relative_to_std_median: +median(rmse).toPrecision(3),
    max_abs_logprob_diff_median: +median(maxDiff).toPrecision(3),
    max_abs_logprob_diff_max: +Math.max(...maxDiff).toPrecision(3),
  };
}

// ---------------------------------------------------------------- run

interface Options {
  readonly rows: readonly number[];
  readonly steps: number;
  readonly repeats: number;
  readonly threads: number;
  readonly spin: boolean;
}

/** Time every engine on every measurement, interleaved (engine order alternating per repeat); medians. */
async function measure(engines: readonly Engine[], prompts: readonly number[][], o: Options): Promise<Record<string, Record<string, number>>> {
  const samples = new Map<string, number[]>();
  const add = (key: string, v: number): void => void (samples.get(key) ?? samples.set(key, []).get(key)!).push(v);
  const outside = (e: Engine, rows: number): void => {
    const share = e instanceof SyncabelEngine ? e.outsideShare.get(rows) : undefined;
    if (share !== undefined) add(`${e.name}|decode_share_outside_ort|${rows}`, share);
  };
  const shapes = o.rows.map((rows) => ({ rows, prompts: rows >= 8 ? 8 : 1, beams: rows >= 8 ? rows / 8 : rows }));
  for (let k = 0; k < o.repeats; k++) {
    const order = k % 2 === 0 ? engines : [...engines].reverse();
    for (const s of shapes) {
      for (const e of order) {
        const times = await e.decode(prompts.slice(0, s.prompts), s.beams, o.steps);
        add(`${e.name}|decode_ms|${s.rows}`, median(times));
        outside(e, s.rows);
      }
    }
    // A prefill is one long call per engine: PREFILL_RUNS interleaved runs per repeat steady its median.
    for (const n of [1, 8]) {
      for (let run = 0; run < PREFILL_RUNS; run++) {
        for (const e of order) {
          const ms = await e.prefill(prompts.slice(0, n));
          const tokens = prompts.slice(0, n).reduce((a, p) => a + p.length, 0);
          add(`${e.name}|prefill_tokens_per_s|${n}`, (tokens / ms) * 1000);
        }
      }
    }
    console.error(`[peer] repeat ${k + 1}/${o.repeats} done (load ${loadavg()[0].toFixed(2)})`);
  }
  const out: Record<string, Record<string, number>> = {};
  for (const [key, values] of samples) {
    const [engine, figure, n] = key.split("|");
    (out[engine] ??= {})[`${figure}_${n}`] = round(median(values), figure === "decode_ms" ? 1 : figure === "decode_share_outside_ort" ? 3 : 0);
  }
  return out;
}

/** llama.cpp time / syncabel time for each figure (prefill: syncabel rate / llama.cpp rate). */
function ratios(syncabel: Record<string, number>, peer: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.keys(syncabel).filter((k) => k in peer).map((k) => [k.replace(/^decode_ms/, "decode").replace(/^prefill_tokens_per_s/, "prefill"), round(k.startsWith("decode") ? peer[k] / syncabel[k] : syncabel[k] / peer[k])]),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: "string", default: "1b" },
      dtypes: { type: "string", default: "int4,int8,fp32" },
      rows: { type: "string", default: "1,5,8,40" },
      steps: { type: "string", default: "8" },
      repeats: { type: "string", default: "3" },
      threads: { type: "string", default: "2" },
      dir: { type: "string", default: join(ROOT, ".cache", "peer") },
      keep: { type: "boolean", default: false },
      spin: { type: "boolean", default: false },
      agreement: { type: "string", default: "0" },
      "no-timing": { type: "boolean", default: false },
    },
  });
  const plan = MODELS[values.model];
  if (plan === undefined) throw new Error(`--model must be one of ${Object.keys(MODELS).join(", ")}`);
  if (!existsSync(join(SHARED, "predictions"))) {
    console.log(JSON.stringify({ skipped: `no SPACCC data at ${SHARED}` }));
    return;
  }
  const dtypes = values.dtypes.split(",") as Precision[];
  const o: Options = { rows: values.rows.split(",").map(Number), steps: Number(values.steps), repeats: Number(values.repeats), threads: Number(values.threads), spin: values.spin };
  const dir = resolve(values.dir, values.model);
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const result: Record<string, unknown> = {
    model: values.model,
    cpu: cpuFlags(),
    threads: o.threads,
    onnxruntime: ort.env.versions.common,
    node_llama_cpp: "3.21.1",
    uptime_at_start: uptime(),
    free_memory_gb_at_start: round(freemem() / 1e9, 1),
    work_differences:
      "syncabel: log-softmax over the full vocabulary per row, KV cache (fp32) regrouped by beam parent every step, 8 trie children read per row; llama.cpp: greedy argmax, no cache reordering, float16 KV cache, flash attention auto (its defaults)",
  };
  try {
    const hf = join(dir, "hf");
    if (!existsSync(join(hf, "config.json"))) {
      console.error(`[peer] writing the random ${values.model} checkpoint`);
      await writeRandomCheckpoint(hf, plan);
    }
    const tokenizer = await loadTokenizer(hf);
    const sentences = readPredictionsTsv(join(SHARED, "predictions", "Llama_guided_with_SynCABEL.test-dev.tsv"))
      .rows.map((r) => r.sentence)
      .filter((s): s is string => typeof s === "string");
    const promptOf = (s: string): number[] => tokenizer.encode(buildPrompt(parseMarkedSentence(s), "es"));
    const prompts = sentences.slice(0, 8).map(promptOf);
    result.prompt_tokens = prompts.map((p) => p.length);
    const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error, maxThreads: o.threads });
    result.llama_cpp_system_info = llama.systemInfo;

    const onnxDir = (p: Precision, level: 0 | 4 | null): string => join(dir, level === null ? p : `${p}-acc${level}`);
    const ggufPath = (p: Precision): string => join(dir, `model-${GGUF_OF[p]}.gguf`);
    const ensure = async (p: Precision): Promise<void> => {
      for (const level of LEVELS[p]) {
        if (existsSync(join(onnxDir(p, level), "config.json"))) continue;
        console.error(`[peer] converting to ${p}${level === null ? "" : ` (accuracy level ${level})`}`);
        await convertCheckpoint(hf, onnxDir(p, level), { dtype: p, force: true, ...(level === null ? {} : { accuracyLevel: level }) });
      }
      if (!existsSync(ggufPath(p))) {
        console.error(`[peer] writing ${GGUF_OF[p]} GGUF`);
        writeLlamaGguf(hf, ggufPath(p), GGUF_OF[p]);
      }
    };

    // Read-back check: llama.cpp on the F32 GGUF vs the ONNX fp32 model; quantized pairs vs the same reference.
    await ensure("fp32");
    const fp32 = await SyncabelEngine.open("syncabel fp32", onnxDir("fp32", null), o.threads, o.spin);
    const reference = await fp32.logProbs(prompts[0]);
    await fp32.dispose();
    const checks: Record<string, unknown> = {
      "llama.cpp F32 vs syncabel fp32 (float32 KV, no flash attention)": compareRows(reference, await llamaCppLogProbs(llama, ggufPath("fp32"), prompts[0], o.threads, reference.length)),
    };
    for (const p of dtypes.filter((d) => d !== "fp32")) {
      await ensure(p);
      for (const level of LEVELS[p]) {
        const e = await SyncabelEngine.open("", onnxDir(p, level), o.threads, o.spin);
        checks[`syncabel ${p} acc${level} vs fp32`] = compareRows(reference, await e.logProbs(prompts[0]));
        await e.dispose();
      }
      checks[`llama.cpp ${GGUF_OF[p]} vs syncabel fp32`] = compareRows(reference, await llamaCppLogProbs(llama, ggufPath(p), prompts[0], o.threads, reference.length));
    }
    result.readback = checks;

    const agreement = Number(values.agreement);
    if (agreement > 0) {
      await ensure("int4");
      const [a, b] = [await SyncabelEngine.open("", onnxDir("int4", 0), o.threads, o.spin), await SyncabelEngine.open("", onnxDir("int4", 4), o.threads, o.spin)];
      result.int4_accuracy_level_4_vs_0 = await levelAgreement(a, b, sentences.slice(0, agreement).map(promptOf));
      await a.dispose();
      await b.dispose();
    }

    const timings: Record<string, unknown> = {};
    for (const p of values["no-timing"] ? [] : dtypes) {
      await ensure(p);
      const engines: Engine[] = [];
      for (const level of LEVELS[p]) engines.push(await SyncabelEngine.open(level === null ? `syncabel ${p}` : `syncabel ${p} acc${level}`, onnxDir(p, level), o.threads, o.spin));
      const peer = await LlamaCppEngine.open(`llama.cpp ${GGUF_OF[p]}`, llama, ggufPath(p), o.threads);
      engines.push(peer);
      console.error(`[peer] timing ${p} (${uptime()})`);
      const load = [loadavg()[0]];
      const figures = await measure(engines, prompts, o);
      load.push(loadavg()[0]);
      for (const e of engines) await e.dispose();
      const vs = Object.fromEntries(engines.slice(0, -1).map((e) => [`${e.name} vs ${peer.name}`, ratios(figures[e.name], figures[peer.name])]));
      timings[p] = { load_average_1min: load.map((x) => round(x)), ...figures, ratios_llama_time_over_syncabel_time: vs };
    }
    result.timings = timings;
    await llama.dispose();
    result.uptime_at_end = uptime();
    result.seconds = round((performance.now() - started) / 1000, 0);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
