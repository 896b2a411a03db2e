/**
 * `npm run bench:hf-seq2seq`: syncabel's mBART / BART path against Hugging Face transformers itself (never part of
 * npm test). Installs transformers + torch + sentencepiece from the wheels on the machine into .cache/hf-venv
 * (offline; once), then for each architecture:
 *
 *  1. our random checkpoint (HF layout) loaded by MBart/BartForConditionalGeneration.from_pretrained: missing and
 *     unexpected keys, and its log-probs against our converted ONNX model;
 *  2. a checkpoint made and saved by transformers itself (save_pretrained, safetensors, tied weights left out),
 *     converted by `syncabel model convert`: log-probs against HF's forward;
 *  3. constrained beam search: HF generate() with prefix_allowed_tokens_fn over the same trie, from the same decoder
 *     prompt, against the syncabel linker (names and sequences_scores);
 *  4. the Unigram tokenizer: the `tokenizers` library's ids against transformers.js's.
 *
 * Prints one JSON object. Usage: npm run bench:hf-seq2seq [-- --keep]
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertCheckpoint } from "../src/convert/convert.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { GenerativeLinker } from "../src/linker/generative-linker.js";
import { loadSeq2SeqScheme } from "../src/linker/seq2seq-prompt.js";
import { OnnxSeq2SeqLM } from "../src/lm/onnx-seq2seq-lm.js";
import { loadTokenizer } from "../src/lm/tokenizer.js";
import { parseMarkedSentence } from "../src/markup/index.js";
import { seq2seqConfigJson, writeRandomSeq2SeqCheckpoint, type RandomSeq2SeqShape } from "../src/testing/random-seq2seq.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VENV = join(ROOT, ".cache", "hf-venv");
const PYTHON = join(VENV, "bin", "python");
const SCRIPT = join(ROOT, "bench", "hf_seq2seq.py");
const PIP_SOURCES = ["--index-url", "file:///opt/pypi/simple", "--extra-index-url", "file:///opt/pypi-more/simple", "--find-links", "/opt/wheels"];

const NAMES = ["diabetes", "diabetes mellitus", "hipertensión arterial", "hipertensión pulmonar", "embolia pulmonar", "neumonía", "neumonía bacteriana", "asma", "insuficiencia cardiaca", "insuficiencia renal", "cirrosis hepática", "hepatitis", "anemia", "tuberculosis", "sepsis", "linfoma"];
const SENTENCES = [
  "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó signos de dificultad respiratoria.",
  "Antecedentes de [diabetes]{ENFERMEDAD} mal controlada.",
  "Ingresa por [insuficiencia cardiaca descompensada]{ENFERMEDAD}.",
];

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** The venv with transformers (4.57.6 when the wheels have it, else the newest they have), torch, sentencepiece. */
function ensureVenv(): string {
  if (!existsSync(PYTHON)) {
    mkdirSync(join(ROOT, ".cache"), { recursive: true });
    run("python3", ["-m", "venv", VENV]);
    const pip = join(VENV, "bin", "pip");
    try {
      run(pip, ["install", "-q", ...PIP_SOURCES, "transformers==4.57.6", "torch", "sentencepiece"]);
    } catch {
      run(pip, ["install", "-q", ...PIP_SOURCES, "transformers", "torch", "sentencepiece"]);
    }
  }
  return run(PYTHON, ["-c", "import transformers, torch; print(transformers.__version__, torch.__version__)"]).trim();
}

function py<T>(job: Record<string, unknown>): T {
  return JSON.parse(run(PYTHON, [SCRIPT], JSON.stringify(job)).trim().split("\n").at(-1)!) as T;
}

/** Max |our log p - HF log p| over whole rows, our logits read from one prefill per row. */
async function compareLogProbs(modelDir: string, hfDir: string, rows: { source: number[]; decoder: number[] }[]): Promise<{ maxAbsDiff: number; loadingInfo: unknown }> {
  const hf = py<{ logprobs: number[][]; loading_info: unknown }>({ op: "logprobs", dir: hfDir, rows });
  const lm = await OnnxSeq2SeqLM.load(modelDir, { threads: 2 });
  let max = 0;
  try {
    const { logProbs, state } = await lm.prefill(rows.map((r) => r.decoder), undefined, rows.map((r) => r.source));
    rows.forEach((_, i) => {
      for (let t = 0; t < logProbs.vocabSize; t++) max = Math.max(max, Math.abs(logProbs.logits[i * logProbs.vocabSize + t] - logProbs.logZ[i] - hf.logprobs[i][t]));
    });
    state.dispose();
  } finally {
    await lm.dispose();
  }
  return { maxAbsDiff: +max.toExponential(2), loadingInfo: hf.loading_info };
}

async function benchArch(arch: "mbart" | "bart", work: string): Promise<Record<string, unknown>> {
  const shape: RandomSeq2SeqShape = { arch, layers: 2, dModel: 64, heads: 4, ffn: 128 };
  const ours = join(work, `${arch}-ours`);
  const info = await writeRandomSeq2SeqCheckpoint(ours, { shape, seed: 3 });
  const converted = join(work, `${arch}-ours-onnx`);
  await convertCheckpoint(ours, converted, { force: true });
  const tok = await loadTokenizer(ours);
  const scheme = loadSeq2SeqScheme(ours, tok, { verb: "es", language: "es" });
  const rows = SENTENCES.map((s) => {
    const parsed = parseMarkedSentence(s);
    const { prompt, encoderInput } = scheme.inputs(parsed, 1024);
    return { source: encoderInput!, decoder: [...prompt, ...scheme.names.sequence(parsed.mention).slice(scheme.names.root.length, -1)] };
  });
  const ourCheckpoint = await compareLogProbs(converted, ours, rows);

  // A checkpoint transformers itself made and saved, with our tokenizer files beside it.
  const saved = join(work, `${arch}-hf`);
  const savedInfo = py<{ transformers: string }>({ op: "save", arch, dir: saved, seed: 5, config: seq2seqConfigJson(shape, info.tokenizer.vocabSize) });
  for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) cpSync(join(ours, f), join(saved, f));
  const savedConverted = join(work, `${arch}-hf-onnx`);
  await convertCheckpoint(saved, savedConverted, { force: true });
  const hfCheckpoint = await compareLogProbs(savedConverted, saved, rows);

  // Constrained beam search: the syncabel linker against generate() over the same trie.
  const tsv = join(work, `${arch}-kb.tsv`);
  writeFileSync(tsv, `code\tterm\tgroup\n${NAMES.map((n, i) => `${100 + i}\t${n}\tENFERMEDAD`).join("\n")}\n`);
  const kbPath = join(work, `${arch}-kb.sqlite`);
  await buildKnowledgeBase(tsv, kbPath);
  const kb = openKnowledgeBase(kbPath);
  const lm = await OnnxSeq2SeqLM.load(savedConverted, { threads: 2 });
  const linker = new GenerativeLinker({ kb, lm, tokenizer: tok, verb: "es", scheme, owns: false });
  const numBeams = 5;
  const ourResults = await linker.sample(SENTENCES, { num_beams: numBeams });
  const items = SENTENCES.map((s) => {
    const { prompt, encoderInput } = scheme.inputs(parseMarkedSentence(s), 1024);
    return { source: encoderInput, prompt, root: scheme.names.root, sequences: NAMES.map((n) => scheme.names.sequence(n)) };
  });
  const hf = py<{ results: { sequences: number[][]; scores: number[] }[] }>({ op: "generate", dir: saved, items, num_beams: numBeams, max_new_tokens: 32 });
  let sameNames = 0;
  let compared = 0;
  let maxScoreDiff = 0;
  const examples: unknown[] = [];
  hf.results.forEach((r, i) => {
    const hfNames = r.sequences.map((seq) => tok.decode(seq.filter((t) => t !== tok.eosTokenId && t !== tok.padTokenId), { skipSpecialTokens: true }).trim());
    const beams = ourResults[i].beams ?? [];
    beams.forEach((b, j) => {
      compared++;
      if (b.pred_concept_name === hfNames[j]) sameNames++;
      const k = hfNames.indexOf(b.pred_concept_name);
      if (k >= 0) maxScoreDiff = Math.max(maxScoreDiff, Math.abs(Math.log(b.beam_score) - r.scores[k]));
    });
    examples.push({ sentence: SENTENCES[i], syncabel: beams.map((b) => `${b.pred_concept_name} ${Math.log(b.beam_score).toFixed(5)}`).join(" | "), hf: hfNames.map((n, j) => `${n} ${r.scores[j].toFixed(5)}`).join(" | ") });
  });
  await lm.dispose();
  kb.close();

  const texts = [...SENTENCES, ...NAMES.map((n) => `[x] es ${n}`), "a<SEP>b", "Ñandú  café"];
  const hfIds = py<{ ids: number[][] }>({ op: "tokenize", file: join(ours, "tokenizer.json"), texts }).ids;
  const tokenizerAgreement = texts.filter((t, i) => JSON.stringify(tok.encode(t, { addSpecialTokens: false })) === JSON.stringify(hfIds[i])).length;
  return {
    transformers: savedInfo.transformers,
    our_checkpoint_loaded_by_hf: ourCheckpoint,
    hf_saved_checkpoint_converted: hfCheckpoint,
    beam_search: { beams_compared: compared, same_name_same_rank: sameNames, max_score_diff: +maxScoreDiff.toExponential(2), examples },
    tokenizer: { texts: texts.length, identical_ids: tokenizerAgreement },
  };
}

const keep = process.argv.includes("--keep");
const versions = ensureVenv();
const work = mkdtempSync(join(ROOT, ".cache", "hf-seq2seq-"));
try {
  const out: Record<string, unknown> = { python: versions };
  for (const arch of ["mbart", "bart"] as const) out[arch] = await benchArch(arch, work);
  console.log(JSON.stringify(out, null, 2));
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
}
