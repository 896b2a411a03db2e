/**
 * `npm run bench:capacity`: what a published-size checkpoint costs on this machine. Writes random checkpoints in
 * the Hugging Face layout (bf16 safetensors, 5 GB shards, Llama-3 vocabulary + <SEP>) at the true shapes of
 * Llama-3.2-1B and Llama-3-8B, converts them with `syncabel model convert` (fp32 and int4 for 1B, int4 for 8B),
 * then links SPACCC marked sentences against the proxy KB with 5 beams (trie-constrained). Conversion and
 * linking each run in a child process, so their peak RSS is their own. Prints one JSON object.
 *
 * Random weights decode at the speed of trained ones (same shapes, same work); their answers are noise, so the
 * int4-vs-fp32 agreement figures say how far quantization moves the logits, not how accurate the linker is.
 *
 *   npm run bench:capacity                         (1B and 8B; ~30 min on 2 idle cores, 21 GB of disk)
 *   npm run bench:capacity -- --only 1b --keep     (--dir D: scratch folder, default .cache/capacity)
 *   --sentences-1b N (default 8: 1x5 and 8x5 runs)  --sentences-8b N (default 2 at 1x5; 8x5 always 8)
 *
 *   npm run bench:capacity -- --arch mbart         (#19) mbart-large-50 (d_model 1024, 12+12 layers, 16 heads, FFN
 *                                                  4096, vocab 250,054; bf16 checkpoint in the HF layout) and the
 *                                                  Llama-3.2-1B shape, each converted to fp32, int8 and int4, linked
 *                                                  side by side (--sentences N, default 8); adds the encoder's ms per
 *                                                  sentence and the mbart / 1B mentions-per-second ratio per dtype.
 *   --batches 1,2,4,8 (sentences per batch, 5 beams each; default 1,8)  --dtypes int4 (default fp32,int4 for 1B)
 *   --checkpoint DIR (an existing random checkpoint of the preset, e.g. bench:peer's, instead of writing one)
 * Each run reports the largest RSS sampled while it linked (runs go by increasing batch, so a run's figure is
 * its own peak: buffers and ONNX Runtime's arena keep the largest size they reached).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { freemem, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { convertCheckpoint, type ConvertDtype } from "../src/convert/convert.js";
import { loadLlamaConfig, type LlamaConfig } from "../src/convert/llama-config.js";
import { readPredictionsTsv } from "../src/data/predictions-tsv.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { GenerativeLinker } from "../src/linker/generative-linker.js";
import { loadOnnxCausalLM } from "../src/lm/onnx-lm.js";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import type { CausalLM, DecodeState } from "../src/lm/types.js";
import { buildPrompt, parseMarkedSentence } from "../src/markup/index.js";
import { writeRandomCheckpoint, type CheckpointPreset } from "../src/testing/random-checkpoint.js";
import { loadSeq2SeqConfig, type Seq2SeqConfig } from "../src/convert/mbart-config.js";
import { loadSeq2SeqScheme } from "../src/linker/seq2seq-prompt.js";
import { loadOnnxSeq2SeqLM } from "../src/lm/onnx-seq2seq-lm.js";
import { writeRandomSeq2SeqCheckpoint } from "../src/testing/random-seq2seq.js";
import { writeTestTokenizer } from "../src/testing/test-tokenizer.js";
import { llamaTensorSpecs } from "../src/convert/checkpoint.js";
import type { RandomCheckpointInfo } from "../src/testing/random-checkpoint.js";

const SHARED = fileURLToPath(new URL("../../shared/data/spaccc/", import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BEAMS = 5;

// ---------------------------------------------------------------- FLOPs of the forward passes

/** Multiply-adds x 2 of one forward call: `rows` x `seq` new tokens over `past` cached ones, logits at the last position. */
function forwardFlops(c: LlamaConfig, rows: number, seq: number, past: number): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const perLayer = c.hiddenSize * (2 * q + 2 * kv) + 3 * c.hiddenSize * c.intermediateSize;
  const tokens = rows * seq;
  const attention = 4 * c.numAttentionHeads * c.headDim * tokens * (past + seq);
  return 2 * tokens * perLayer * c.numHiddenLayers + attention * c.numHiddenLayers + 2 * rows * c.vocabSize * c.hiddenSize;
}

interface CallStats {
  prefillMs: number;
  stepMs: number[];
  flops: number;
}

/** Wrap prefill/step of `lm` to time every call and count its FLOPs (states tracked for their cached length). */
function instrument(lm: CausalLM, config: LlamaConfig): CallStats {
  const stats: CallStats = { prefillMs: 0, stepMs: [], flops: 0 };
  const past = new WeakMap<DecodeState, number>();
  const prefill = lm.prefill.bind(lm);
  const step = lm.step.bind(lm);
  lm.prefill = async (prompts, request) => {
    const t0 = performance.now();
    const r = await prefill(prompts, request);
    stats.prefillMs += performance.now() - t0;
    const len = Math.max(...prompts.map((p) => p.length));
    stats.flops += forwardFlops(config, prompts.length, len, 0);
    past.set(r.state, len);
    return r;
  };
  lm.step = async (state, parents, tokens, request) => {
    const p = past.get(state) ?? 0;
    const t0 = performance.now();
    const r = await step(state, parents, tokens, request);
    stats.stepMs.push(performance.now() - t0);
    stats.flops += forwardFlops(config, parents.length, 1, p);
    past.set(r.state, p + 1);
    return r;
  };
  return stats;
}

// ---------------------------------------------------------------- encoder-decoder (#19)

/** Multiply-adds x 2 of a seq2seq decoder call: `rows` x `seq` new tokens over `past` cached ones, cross-attention over `enc` tokens (K/V cached), logits at the last position. */
function decoderFlops(c: Seq2SeqConfig, rows: number, seq: number, past: number, enc: number): number {
  const d = c.dModel;
  const perToken = (4 * d * d + 2 * d * d + 2 * d * c.decoderFfnDim) * c.decoderLayers; // self q,k,v,o; cross q,o; FFN
  const attention = 4 * d * ((past + seq) + enc) * c.decoderLayers;
  return 2 * rows * seq * perToken + rows * seq * attention + 2 * rows * c.vocabSize * d;
}

/** The encoder over `tokens` source tokens (one sentence), plus the decoder's cross-attention K/V of them. */
function encoderFlops(c: Seq2SeqConfig, tokens: number): number {
  const d = c.dModel;
  return 2 * tokens * ((4 * d * d + 2 * d * c.encoderFfnDim) * c.encoderLayers + 2 * d * d * c.decoderLayers) + 4 * d * tokens * tokens * c.encoderLayers;
}

/** Wrap prefill/step of a seq2seq LM: time every call and count its FLOPs (encoder included in prefill). */
function instrumentSeq2Seq(lm: CausalLM, config: Seq2SeqConfig): CallStats {
  const stats: CallStats = { prefillMs: 0, stepMs: [], flops: 0 };
  const lengths = new WeakMap<DecodeState, { past: number; enc: number }>();
  const prefill = lm.prefill.bind(lm);
  const step = lm.step.bind(lm);
  lm.prefill = async (prompts, request, sources) => {
    const t0 = performance.now();
    const r = await prefill(prompts, request, sources);
    stats.prefillMs += performance.now() - t0;
    const len = Math.max(...prompts.map((p) => p.length));
    const enc = Math.max(...(sources ?? []).map((s) => s.length));
    stats.flops += (sources ?? []).reduce((n, s) => n + encoderFlops(config, s.length), 0) + decoderFlops(config, prompts.length, len, 0, enc);
    lengths.set(r.state, { past: len, enc });
    return r;
  };
  lm.step = async (state, parents, tokens, request) => {
    const l = lengths.get(state) ?? { past: 0, enc: 0 };
    const t0 = performance.now();
    const r = await step(state, parents, tokens, request);
    stats.stepMs.push(performance.now() - t0);
    stats.flops += decoderFlops(config, parents.length, 1, l.past, l.enc);
    lengths.set(r.state, { past: l.past + 1, enc: l.enc });
    return r;
  };
  return stats;
}

// ---------------------------------------------------------------- machine matrix-product rate

/** float32 MatMul [m,k] x [k,n] in ONNX Runtime: best of `repeats` runs, in FLOP/s. */
async function matmulRate(threads: number, m = 512, k = 4096, n = 4096, repeats = 5): Promise<number> {
  const { onnx } = onnxProto;
  const F = onnx.TensorProto.DataType.FLOAT;
  const info = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: { name: "mm", node: [{ opType: "MatMul", input: ["a", "b"], output: ["c"] }], input: [info("a", [m, k]), info("b", [k, n])], output: [info("c", [m, n])] },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const a = new ort.Tensor("float32", Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), [m, k]);
  const b = new ort.Tensor("float32", Float32Array.from({ length: k * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5), [k, n]);
  let best = Infinity;
  for (let i = 0; i < repeats + 1; i++) {
    const t0 = performance.now();
    await session.run({ a, b });
    if (i > 0) best = Math.min(best, (performance.now() - t0) / 1000); // first run warms up
  }
  await session.release();
  return (2 * m * k * n) / best;
}

// ---------------------------------------------------------------- children

/** Run this file as a child (`--child kind ...args`); returns its JSON line and its peak RSS (VmHWM). */
async function runChild(args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, ["--expose-gc", "--max-old-space-size=8192", "--import", "tsx", THIS_FILE, "--child", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  if (code !== 0) throw new Error(`child ${args.join(" ")} exited with ${code}`);
  return JSON.parse(out.trim().split("\n").at(-1) as string) as Record<string, unknown>;
}

const peakRssMB = (): number => Math.round(process.resourceUsage().maxRSS / 1024);

function currentRssMB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : Math.round(process.memoryUsage().rss / 1e6);
}

async function childConvert(source: string, out: string, dtype: string): Promise<Record<string, unknown>> {
  const r = await convertCheckpoint(source, out, { dtype: dtype as ConvertDtype, force: true });
  return { seconds: +r.seconds.toFixed(1), input_gb: +(r.inputBytes / 1e9).toFixed(2), onnx_gb: +(r.onnxBytes / 1e9).toFixed(2), peak_rss_mb: peakRssMB() };
}

interface LinkRun {
  readonly batch: number;
  readonly sentences: readonly string[];
}

async function childLink(modelDir: string, kbPath: string, sentencesFile: string, threads: number, logitsFile: string): Promise<Record<string, unknown>> {
  const { runs, logitPrompts } = JSON.parse(readFileSync(sentencesFile, "utf8")) as { runs: LinkRun[]; logitPrompts: string[] };
  const seq2seq = existsSync(join(modelDir, "onnx", "encoder_model.onnx")); // #19: an mBART model folder
  // The matrix-product rate under the same conditions as the linking (the machine is shared): before and after.
  const rateBefore = await matmulRate(threads);
  const t0 = performance.now();
  const tokenizer = await loadTokenizer(modelDir);
  const lm = seq2seq ? await loadOnnxSeq2SeqLM(modelDir, { threads }) : await loadOnnxCausalLM(modelDir, { threads });
  const loadSeconds = (performance.now() - t0) / 1000;
  const rssAfterLoad = currentRssMB();
  const kb = openKnowledgeBase(kbPath);
  const scheme = seq2seq ? loadSeq2SeqScheme(modelDir, tokenizer, { verb: "es", language: "es" }) : undefined;
  const linker = new GenerativeLinker({ kb, lm, tokenizer, verb: "es", ...(scheme ? { scheme } : {}) });
  let rssMax = 0;
  let rssMaxAll = 0;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, currentRssMB());
    rssMaxAll = Math.max(rssMaxAll, rssMax);
  }, 100);
  const config = seq2seq ? null : loadLlamaConfig(modelDir);
  const stats = seq2seq ? instrumentSeq2Seq(lm, loadSeq2SeqConfig(modelDir)) : instrument(lm, config!);
  const encoderStart = () => ("encoderStats" in lm ? { ...lm.encoderStats } : { ms: 0, sentences: 0 });
  // Warm-up (ORT kernel set-up, first trie): one sentence for two tokens, not timed (a whole sentence costs minutes at 8B).
  await linker.sample(runs[0].sentences.slice(0, 1), { num_beams: BEAMS, batch_size: 1, max_new_tokens: 2 });
  const results: Record<string, unknown>[] = [];
  const topCodes: Record<string, (string | null)[]> = {};
  for (const run of runs) {
    const rssBefore = currentRssMB();
    rssMax = rssBefore;
    stats.prefillMs = 0;
    stats.stepMs = [];
    stats.flops = 0;
    const f0 = lm.forwardMs;
    const e0 = encoderStart();
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const out = await linker.sample(run.sentences, { num_beams: BEAMS, batch_size: run.batch });
    const wall = performance.now() - w0;
    const cpu = process.cpuUsage(c0);
    const forward = lm.forwardMs - f0;
    topCodes[`${run.batch}x${BEAMS}`] = out.map((r) => r.beams?.[0]?.pred_concept_code ?? null);
    const stepTotal = stats.stepMs.reduce((a, b) => a + b, 0);
    results.push({
      config: `${run.batch}x${BEAMS}`,
      sentences: run.sentences.length,
      seconds: +(wall / 1000).toFixed(2),
      cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      mentions_per_second: +(run.sentences.length / (wall / 1000)).toFixed(3),
      // On a shared machine the wall clock counts other jobs' time too: CPU seconds per mention are steadier.
      cpu_seconds_per_mention: +((cpu.user + cpu.system) / 1e6 / run.sentences.length).toFixed(3),
      ms_per_decode_step: +(stepTotal / Math.max(1, stats.stepMs.length)).toFixed(1),
      decode_steps: stats.stepMs.length,
      prefill_share: +(stats.prefillMs / wall).toFixed(3),
      share_outside_forward: +(1 - forward / wall).toFixed(3),
      gflop: +(stats.flops / 1e9).toFixed(1),
      gflops_per_second: +(stats.flops / 1e9 / (wall / 1000)).toFixed(2),
      ...(seq2seq ? { encoder_ms_per_sentence: +((encoderStart().ms - e0.ms) / Math.max(1, encoderStart().sentences - e0.sentences)).toFixed(1) } : {}),
      rss_before_mb: rssBefore,
      rss_max_mb: Math.max(rssMax, currentRssMB()),
    });
  }
  clearInterval(sampler);
  const rateAfter = await matmulRate(threads);
  // Last-position log-probs of a few prompts, for the quantization error (written as float32 rows).
  if (logitPrompts.length > 0 && config !== null) {
    const ids = logitPrompts.map((s) => tokenizer.encode(buildPrompt(parseMarkedSentence(s), "es")));
    const rows: Float32Array[] = [];
    for (const p of ids) {
      const { logProbs, state } = await lm.prefill([p]);
      const row = new Float32Array(logProbs.vocabSize);
      for (let i = 0; i < row.length; i++) row[i] = logProbs.logits[i] - logProbs.logZ[0];
      rows.push(row);
      state.dispose();
    }
    const all = new Float32Array(rows.length * config.vocabSize);
    rows.forEach((r, i) => all.set(r, i * config.vocabSize));
    writeFileSync(logitsFile, new Uint8Array(all.buffer));
  }
  await linker.close();
  const matmul = { before: +(rateBefore / 1e9).toFixed(1), after: +(rateAfter / 1e9).toFixed(1) };
  return { matmul_gflops_fp32: matmul, load_seconds: +loadSeconds.toFixed(1), rss_after_load_mb: rssAfterLoad, rss_while_linking_mb: rssMaxAll, peak_rss_mb: peakRssMB(), runs: results, top_codes: topCodes };
}

// ---------------------------------------------------------------- parent

/** What writeRandomCheckpoint reports, for a checkpoint written before (--checkpoint). */
function existingCheckpoint(dir: string): RandomCheckpointInfo {
  const config = loadLlamaConfig(dir);
  const weightFiles = readdirSync(dir).filter((f) => f.endsWith(".safetensors"));
  const parameterCount = llamaTensorSpecs(config).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  return { config, parameterCount, totalBytes: weightFiles.reduce((n, f) => n + statSync(join(dir, f)).size, 0), weightFiles };
}

function folderBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
}

/** RMSE of the log-prob differences relative to the std of the reference log-probs, over all rows. */
function relativeRmse(ref: Float32Array, other: Float32Array): number {
  let mean = 0;
  for (const v of ref) mean += v;
  mean /= ref.length;
  let varSum = 0;
  let errSum = 0;
  for (let i = 0; i < ref.length; i++) {
    varSum += (ref[i] - mean) ** 2;
    errSum += (other[i] - ref[i]) ** 2;
  }
  return Math.sqrt(errSum / ref.length) / Math.sqrt(varSum / ref.length);
}

function argmaxAgreement(ref: Float32Array, other: Float32Array, vocab: number): number {
  let same = 0;
  const rows = ref.length / vocab;
  const argmax = (a: Float32Array, r: number): number => {
    let best = 0;
    for (let i = 1; i < vocab; i++) if (a[r * vocab + i] > a[r * vocab + best]) best = i;
    return best;
  };
  for (let r = 0; r < rows; r++) if (argmax(ref, r) === argmax(other, r)) same++;
  return same / rows;
}

/**
 * The Llama-3 tokenizer's pieces of the bench corpus (the sentences and the KB's names), as SentencePiece pieces
 * (a leading space -> ▁): given to the random mBART's Unigram tokenizer, they make it cut the corpus about as finely
 * as Llama-3 does, so the two models decode names of about the same number of tokens (the published mBART-50
 * vocabulary is not on this machine; tokens per name are reported for both).
 */
async function llamaPieces(sentences: readonly string[], dir: string): Promise<string[]> {
  const tokDir = join(dir, "llama3-tokenizer");
  mkdirSync(tokDir, { recursive: true });
  writeTestTokenizer(tokDir);
  const tok = await loadTokenizer(tokDir);
  const names = readFileSync(join(SHARED, "kb-proxy-dev.tsv"), "utf8").split("\n").slice(1).map((l) => l.split("\t")[1]).filter((n): n is string => Boolean(n));
  const pieces = new Set<string>();
  for (const text of [...sentences, ...names.map((n) => `[x] es ${n}`)]) {
    for (const id of tok.encode(text, { addSpecialTokens: false })) {
      const s = tok.decode([id]);
      if (s.includes("\uFFFD") || s.trim() === "") continue;
      const piece = s.startsWith(" ") ? `\u2581${s.slice(1)}` : s;
      if (!piece.slice(1).includes(" ")) pieces.add(piece);
    }
  }
  return [...pieces].sort();
}

/** Mean tokens of `" es {name}"` over the KB's names, with the model folder's tokenizer. */
async function tokensPerName(modelDir: string): Promise<number> {
  const tok = await loadTokenizer(modelDir);
  const names = readFileSync(join(SHARED, "kb-proxy-dev.tsv"), "utf8").split("\n").slice(1).map((l) => l.split("\t")[1]).filter((n): n is string => Boolean(n)).slice(0, 5000);
  return +(names.reduce((n, name) => n + tok.encode(` es ${name}`, { addSpecialTokens: false }).length, 0) / names.length).toFixed(2);
}

interface ModelPlan {
  readonly preset: CheckpointPreset | "mbart-large-50";
  readonly dtypes: readonly ConvertDtype[];
  readonly sentences1x5: number;
  readonly sentences8x5: number;
  /** Sentences per batch of each run (5 beams each). */
  readonly batches: readonly number[];
  /** An existing checkpoint of the preset to use (kept), or null to write one. */
  readonly checkpoint: string | null;
}

let KEEP = false;

async function benchModel(plan: ModelPlan, dir: string, kbPath: string, allSentences: string[], threads: number, rate: number): Promise<Record<string, unknown>> {
  const ckpt = plan.checkpoint ?? join(dir, `${plan.preset}-hf`);
  const free0 = Math.round(freemem() / 1e9);
  const t0 = performance.now();
  if (plan.checkpoint === null) rmSync(ckpt, { recursive: true, force: true });
  const info =
    plan.checkpoint !== null
      ? existingCheckpoint(ckpt)
      : plan.preset === "mbart-large-50"
        ? await writeRandomSeq2SeqCheckpoint(ckpt, { preset: plan.preset, seed: 1, dtype: "BF16", extraPieces: await llamaPieces(allSentences, dir) })
        : await writeRandomCheckpoint(ckpt, { preset: plan.preset, seed: 1 });
  const writeSeconds = (performance.now() - t0) / 1000;
  const out: Record<string, unknown> = {
    preset: plan.preset,
    parameters: info.parameterCount,
    checkpoint: { files: info.weightFiles.length, gb: +(folderBytes(ckpt) / 1e9).toFixed(2), write_seconds: +writeSeconds.toFixed(1) },
    tokens_per_name: await tokensPerName(ckpt),
    free_memory_gb_at_start: free0,
    load_average_at_start: +loadavg()[0].toFixed(1), // a shared machine: other jobs slow every figure down
  };
  const sentencesFile = join(dir, `${plan.preset}-sentences.json`);
  const logitPrompts = allSentences.slice(0, 16);
  writeFileSync(
    sentencesFile,
    JSON.stringify({
      runs: [...plan.batches].sort((a, b) => a - b).map((batch) => ({ batch, sentences: allSentences.slice(0, Math.max(batch, batch === 1 ? plan.sentences1x5 : plan.sentences8x5)) })),
      logitPrompts: plan.dtypes.length > 1 && plan.preset !== "mbart-large-50" ? logitPrompts : [],
    }),
  );
  const perDtype: Record<string, unknown> = {};
  for (const dtype of plan.dtypes) {
    const modelDir = join(dir, `${plan.preset}-${dtype}`);
    console.error(`[capacity] ${plan.preset}: converting to ${dtype}`);
    const conversion = await runChild(["convert", ckpt, modelDir, dtype]);
    console.error(`[capacity] ${plan.preset} ${dtype}: linking`);
    const link = await runChild(["link", modelDir, kbPath, sentencesFile, String(threads), join(dir, `${plan.preset}-${dtype}.logprobs`)]);
    // Efficiency against the rate measured in the same child around the linking (same load on the machine).
    const m = link.matmul_gflops_fp32 as { before: number; after: number };
    const localRate = ((m.before + m.after) / 2) * 1e9;
    const runs = (link.runs as Record<string, number | string>[]).map((r) => ({
      ...r,
      decode_efficiency: +((r.gflops_per_second as number) * 1e9 / localRate).toFixed(3),
      decode_efficiency_vs_start_rate: +((r.gflops_per_second as number) * 1e9 / rate).toFixed(3),
    }));
    perDtype[dtype] = { load_average_after: +loadavg()[0].toFixed(1), conversion, model_gb_on_disk: +(folderBytes(modelDir) / 1e9).toFixed(2), ...link, runs };
    if (!KEEP) rmSync(modelDir, { recursive: true, force: true });
  }
  if (plan.dtypes.includes("fp32") && plan.dtypes.includes("int4") && plan.preset !== "mbart-large-50") {
    const vocab = loadLlamaConfig(ckpt).vocabSize;
    const read = (d: string): Float32Array => {
      const b = readFileSync(join(dir, `${plan.preset}-${d}.logprobs`));
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    };
    const ref = read("fp32");
    const q = read("int4");
    const codes = (d: string, k: string): (string | null)[] => (perDtype[d] as { top_codes: Record<string, (string | null)[]> }).top_codes[k] ?? [];
    const a = codes("fp32", "1x5");
    const b = codes("int4", "1x5");
    out.quantization_int4_vs_fp32 = {
      note: "random weights: agreement measures how far int4 moves the outputs, not linking accuracy",
      prompts: ref.length / vocab,
      logprob_rmse_relative_to_std: +relativeRmse(ref, q).toFixed(4),
      next_token_argmax_agreement: +argmaxAgreement(ref, q, vocab).toFixed(3),
      top_beam_code_agreement: +(a.filter((c, i) => c === b[i]).length / a.length).toFixed(3),
      sentences: a.length,
    };
  }
  for (const d of Object.values(perDtype)) delete (d as { top_codes?: unknown }).top_codes;
  out.dtypes = perDtype;
  if (!KEEP && plan.checkpoint === null) rmSync(ckpt, { recursive: true, force: true });
  return out;
}

/** `field` of `a` over `b` per dtype and run (1x5, 8x5), from benchModel results (inverted for costs). */
function speedRatios(a: unknown, b: unknown, dtypes: readonly string[], field: "mentions_per_second" | "cpu_seconds_per_mention" = "mentions_per_second"): Record<string, Record<string, number>> {
  const runsOf = (m: unknown, dtype: string): Record<string, number> => {
    const runs = (m as { dtypes: Record<string, { runs: Record<string, number | string>[] }> }).dtypes[dtype]?.runs ?? [];
    return Object.fromEntries(runs.map((r) => [r.config as string, field === "mentions_per_second" ? (r[field] as number) : 1 / (r[field] as number)]));
  };
  const out: Record<string, Record<string, number>> = {};
  for (const dtype of dtypes) {
    const x = runsOf(a, dtype);
    const y = runsOf(b, dtype);
    out[dtype] = Object.fromEntries(Object.keys(x).filter((k) => y[k] > 0).map((k) => [k, +(x[k] / y[k]).toFixed(2)]));
  }
  return out;
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: "string", default: join(ROOT, ".cache", "capacity") },
      keep: { type: "boolean", default: false },
      only: { type: "string" },
      threads: { type: "string", default: "2" },
      "sentences-1b": { type: "string", default: "8" },
      "sentences-8b": { type: "string", default: "2" },
      arch: { type: "string", default: "llama" },
      sentences: { type: "string", default: "8" },
      batches: { type: "string", default: "1,8" },
      dtypes: { type: "string" },
      checkpoint: { type: "string" },
    },
  });
  if (!existsSync(join(SHARED, "kb-proxy-dev.tsv"))) {
    console.log(JSON.stringify({ skipped: `no SPACCC data at ${SHARED}` }));
    return;
  }
  const dir = resolve(values.dir);
  KEEP = values.keep;
  mkdirSync(dir, { recursive: true });
  const threads = Number(values.threads);
  try {
    const kbPath = join(dir, "kb.sqlite");
    if (!existsSync(kbPath)) await buildKnowledgeBase(join(SHARED, "kb-proxy-dev.tsv"), kbPath);
    const sentences = readPredictionsTsv(join(SHARED, "predictions", "Llama_guided_with_SynCABEL.test-dev.tsv"))
      .rows.map((r) => r.sentence)
      .filter((s): s is string => typeof s === "string");
    const rate = await matmulRate(threads);
    const result: Record<string, unknown> = {
      machine: { threads, matmul_gflops_fp32: +(rate / 1e9).toFixed(1), matmul: "ORT float32 MatMul 512x4096 @ 4096x4096, best of 5" },
      beams: BEAMS,
    };
    if (values.arch === "mbart") {
      // #19: mbart-large-50 and the Llama-3.2-1B shape at the same dtypes, one model at a time.
      const n = Number(values.sentences);
      const dtypes: ConvertDtype[] = values.dtypes ? (values.dtypes.split(",") as ConvertDtype[]) : ["fp32", "int8", "int4"];
      result.load_average_at_start = loadavg().map((x) => +x.toFixed(1));
      result["mbart-large-50"] = await benchModel({ preset: "mbart-large-50", dtypes, sentences1x5: n, sentences8x5: n, batches: [1, 8], checkpoint: null }, dir, kbPath, sentences, threads, rate);
      result["llama-3.2-1b"] = await benchModel({ preset: "llama-3.2-1b", dtypes, sentences1x5: n, sentences8x5: n, batches: [1, 8], checkpoint: null }, dir, kbPath, sentences, threads, rate);
      result.load_average_at_end = loadavg().map((x) => +x.toFixed(1));
      result.mbart_over_llama_1b_mentions_per_second = speedRatios(result["mbart-large-50"], result["llama-3.2-1b"], dtypes);
      result.mbart_over_llama_1b_mentions_per_cpu_second = speedRatios(result["mbart-large-50"], result["llama-3.2-1b"], dtypes, "cpu_seconds_per_mention");
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    const n1 = Number(values["sentences-1b"]);
    const n8 = Number(values["sentences-8b"]);
    const batches = values.batches.split(",").map(Number);
    const dtypes = (fallback: ConvertDtype[]): ConvertDtype[] => (values.dtypes ? (values.dtypes.split(",") as ConvertDtype[]) : fallback);
    const checkpoint = values.checkpoint ? resolve(values.checkpoint) : null;
    if (values.only !== "8b") {
      result["llama-3.2-1b"] = await benchModel({ preset: "llama-3.2-1b", dtypes: dtypes(["fp32", "int4"]), sentences1x5: n1, sentences8x5: n1, batches, checkpoint }, dir, kbPath, sentences, threads, rate);
    }
    if (values.only !== "1b") {
      result["llama-3-8b"] = await benchModel({ preset: "llama-3-8b", dtypes: dtypes(["int4"]), sentences1x5: n8, sentences8x5: 8, batches, checkpoint }, dir, kbPath, sentences, threads, rate);
    }
    console.log(JSON.stringify(result, null, 2));
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const childIndex = process.argv.indexOf("--child");
if (childIndex >= 0) {
  const [kind, ...args] = process.argv.slice(childIndex + 1);
  const result =
    kind === "convert" ? await childConvert(args[0], args[1], args[2]) : await childLink(args[0], args[1], args[2], Number(args[3]), args[4]);
  console.log(JSON.stringify(result));
} else {
  await parent();
}
