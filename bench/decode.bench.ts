/**
 * `npm run bench`: decoding speed of the generative linker on a random-weight Llama of realistic shape (Llama-3
 * vocabulary, 4 layers, hidden 256) over the authors' marked SPACCC sentences, batch 16 x 5 beams, trie-constrained
 * against the SPACCC proxy KB; then the trie figures of bench/trie.bench.ts (1,000,000 synthetic names).
 * Prints one JSON object. Random weights decode at the speed of trained ones (same shapes, same work), though the
 * generated names' lengths follow the random model, not a trained one.
 *
 *   npm run bench                       (all)
 *   npm run bench -- --sentences 64 --names 200000
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { readPredictionsTsv } from "../src/data/predictions-tsv.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { GenerativeLinker } from "../src/linker/generative-linker.js";
import { loadOnnxCausalLM } from "../src/lm/onnx-lm.js";
import { writeRandomModel, type RandomModelShape } from "../src/testing/random-model.js";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import { benchTrie } from "./trie.bench.js";

const SHARED = fileURLToPath(new URL("../../shared/data/spaccc/", import.meta.url));
const SHAPE: RandomModelShape = { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 688, seed: 1 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function benchDecode(sentenceCount: number, batchSize: number, numBeams: number, repeats: number): Promise<Record<string, unknown>> {
  if (!existsSync(join(SHARED, "kb-proxy-dev.tsv"))) return { skipped: `no SPACCC data at ${SHARED}` };
  const work = mkdtempSync(join(tmpdir(), "syncabel-bench-"));
  try {
    const modelDir = join(work, "model");
    await writeRandomModel(modelDir, SHAPE);
    await buildKnowledgeBase(join(SHARED, "kb-proxy-dev.tsv"), join(work, "kb.sqlite"));
    const kb = openKnowledgeBase(join(work, "kb.sqlite"));
    const tokenizer = await loadTokenizer(modelDir);
    const lm = await loadOnnxCausalLM(modelDir);
    const linker = new GenerativeLinker({ kb, lm, tokenizer, verb: "es" });
    const rows = readPredictionsTsv(join(SHARED, "predictions", "Llama_guided_with_SynCABEL.test-dev.tsv")).rows;
    const sentences = rows.map((r) => r.sentence).filter((s): s is string => typeof s === "string").slice(0, sentenceCount + batchSize);
    const options = { num_beams: numBeams, batch_size: batchSize };

    // Warm-up batch (trie build/load, ORT kernel set-up), not timed.
    const trieStart = performance.now();
    await linker.sample(sentences.slice(0, batchSize), options);
    const warmupSeconds = (performance.now() - trieStart) / 1000;

    const timed = sentences.slice(batchSize, batchSize + sentenceCount);
    // One call, as link-docs makes them: the linker groups prompts of similar length into batches of batchSize.
    // Repeated `repeats` times; medians are reported (shared, noisy machine).
    const runs: { seconds: number; forwardShare: number; normalizeShare: number }[] = [];
    let beams = 0;
    let generated = 0;
    for (let k = 0; k < repeats; k++) {
      const f0 = lm.forwardMs;
      const n0 = lm.normalizeMs;
      const t0 = performance.now();
      const results = await linker.sample(timed, options);
      const wall = performance.now() - t0;
      runs.push({ seconds: wall / 1000, forwardShare: (lm.forwardMs - f0) / wall, normalizeShare: (lm.normalizeMs - n0) / wall });
      if (k === 0) {
        for (const r of results) {
          beams += r.beams?.length ?? 0;
          generated += r.beams?.[0] ? tokenizer.encode(` ${r.beams[0].pred_concept_name}`, { addSpecialTokens: false }).length : 0;
        }
      }
    }
    const seconds = median(runs.map((r) => r.seconds));
    await linker.close();
    return {
      model: { ...SHAPE, vocab: tokenizer.vocabSize },
      sentences: timed.length,
      batch_size: batchSize,
      num_beams: numBeams,
      warmup_seconds: +warmupSeconds.toFixed(2),
      repeats,
      mentions_per_second_median: +(timed.length / seconds).toFixed(2),
      seconds_median: +seconds.toFixed(3),
      share_outside_forward_median: +median(runs.map((r) => 1 - r.forwardShare)).toFixed(3),
      share_in_vocab_normalisation_median: +median(runs.map((r) => r.normalizeShare)).toFixed(3),
      beams_per_sentence: +(beams / timed.length).toFixed(2),
      mean_top_name_tokens: +(generated / timed.length).toFixed(2),
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
