/**
 * `npm run parity`: `syncabel link` against Hugging Face transformers' own generate() (bench/parity_hf.py) on the
 * same random-weight Llama checkpoint (`syncabel model random`, HF layout + ONNX), KB and SPACCC marked sentences:
 * constrained, unconstrained and multiple answers (<SEP>), batch 1 and 8 (left padding), plus early_stopping
 * "never" and true. Prints one JSON object: per run, how many sentences get identical beams (names, codes, order),
 * and the beam-score differences. The Python side is written from the conventions (docs/decoding.md), not from the
 * authors' code. Needs torch + transformers 4.57 wheels on this machine (no network): it installs them into
 * .cache/parity-venv from local wheel folders, and skips with a message where they are absent.
 *
 *   npm run parity
 *   npm run parity -- --sentences 48 --python /path/to/python
 *   npm run parity -- --check-python      (only find or install the Python side; SYNCABEL_PARITY_VENV moves the venv)
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { readPredictionsTsv } from "../src/data/predictions-tsv.js";
import type { SampleResult } from "../src/linker/types.js";
import { hashString } from "../src/util/random.js";

const THIS_FILE = fileURLToPath(import.meta.url);
const ROOT = join(dirname(THIS_FILE), "..");
const SHARED = join(ROOT, "../shared/data/spaccc");
const WORK = join(ROOT, ".cache/parity");
const VENV = process.env.SYNCABEL_PARITY_VENV ?? join(ROOT, ".cache/parity-venv");
/** The checkpoint of issue 23's comparison with the authors' code. */
const MODEL_ARGS = ["--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--intermediate", "128", "--seed", "7"];
const GROUPS = ["ENFERMEDAD", "PROCEDIMIENTO", "SINTOMA"];
const NAMES_PER_GROUP = 40;

interface Run {
  readonly name: string;
  readonly constrained: boolean;
  readonly multiple_answers: boolean;
  readonly num_beams: number;
  readonly batch_size: number;
  readonly early_stopping?: boolean | "never";
}

const RUNS: Run[] = [1, 8].flatMap((b): Run[] => [
  { name: `constrained-5-beams-batch-${b}`, constrained: true, multiple_answers: false, num_beams: 5, batch_size: b },
  { name: `unconstrained-3-beams-batch-${b}`, constrained: false, multiple_answers: false, num_beams: 3, batch_size: b },
  { name: `multiple-answers-5-beams-batch-${b}`, constrained: true, multiple_answers: true, num_beams: 5, batch_size: b },
]);
RUNS.push(
  { name: "multiple-answers-5-beams-batch-8-early-never", constrained: true, multiple_answers: true, num_beams: 5, batch_size: 8, early_stopping: "never" },
  { name: "multiple-answers-5-beams-batch-8-early-true", constrained: true, multiple_answers: true, num_beams: 5, batch_size: 8, early_stopping: true },
);

if (process.argv[2] === "--cli") {
  // The CLI from the sources, in this child process: `syncabel ARGS`.
  const { main } = await import("../src/cli/main.js");
  process.exitCode = await main(process.argv.slice(3));
} else {
  await bench();
}

function skip(reason: string): never {
  console.log(JSON.stringify({ skipped: true, reason }));
  process.exit(0);
}

function syncabel(args: readonly string[], input?: string): string {
  const r = spawnSync(process.execPath, ["--import", "tsx", THIS_FILE, "--cli", ...args], { input: input ?? "", encoding: "utf8", maxBuffer: 1 << 30, cwd: ROOT });
  if (r.status !== 0) throw new Error(`syncabel ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A Python with torch and transformers 4.57, or why there is none. */
function findPython(given: string | undefined): { python?: string; reason?: string } {
  const check = (python: string): boolean => spawnSync(python, [join(ROOT, "bench/parity_hf.py"), "--check"], { encoding: "utf8" }).status === 0;
  if (given) return check(given) ? { python: given } : { reason: `${given} cannot import torch and transformers` };
  const python = join(VENV, "bin/python");
  if (existsSync(python) && check(python)) return { python };
  // Offline install from the wheel folders of this machine (pip's own configuration may add more).
  const indexes = ["--index-url", "file:///opt/pypi/simple", "--extra-index-url", "file:///opt/pypi-more/simple", "--find-links", "/opt/wheels"];
  try {
    if (!existsSync(python)) execFileSync("python3", ["-m", "venv", VENV], { stdio: "ignore" });
    const pip = [join(VENV, "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...indexes];
    execFileSync(pip[0], [...pip.slice(1), "torch", "tokenizers>=0.22,<0.23", "huggingface-hub<2", "safetensors", "numpy", "regex", "pyyaml", "packaging", "tqdm", "requests", "filelock"], { stdio: "ignore" });
    // transformers 4.57 pins huggingface-hub < 1.0, of which no wheel is here: installed without its pins.
    execFileSync(pip[0], [...pip.slice(1), "--no-deps", "transformers==4.57.6"], { stdio: "ignore" });
  } catch (e) {
    return { reason: `torch / transformers 4.57.6 wheels could not be installed offline into ${VENV}: ${(e as Error).message.split("\n")[0]}` };
  }
  return check(python) ? { python } : { reason: `${python} cannot import torch and transformers after installing them` };
}

/** Deterministic picks: items ordered by a hash of their key. */
function byHash<T>(items: readonly T[], key: (x: T) => string): T[] {
  return [...items].sort((a, b) => hashString(key(a)) - hashString(key(b)) || key(a).localeCompare(key(b)));
}

async function bench(): Promise<void> {
  const { values } = parseArgs({ options: { sentences: { type: "string", default: "36" }, python: { type: "string" }, "check-python": { type: "boolean" } } });
  const count = Number(values.sentences);
  if (values["check-python"]) {
    console.log(JSON.stringify(findPython(values.python)));
    return;
  }
  const predictionsFile = join(SHARED, "predictions/Llama_guided_with_SynCABEL.test-dev.tsv");
  if (!existsSync(predictionsFile) || !existsSync(join(SHARED, "kb-proxy-dev.tsv"))) skip(`no SPACCC data at ${SHARED}`);
  const { python, reason } = findPython(values.python);
  if (!python) skip(reason!);
  mkdirSync(WORK, { recursive: true });
  const t0 = performance.now();

  // Sentences: the authors' marked SPACCC sentences, the same number per group, composite (<SEP>) mentions first.
  const rows = readPredictionsTsv(predictionsFile).rows.filter((r) => r.sentence && r.annotation);
  const picked = GROUPS.flatMap((g) => {
    const own = byHash(rows.filter((r) => r.label === g), (r) => r.sentence!);
    const composite = own.filter((r) => r.annotation!.includes("<SEP>"));
    return [...composite.slice(0, 2), ...own.filter((r) => !composite.slice(0, 2).includes(r))].slice(0, Math.ceil(count / GROUPS.length));
  });
  const sentences = [...new Set(picked.map((r) => r.sentence!))].slice(0, count);

  // KB: per group, the gold names of those sentences, then other names of the proxy KB; only names with one code.
  const kbRows = readFileSync(join(SHARED, "kb-proxy-dev.tsv"), "utf8").split("\n").slice(1).filter(Boolean).map((l) => l.split("\t") as [string, string, string]);
  const codesOf = new Map<string, Set<string>>();
  for (const [code, name, group] of kbRows) codesOf.set(`${group}\t${name}`, (codesOf.get(`${group}\t${name}`) ?? new Set()).add(code));
  const kb: [string, string, string][] = [];
  for (const g of GROUPS) {
    const gold = picked.filter((r) => r.label === g).flatMap((r) => r.annotation!.split("<SEP>"));
    const names = [...new Set([...gold, ...byHash(kbRows.filter((r) => r[2] === g).map((r) => r[1]), (n) => n)])].filter((n) => codesOf.get(`${g}\t${n}`)?.size === 1);
    for (const name of names.slice(0, NAMES_PER_GROUP)) kb.push([[...codesOf.get(`${g}\t${name}`)!][0], name, g]);
  }
  writeFileSync(join(WORK, "kb.tsv"), `code\tterm\tgroup\n${kb.map((r) => r.join("\t")).join("\n")}\n`);
  writeFileSync(join(WORK, "sentences.txt"), `${sentences.join("\n")}\n`);
  const model = join(WORK, "model");
  if (!existsSync(join(model, "onnx/model.onnx"))) syncabel(["model", "random", "-o", model, ...MODEL_ARGS]);
  rmSync(join(WORK, "kb.sqlite"), { force: true });
  syncabel(["kb", "build", join(WORK, "kb.tsv"), "-o", join(WORK, "kb.sqlite"), "--json"]);
  const tSetup = performance.now();

  // Hugging Face.
  const spec = { model, verb: "es", kb, sentences, runs: RUNS };
  writeFileSync(join(WORK, "spec.json"), JSON.stringify(spec));
  const hfRun = spawnSync(python, [join(ROOT, "bench/parity_hf.py"), join(WORK, "spec.json"), join(WORK, "hf.json")], {
    encoding: "utf8",
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, OMP_NUM_THREADS: "1" },
  });
  if (hfRun.status !== 0) throw new Error(`bench/parity_hf.py failed (${hfRun.status})`);
  const hf = JSON.parse(readFileSync(join(WORK, "hf.json"), "utf8")) as { transformers: string; torch: string; runs: Record<string, HfBeam[][]> };
  const tHf = performance.now();

  // syncabel.
  const report: Record<string, unknown> = {};
  for (const run of RUNS) {
    const args = ["link", "--model", model, "--kb", join(WORK, "kb.sqlite"), "--beams", String(run.num_beams), "--batch-size", String(run.batch_size), "--threads", "1"];
    if (!run.constrained) args.push("--unconstrained");
    if (run.multiple_answers) args.push("--multiple-answers");
    if (run.early_stopping !== undefined) args.push("--early-stopping", String(run.early_stopping));
    const ours = syncabel(args, `${sentences.join("\n")}\n`).trim().split("\n").map((l) => JSON.parse(l) as SampleResult);
    report[run.name] = compare(sentences, ours, hf.runs[run.name]);
    console.error(`parity: ${run.name} compared`);
  }
  const tOurs = performance.now();
  console.log(
    JSON.stringify(
      {
        transformers: hf.transformers,
        torch: hf.torch,
        model: `syncabel model random ${MODEL_ARGS.join(" ")}`,
        kb_names: kb.length,
        sentences: sentences.length,
        runs: report,
        seconds: { setup: (tSetup - t0) / 1000, hugging_face: (tHf - tSetup) / 1000, syncabel: (tOurs - tHf) / 1000 },
      },
      null,
      2,
    ),
  );
}

interface HfBeam {
  readonly name: string;
  readonly code: string;
  readonly score: number;
  readonly tokens: number[];
  readonly filler: boolean;
}

/** Agreement of one run: identical beam lists (names, codes, order) and beam-score differences. */
function compare(sentences: readonly string[], ours: readonly SampleResult[], hf: readonly HfBeam[][]) {
  let identical = 0;
  let namesIdentical = 0;
  let codesIdentical = 0;
  let fillerDropped = 0;
  let beams = 0;
  const diffs: number[] = [];
  const mismatches: unknown[] = [];
  sentences.forEach((sentence, i) => {
    const mine = ours[i].beams ?? [];
    const theirs = hf[i].filter((b) => !b.filler);
    fillerDropped += hf[i].length - theirs.length;
    const sameNames = mine.length === theirs.length && mine.every((b, j) => b.pred_concept_name === theirs[j].name);
    const sameCodes = mine.length === theirs.length && mine.every((b, j) => b.pred_concept_code === theirs[j].code);
    namesIdentical += Number(sameNames);
    codesIdentical += Number(sameCodes);
    identical += Number(sameNames && sameCodes);
    mine.forEach((b, j) => {
      if (j >= theirs.length || b.pred_concept_name !== theirs[j].name) return;
      const a = Math.exp(theirs[j].score);
      diffs.push(Math.abs(a - b.beam_score) / Math.max(a, b.beam_score));
      beams++;
    });
    if (!(sameNames && sameCodes) && mismatches.length < 3) {
      mismatches.push({
        sentence,
        syncabel: mine.map((b) => `${b.pred_concept_name} | ${b.pred_concept_code} | ${b.beam_score.toExponential(6)}${b.finished === false ? " (cut)" : ""}`),
        hugging_face: theirs.map((b) => `${b.name} | ${b.code} | ${Math.exp(b.score).toExponential(6)}`),
      });
    }
  });
  diffs.sort((a, b) => a - b);
  return {
    sentences: sentences.length,
    identical,
    names_identical: namesIdentical,
    codes_identical: codesIdentical,
    beams_compared: beams,
    max_rel_score_diff: diffs.length ? diffs[diffs.length - 1] : null,
    median_rel_score_diff: diffs.length ? diffs[Math.floor(diffs.length / 2)] : null,
    hf_filler_beams_dropped: fillerDropped,
    ...(mismatches.length ? { mismatches } : {}),
  };
}
