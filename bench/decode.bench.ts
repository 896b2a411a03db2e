/**
 * `npm run bench`: decoding speed of the generative linker on a random-weight Llama of realistic shape (Llama-3
 * vocabulary, 4 layers, hidden 256) over the authors' marked SPACCC sentences, batch 16 x 5 beams, trie-constrained
 * against the SPACCC proxy KB; then the trie figures of bench/trie.bench.ts (1,000,000 synthetic names).
 * Prints one JSON object. Random weights decode at the speed of trained ones (same shapes, same work), though the
 * generated names' lengths follow the random model, not a trained one.
 *
 * Decode efficiency: the FLOPs of the forward passes beam search needs (real tokens only; per row and layer the
 * q/k/v/o projections, attention over the row's own length and the MLP, plus lm_head at the one position read),
 * divided by wall time and by the machine's matrix-product rate, measured in the same run (a large float32 MatMul
 * on ONNX Runtime with the same threads). Three runs of the same weights compare:
 *   before        Optimum-style graph (logits at every prompt position), whole logit rows handed to JavaScript
 *   readout       the same graph, logits read out inside the graph (logZ + the trie children's logits only) and
 *                 the lm_head renamed at load to read the last position (src/lm/last-position-logits.ts)
 *   readout+keep  the same weights exported with num_logits_to_keep (the exporter's way to the same work)
 *
 *   npm run bench                       (all)
 *   npm run bench -- --sentences 64 --names 200000 --only decode
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { readPredictionsTsv } from "../src/data/predictions-tsv.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { GenerativeLinker } from "../src/linker/generative-linker.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../src/lm/onnx-lm.js";
import type { CausalLM, DecodeState, LogitRequest, StepResult } from "../src/lm/types.js";
import { writeRandomModel, type RandomModelShape } from "../src/testing/random-model.js";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import { benchTrie } from "./trie.bench.js";

const SHARED = fileURLToPath(new URL("../../shared/data/spaccc/", import.meta.url));
const SHAPE: RandomModelShape = { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 688, seed: 1 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** FLOPs of one token's forward pass attending `length` positions (itself included), with or without lm_head. */
function tokenFlops(length: number, withHead: boolean, vocab: number): number {
  const { layers, hidden: H, heads, kvHeads, intermediate: I } = SHAPE;
  const D = H / heads;
  const projections = 2 * H * (2 * heads * D + 2 * kvHeads * D);
  const attention = 2 * 2 * heads * D * length;
  const mlp = 2 * 3 * H * I;
  return layers * (projections + attention + mlp) + (withHead ? 2 * H * vocab : 0);
}

/** A CausalLM wrapper counting the FLOPs beam search needs and the time of prefill and steps. */
class CountingLM implements CausalLM {
  flops = 0;
  prefillMs = 0;
  stepMs = 0;
  steps = 0;
  stepRows = 0;
  private lengths = new Int32Array(0);

  constructor(private readonly lm: OnnxCausalLM) {}

  get vocabSize(): number {
    return this.lm.vocabSize;
  }

  get forwardMs(): number {
    return this.lm.forwardMs;
  }

  async prefill(prompts: readonly (readonly number[])[], request?: LogitRequest): Promise<StepResult> {
    const t = performance.now();
    const out = await this.lm.prefill(prompts, request);
    this.prefillMs += performance.now() - t;
    for (const p of prompts) for (let i = 1; i <= p.length; i++) this.flops += tokenFlops(i, i === p.length, this.vocabSize);
    this.lengths = Int32Array.from(prompts, (p) => p.length);
    return out;
  }

  async step(state: DecodeState, parents: Int32Array, tokens: Int32Array, request?: LogitRequest): Promise<StepResult> {
    const t = performance.now();
    const out = await this.lm.step(state, parents, tokens, request);
    this.stepMs += performance.now() - t;
    this.steps++;
    this.stepRows += parents.length;
    this.lengths = Int32Array.from(parents, (p) => this.lengths[p] + 1);
    for (const length of this.lengths) this.flops += tokenFlops(length, true, this.vocabSize);
    return out;
  }

  dispose(): Promise<void> {
    return this.lm.dispose();
  }
}

/** GFLOP/s of a [m, k] x [k, n] float32 MatMul (constant B, as model weights are) on ONNX Runtime. */
async function matmulRate(threads: number, m = 512, k = 1024, n = 4096): Promise<number> {
  const { onnx } = onnxProto;
  const F = onnx.TensorProto.DataType.FLOAT;
  const b = new Float32Array(k * n).map((_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "matmul",
      node: [{ opType: "MatMul", input: ["a", "b"], output: ["c"] }],
      initializer: [{ name: "b", dims: [k, n], dataType: F, rawData: new Uint8Array(b.buffer) }],
      input: [{ name: "a", type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: m }, { dimValue: k }] } } } }],
      output: [{ name: "c", type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: m }, { dimValue: n }] } } } }],
    },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 });
  const feeds = { a: new ort.Tensor("float32", new Float32Array(m * k).fill(0.5), [m, k]) };
  await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  await session.release();
  return (2 * m * k * n) / (median(times) * 1e6);
}

interface RunFigures {
  seconds: number;
  prefillMs: number;
  stepMs: number;
  steps: number;
  stepRows: number;
  forwardMs: number;
  flops: number;
}

async function linkOnce(modelDir: string, readout: boolean, kbPath: string, sentences: readonly string[], options: { num_beams: number; batch_size: number }, warmup: readonly string[]): Promise<RunFigures> {
  const kb = openKnowledgeBase(kbPath);
  const tokenizer = await loadTokenizer(modelDir);
  const lm = new CountingLM(await loadOnnxCausalLM(modelDir, { logitReadout: readout }));
  const linker = new GenerativeLinker({ kb, lm, tokenizer, verb: "es" });
  try {
    await linker.sample(warmup, options);
    Object.assign(lm, { flops: 0, prefillMs: 0, stepMs: 0, steps: 0, stepRows: 0 });
    const f0 = lm.forwardMs;
    const t0 = performance.now();
    await linker.sample(sentences, options);
    const wall = performance.now() - t0;
    return { seconds: wall / 1000, prefillMs: lm.prefillMs, stepMs: lm.stepMs, steps: lm.steps, stepRows: lm.stepRows, forwardMs: lm.forwardMs - f0, flops: lm.flops };
  } finally {
    await linker.close();
  }
}

function figures(runs: RunFigures[], sentenceCount: number, gflops: number): Record<string, number> {
  const m = (f: (r: RunFigures) => number): number => median(runs.map(f));
  const seconds = m((r) => r.seconds);
  const achieved = m((r) => r.flops / r.seconds / 1e9);
  return {
    seconds_median: +seconds.toFixed(3),
    mentions_per_second: +(sentenceCount / seconds).toFixed(2),
    prefill_ms: +m((r) => r.prefillMs).toFixed(0),
    ms_per_step: +m((r) => r.stepMs / r.steps).toFixed(1),
    mean_rows_per_step: +m((r) => r.stepRows / r.steps).toFixed(1),
    steps: m((r) => r.steps),
    share_outside_forward: +m((r) => 1 - r.forwardMs / (r.seconds * 1000)).toFixed(3),
    needed_gflop: +m((r) => r.flops / 1e9).toFixed(2),
    achieved_gflops: +achieved.toFixed(1),
    efficiency: +(achieved / gflops).toFixed(3),
  };
}

async function benchDecode(sentenceCount: number, batchSize: number, numBeams: number, repeats: number): Promise<Record<string, unknown>> {
  if (!existsSync(join(SHARED, "kb-proxy-dev.tsv"))) return { skipped: `no SPACCC data at ${SHARED}` };
  const work = mkdtempSync(join(tmpdir(), "syncabel-bench-"));
  try {
    const allDir = join(work, "model");
    const keepDir = join(work, "model-keep");
    await writeRandomModel(allDir, SHAPE);
    await writeRandomModel(keepDir, SHAPE, { logits: "num_logits_to_keep" });
    const kbPath = join(work, "kb.sqlite");
    await buildKnowledgeBase(join(SHARED, "kb-proxy-dev.tsv"), kbPath);
    const tokenizer = await loadTokenizer(allDir);
    const rows = readPredictionsTsv(join(SHARED, "predictions", "Llama_guided_with_SynCABEL.test-dev.tsv")).rows;
    const sentences = rows.map((r) => r.sentence).filter((s): s is string => typeof s === "string").slice(0, sentenceCount + batchSize);
    const warmup = sentences.slice(0, batchSize);
    const timed = sentences.slice(batchSize, batchSize + sentenceCount);
    const options = { num_beams: numBeams, batch_size: batchSize };
    const threads = availableParallelism();

    // Shared, noisy machine: configurations interleaved, matrix-product rate measured between them; medians.
    const rates: number[] = [];
    const runs: Record<string, RunFigures[]> = { before: [], readout: [], "readout+keep": [] };
    for (let k = 0; k < repeats; k++) {
      rates.push(await matmulRate(threads));
      runs.before.push(await linkOnce(allDir, false, kbPath, timed, options, warmup));
      runs.readout.push(await linkOnce(allDir, true, kbPath, timed, options, warmup));
      runs["readout+keep"].push(await linkOnce(keepDir, true, kbPath, timed, options, warmup));
    }
    rates.push(await matmulRate(threads));
    const gflops = median(rates);
    const table = Object.fromEntries(Object.entries(runs).map(([name, r]) => [name, figures(r, timed.length, gflops)]));
    return {
      model: { ...SHAPE, vocab: tokenizer.vocabSize },
      sentences: timed.length,
      batch_size: batchSize,
      num_beams: numBeams,
      threads,
      repeats,
      matmul_gflops: +gflops.toFixed(1),
      matmul_gflops_runs: rates.map((r) => +r.toFixed(1)),
      ...table,
      speedup_mentions_per_second: +(table["readout+keep"].mentions_per_second / table.before.mentions_per_second).toFixed(2),
      prefill_speedup: +(table.before.prefill_ms / table.readout.prefill_ms).toFixed(2),
      // ~1: the load-time rename does what an export with num_logits_to_keep does.
      prefill_renamed_vs_keep: +(table.readout.prefill_ms / table["readout+keep"].prefill_ms).toFixed(2),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const { values } = parseArgs({
  options: {
    sentences: { type: "string", default: "64" },
    "batch-size": { type: "string", default: "16" },
    beams: { type: "string", default: "5" },
    repeats: { type: "string", default: "3" },
    names: { type: "string", default: "1000000" },
    only: { type: "string" },
  },
});
const out: Record<string, unknown> = {};
if (values.only !== "trie") out.decode = await benchDecode(Number(values.sentences), Number(values["batch-size"]), Number(values.beams), Number(values.repeats));
if (values.only !== "decode") out.trie = await benchTrie(Number(values.names));
console.log(JSON.stringify(out, null, 2));
