/**
 * `npm run bench:rg`: retrieve-then-generate against full-trie constrained beam search, on the `npm run bench` model
 * (random-weight Llama, Llama-3 vocabulary, 4 layers, hidden 256) over the authors' marked SPACCC sentences and the
 * SPACCC proxy KB. Measured in one run, on the same sentences:
 *  - full:  the generative linker, beam search over the whole group trie (5 beams, batch 16);
 *  - score:     TF-IDF top-K, then the exact 5 best of the K names by teacher-forced score (prompt KV cache shared;
 *               prefixes that cannot reach the 5th best are skipped, which random weights rarely allow);
 *  - score_all: the exact score of every one of the K names (what fitting the retriever weight needs);
 *  - beam:      TF-IDF top-K, then beam search (5 beams) over a trie of the K names only.
 * Prints one JSON object: mentions/s (median of repeats), speed-ups over full, and agreement with full (how often
 * its top name is in the top-K, and how often each mode returns the same top name). Random weights decode at the
 * speed of trained ones, but agreement figures describe this random model only.
 *
 *   npm run bench:rg
 *   npm run bench:rg -- --sentences 32 --candidates 16,64
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { readPredictionsTsv } from "../src/data/predictions-tsv.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { GenerativeLinker } from "../src/linker/generative-linker.js";
import { lexicalRetriever, RetrieveGenerateLinker, type RetrieveGenerateMode } from "../src/linker/retrieve-generate.js";
import { loadOrBuildLexicalIndex } from "../src/linker/tfidf-linker.js";
import type { Linker, SampleOptions, SampleResult } from "../src/linker/types.js";
import { loadOnnxCausalLM } from "../src/lm/onnx-lm.js";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import { parseMarkedSentence } from "../src/markup/index.js";
import { writeRandomModel, type RandomModelShape } from "../src/testing/random-model.js";

const SHARED = fileURLToPath(new URL("../../shared/data/spaccc/", import.meta.url));
/** The model of bench/decode.bench.ts. */
const SHAPE: RandomModelShape = { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 688, seed: 1 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const topName = (r: SampleResult): string | undefined => r.beams?.[0]?.pred_concept_name;

/** Median wall time of `repeats` calls of sample() on the timed sentences, with the first call's results. */
async function timeCalls<T>(call: (sentences: readonly string[]) => Promise<T>, warmup: readonly string[], timed: readonly string[], repeats: number): Promise<{ seconds: number; results: T }> {
  await call(warmup);
  const seconds: number[] = [];
  let results: T | undefined;
  for (let k = 0; k < repeats; k++) {
    const t0 = performance.now();
    const r = await call(timed);
    seconds.push((performance.now() - t0) / 1000);
    results ??= r;
  }
  return { seconds: median(seconds), results: results! };
}

function timeLinker(linker: Linker, warmup: readonly string[], timed: readonly string[], options: SampleOptions, repeats: number): Promise<{ seconds: number; results: SampleResult[] }> {
  return timeCalls((s) => linker.sample(s, options), warmup, timed, repeats);
}

async function bench(sentenceCount: number, batchSize: number, numBeams: number, ks: readonly number[], repeats: number): Promise<Record<string, unknown>> {
  if (!existsSync(join(SHARED, "kb-proxy-dev.tsv"))) return { skipped: `no SPACCC data at ${SHARED}` };
  const work = mkdtempSync(join(tmpdir(), "syncabel-bench-rg-"));
  try {
    const modelDir = join(work, "model");
    await writeRandomModel(modelDir, SHAPE);
    await buildKnowledgeBase(join(SHARED, "kb-proxy-dev.tsv"), join(work, "kb.sqlite"));
    const kb = openKnowledgeBase(join(work, "kb.sqlite"));
    const tokenizer = await loadTokenizer(modelDir);
    const lm = await loadOnnxCausalLM(modelDir);
    const index = loadOrBuildLexicalIndex(kb).index;
    const rows = readPredictionsTsv(join(SHARED, "predictions", "Llama_guided_with_SynCABEL.test-dev.tsv")).rows;
    const sentences = rows.map((r) => r.sentence).filter((s): s is string => typeof s === "string").slice(0, sentenceCount + batchSize);
    const warmup = sentences.slice(0, batchSize);
    const timed = sentences.slice(batchSize, batchSize + sentenceCount);
    const options: SampleOptions = { num_beams: numBeams, batch_size: batchSize };

    const full = new GenerativeLinker({ kb, lm, tokenizer, verb: "es", owns: false });
    const fullRun = await timeLinker(full, warmup, timed, options, repeats);
    const fullTops = fullRun.results.map(topName);
    const parsed = timed.map((s) => parseMarkedSentence(s));

    const runs: Record<string, unknown>[] = [];
    for (const k of ks) {
      // How often full-trie beam search's answer is among the retriever's top-K (a bound on agreement).
      const inTopK = parsed.filter((s, i) => index.search(s.mention, s.group, k).some((c) => c.name === fullTops[i])).length;
      const t0 = performance.now();
      for (const s of parsed) index.search(s.mention, s.group, k);
      const retrieveSeconds = (performance.now() - t0) / 1000;
      const figures = (mode: string, seconds: number, same: number | undefined): Record<string, unknown> => ({
        mode,
        candidates: k,
        mentions_per_second_median: +(timed.length / seconds).toFixed(2),
        seconds_median: +seconds.toFixed(3),
        speedup_over_full_trie: +(fullRun.seconds / seconds).toFixed(2),
        retrieval_share: +(retrieveSeconds / seconds).toFixed(4),
        full_top_in_top_k: +(inTopK / timed.length).toFixed(3),
        ...(same === undefined ? {} : { same_top_as_full: +(same / timed.length).toFixed(3) }),
      });
      for (const mode of ["score", "beam"] as RetrieveGenerateMode[]) {
        const linker = new RetrieveGenerateLinker({ kb, lm, tokenizer, verb: "es", retriever: lexicalRetriever(index), candidates: k, mode, owns: false });
        const run = await timeLinker(linker, warmup, timed, options, repeats);
        runs.push(figures(mode, run.seconds, run.results.filter((r, i) => topName(r) === fullTops[i]).length));
        if (mode === "score") runs.push(figures("score_all", (await timeCalls((s) => linker.candidateScores(s), warmup, timed, repeats)).seconds, undefined));
      }
    }
    await lm.dispose();
    kb.close();
    return {
      model: { ...SHAPE, vocab: tokenizer.vocabSize },
      sentences: timed.length,
      batch_size: batchSize,
      num_beams: numBeams,
      repeats,
      full_trie: { mentions_per_second_median: +(timed.length / fullRun.seconds).toFixed(2), seconds_median: +fullRun.seconds.toFixed(3) },
      retrieve_generate: runs,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
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
    candidates: { type: "string", default: "16,64" },
    repeats: { type: "string", default: "3" },
  },
});
const ks = values.candidates.split(",").map(Number);
console.log(JSON.stringify(await bench(Number(values.sentences), Number(values["batch-size"]), Number(values.beams), ks, Number(values.repeats)), null, 2));
