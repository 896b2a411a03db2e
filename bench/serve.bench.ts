/**
 * `npm run bench:serve`: the HTTP service under concurrent one-sentence clients, dynamic batching on vs. requests
 * taking turns. The model is the one of `npm run bench` (random weights, Llama-3 vocabulary, 4 layers, hidden 256;
 * written once to .cache/bench-model), the KB the SPACCC proxy KB, the sentences the authors' marked SPACCC
 * sentences. For 1, 4, 16 and 64 clients, each sending one sentence per request and the next as soon as the reply
 * comes, it prints sentences/s, p50/p99 request latency and CPU ms per sentence (the server process, ONNX Runtime's
 * threads included: the work done, less sensitive than wall time to other load on a shared machine) per mode
 * (requests taking turns, static batches, continuous batching), and the ratios to turn-taking, as one JSON object.
 * Modes alternate in rounds. `mean_batch` is the mean batch size (continuous: sentences decoding after each
 * admission). `batching_ceiling` (before and after the client runs) is the most batching can gain here: one
 * sentence's decoding step vs. a full batch's, per row, straight on the model.
 *
 *   npm run bench:serve
 *   npm run bench:serve -- --clients 1,16 --requests 48 --rounds 2 --batch-size 16   (requests per round and mode)
 */
import { fork } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readPredictionsTsv } from "../src/data/predictions-tsv.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { GenerativeLinker } from "../src/linker/generative-linker.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../src/lm/onnx-lm.js";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import { startLinkServer } from "../src/server/index.js";
import { writeRandomModel, type RandomModelShape } from "../src/testing/random-model.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = join(ROOT, "../shared/data/spaccc/");
const CACHE = join(ROOT, ".cache");
const SHAPE: RandomModelShape = { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 688, seed: 1 };

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The bench model and KB, written once under .cache/ (the model takes about a minute). */
async function benchFiles(): Promise<{ modelDir: string; kbPath: string }> {
  const modelDir = join(CACHE, "bench-model-l4-h256-s1");
  const kbPath = join(CACHE, "bench-spaccc-proxy-kb.sqlite");
  mkdirSync(CACHE, { recursive: true });
  if (!existsSync(join(modelDir, "onnx", "model.onnx"))) await writeRandomModel(modelDir, SHAPE);
  if (!existsSync(kbPath)) await buildKnowledgeBase(join(SHARED, "kb-proxy-dev.tsv"), kbPath);
  return { modelDir, kbPath };
}

interface RunFigures {
  readonly sentences_per_second: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly cpu_ms_per_sentence: number;
  readonly mean_batch: number;
  readonly requests: number;
  readonly errors: number;
}

interface Raw {
  seconds: number;
  /** CPU time of this process (ONNX Runtime's threads included): the work, whatever else loads the machine. */
  cpuMs: number;
  /** Model batches and the sentences in them (from the server's /metrics). */
  batches: number;
  batched: number;
  readonly latencies: number[];
  errors: number;
}

interface DriveJob {
  readonly url: string;
  readonly sentences: readonly string[];
  readonly first: number;
  readonly clients: number;
  readonly requests: number;
  readonly numBeams: number;
}

interface DriveResult {
  readonly latencies: number[];
  readonly errors: number;
  readonly seconds: number;
}

/** `clients` loops, each posting one sentence at a time, `requests` in all; wall time from first send to last reply. */
async function clientLoops(job: DriveJob): Promise<DriveResult> {
  let next = 0;
  const latencies: number[] = [];
  let errors = 0;
  const client = async (): Promise<void> => {
    for (let i = next++; i < job.requests; i = next++) {
      const t0 = performance.now();
      const res = await fetch(`${job.url}/v1/link`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sentences: [job.sentences[(job.first + i) % job.sentences.length]], num_beams: job.numBeams }),
      });
      const body = (await res.json()) as { results?: { error?: unknown }[] };
      if (res.status !== 200 || body.results?.[0]?.error !== undefined) errors++;
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: job.clients }, client));
  return { latencies, errors, seconds: (performance.now() - t0) / 1000 };
}

/**
 * The clients run in a child process, as real clients would: their HTTP and JSON work does not share the server's
 * event loop, and the server's CPU time below is the server's alone.
 */
async function drive(job: DriveJob, into: Raw): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), [CLIENT_FLAG], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const cpu0 = process.cpuUsage();
  const result = await new Promise<DriveResult>((resolve, reject) => {
    child.once("message", (m) => resolve(m as DriveResult));
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`client process exited with ${code}`)));
    child.send(job);
  });
  const cpu = process.cpuUsage(cpu0);
  into.cpuMs += (cpu.user + cpu.system) / 1000;
  into.seconds += result.seconds;
  into.latencies.push(...result.latencies);
  into.errors += result.errors;
}

/**
 * The most any batching can gain on this machine with this model: per-row time of a decoding step with one
 * sentence's beams vs. with `batchSize` sentences' beams (median of 8 steps each, same prompts' length, measured
 * in this run). A step's cost per row falls with more rows only while the model is bound by streaming its weights
 * rather than by arithmetic.
 */
async function batchingCeiling(lm: OnnxCausalLM, batchSize: number, numBeams: number): Promise<{ ms_per_step_one: number; ms_per_step_full: number; ceiling: number }> {
  const perStep = async (sentences: number): Promise<number> => {
    const rows = sentences * numBeams;
    const prompts = Array.from({ length: rows }, (_, r) => Array.from({ length: 60 }, (_, j) => 1000 + ((r * 7 + j * 13) % 5000)));
    const request = { tokens: prompts.map(() => Int32Array.from([5, 6, 7, 8, 9])) };
    let { state } = await lm.prefill(prompts, request);
    const times: number[] = [];
    for (let k = 0; k < 9; k++) {
      const t0 = performance.now();
      ({ state } = await lm.step(state, Int32Array.from({ length: rows }, (_, r) => r), Int32Array.from({ length: rows }, () => 100 + k), request));
      if (k > 0) times.push(performance.now() - t0);
    }
    state.dispose();
    return times.sort((a, b) => a - b)[times.length >> 1];
  };
  const one = await perStep(1);
  const full = await perStep(batchSize);
  return { ms_per_step_one: +one.toFixed(1), ms_per_step_full: +full.toFixed(1), ceiling: +((one * batchSize) / full).toFixed(2) };
}

function figures(raw: Raw): RunFigures {
  const sorted = [...raw.latencies].sort((a, b) => a - b);
  return {
    sentences_per_second: +(sorted.length / raw.seconds).toFixed(2),
    p50_ms: Math.round(quantile(sorted, 0.5)),
    p99_ms: Math.round(quantile(sorted, 0.99)),
    cpu_ms_per_sentence: Math.round(raw.cpuMs / sorted.length),
    mean_batch: +(raw.batched / Math.max(1, raw.batches)).toFixed(1),
    requests: sorted.length,
    errors: raw.errors,
  };
}

const CLIENT_FLAG = "--client-process";
const parsed = process.argv[2] === CLIENT_FLAG ? null : parseArgs({
  options: {
    clients: { type: "string", default: "1,4,16,64" },
    requests: { type: "string" },
    "batch-size": { type: "string", default: "16" },
    beams: { type: "string", default: "5" },
    threads: { type: "string" },
    rounds: { type: "string", default: "2" },
  },
});

async function main(values: NonNullable<typeof parsed>["values"]): Promise<Record<string, unknown>> {
  if (!existsSync(join(SHARED, "kb-proxy-dev.tsv"))) return { skipped: `no SPACCC data at ${SHARED}` };
  const { modelDir, kbPath } = await benchFiles();
  const tokenizer = await loadTokenizer(modelDir);
  const lm = await loadOnnxCausalLM(modelDir, values.threads === undefined ? {} : { threads: Number(values.threads) });
  const linker = new GenerativeLinker({ kb: openKnowledgeBase(kbPath), lm, tokenizer, verb: "es" });
  const rows = readPredictionsTsv(join(SHARED, "predictions", "Llama_guided_with_SynCABEL.test-dev.tsv")).rows;
  const sentences = rows.map((r) => r.sentence).filter((s): s is string => typeof s === "string");
  const batchSize = Number(values["batch-size"]);
  const numBeams = Number(values.beams);
  // Warm-up (trie load, ORT kernels), not timed.
  await linker.sample(sentences.slice(0, batchSize), { num_beams: numBeams, batch_size: batchSize });
  const ceilingBefore = await batchingCeiling(lm, batchSize, numBeams);

  const results: Record<string, unknown>[] = [];
  const rounds = Number(values.rounds);
  for (const clients of values.clients.split(",").map(Number)) {
    // Six requests per client by default: the batches reach their steady size (two made start-up and tail dominate).
    const requests = values.requests === undefined ? Math.max(48, 6 * clients) : Number(values.requests);
    const fresh = (): Raw => ({ seconds: 0, cpuMs: 0, batches: 0, batched: 0, latencies: [], errors: 0 });
    const modes = ["off", "static", "continuous"] as const;
    const raw = { off: fresh(), static: fresh(), continuous: fresh() };
    // Modes alternate in rounds over the same sentences, so a change of load on a shared machine hits them all.
    for (let round = 0; round < rounds; round++) {
      for (const batching of modes) {
        const server = await startLinkServer(linker, { port: 0, batching, batchSize, maxConcurrent: 1024 });
        const into = raw[batching];
        try {
          await drive({ url: server.url, sentences, first: round * requests, clients, requests, numBeams }, into);
          const metrics = await (await fetch(`${server.url}/metrics`)).text();
          into.batches += Number(/^syncabel_batch_sentences_count (\d+)$/m.exec(metrics)?.[1] ?? 0);
          into.batched += Number(/^syncabel_batch_sentences_sum (\d+)$/m.exec(metrics)?.[1] ?? 0);
        } finally {
          await server.close();
        }
      }
    }
    const off = figures(raw.off);
    const fixed = figures(raw.static);
    const cont = figures(raw.continuous);
    const ratio = (a: number, b: number): number => +(a / b).toFixed(2);
    const row = {
      clients,
      turn_taking: off,
      static_batching: fixed,
      continuous_batching: cont,
      throughput_ratio_static: ratio(fixed.sentences_per_second, off.sentences_per_second),
      throughput_ratio_continuous: ratio(cont.sentences_per_second, off.sentences_per_second),
      cpu_per_sentence_ratio_static: ratio(off.cpu_ms_per_sentence, fixed.cpu_ms_per_sentence),
      cpu_per_sentence_ratio_continuous: ratio(off.cpu_ms_per_sentence, cont.cpu_ms_per_sentence),
    };
    results.push(row);
    console.error(JSON.stringify(row));
  }
  const ceilingAfter = await batchingCeiling(lm, batchSize, numBeams);
  await linker.close();
  return { model: { ...SHAPE, vocab: tokenizer.vocabSize }, batch_size: batchSize, num_beams: numBeams, batching_ceiling: { before: ceilingBefore, after: ceilingAfter }, results };
}

if (parsed === null) {
  // Client process: one job from the parent, its figures back, then exit.
  process.once("message", (job) => {
    void clientLoops(job as DriveJob).then((r) => process.send!(r, () => process.exit(0)));
  });
} else {
  console.log(JSON.stringify(await main(parsed.values), null, 2));
}
