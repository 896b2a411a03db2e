/**
 * `npm run bench:shard`: sharded link-docs, the full matrix. SPACCC dev (proxy KB) and BC5CDR dev (entities.txt,
 * every name for both labels), each with the TF-IDF linker and the hybrid linker (trained on the first
 * --train-docs documents of the training file: a subset, to keep the bench short), N = 1, 3, 7 shards run as
 * parallel child processes of the real CLI, then merge-predictions in another; for N = 3 one shard is killed
 * (SIGKILL) once it has written rows and resumed. Checks that every merged output and run record equal those of
 * one run without --shard, byte for byte (exit 1 otherwise), and prints JSON figures: wall seconds of the one run,
 * of each array of shards and of each merge, CPU seconds (user + sys, from GNU time when present) and the
 * linking rate each process reports (mentions/s while linking), for the sizing table of docs/deployment.md.
 *
 *   npm run bench:shard
 *   npm run bench:shard -- --only spaccc --shards 3 --train-docs 50
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildKnowledgeBase } from "../src/kb/index.js";
import { trainLinker } from "../src/linker/train-linker.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DATA = join(ROOT, "../shared/data/");
const CLI = join(ROOT, "test/cli/fixtures/cli-child.ts");
const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly seconds: number;
  /** user + sys CPU seconds (GNU time), when known. */
  readonly cpu?: number;
  /** The linking rate link-docs reports. */
  readonly mentionsPerSecond?: number;
}

/** The CLI in a child process; `onStart` may kill it. */
function cli(args: readonly string[], onStart?: (kill: () => void, progress: () => string) => void): Promise<Run> {
  const started = performance.now();
  const command = [process.execPath, "--import", "tsx", CLI, ...args];
  const child = GNU_TIME === undefined
    ? spawn(command[0] as string, command.slice(1), { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] })
    : spawn(GNU_TIME, ["-f", "CPU %U %S", ...command], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  // GNU time forwards the signal's death as its own exit; kill node through the time process group is not
  // needed: SIGKILL to time leaves node orphaned, so kill the node child itself via its pid from /proc.
  onStart?.(() => killNode(child.pid as number), () => stderr);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      const cpu = /CPU ([\d.]+) ([\d.]+)/.exec(stderr);
      const rate = [...stderr.matchAll(/([\d.]+) mentions\/s this run/g)].at(-1);
      resolve({
        code,
        signal,
        stderr,
        seconds: (performance.now() - started) / 1000,
        ...(cpu === null ? {} : { cpu: Number(cpu[1]) + Number(cpu[2]) }),
        ...(rate === undefined ? {} : { mentionsPerSecond: Number(rate[1]) }),
      });
    });
  });
}

/** SIGKILL the node process (the child itself, or the one GNU time runs). */
function killNode(pid: number): void {
  let target = pid;
  if (GNU_TIME !== undefined) {
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      if (children[0] !== undefined) target = Number(children[0]);
    } catch {
      // no /proc: kill the wrapper
    }
  }
  process.kill(target, "SIGKILL");
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** BC5CDR entities.txt (`id<TAB>name`, CRLF) as a KB TSV offering every name to both labels. */
function bc5cdrGazetteer(out: string): void {
  const lines = ["code\tterm\tgroup"];
  for (const raw of readFileSync(join(DATA, "bc5cdr/entities.txt"), "utf8").split(/\r?\n/)) {
    const tab = raw.indexOf("\t");
    if (tab < 0) continue;
    for (const group of ["Chemical", "Disease"]) lines.push(`${raw.slice(0, tab).trim()}\t${raw.slice(tab + 1).trim()}\t${group}`);
  }
  writeFileSync(out, `${lines.join("\n")}\n`);
}

/** The first `n` documents of a SPACCC TSV (rows grouped by filename). */
function spacccSubset(path: string, n: number, out: string): void {
  const [header, ...rows] = readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
  const keep = new Set<string>();
  const kept = rows.filter((r) => {
    const doc = r.split("\t")[0] as string;
    if (!keep.has(doc) && keep.size < n) keep.add(doc);
    return keep.has(doc);
  });
  writeFileSync(out, `${[header, ...kept].join("\n")}\n`);
}

/** The first `n` documents (blank-line separated blocks) of a PubTator file. */
function pubtatorSubset(path: string, n: number, out: string): void {
  const blocks = readFileSync(path, "utf8").split(/\n\s*\n/).filter((b) => b.trim() !== "");
  writeFileSync(out, `${blocks.slice(0, n).join("\n\n")}\n\n`);
}

interface Setting {
  readonly name: string;
  readonly format: "spaccc" | "pubtator";
  readonly dev: string;
  readonly kb: string;
  readonly extra: readonly string[];
}

async function benchSetting(s: Setting, linker: "tfidf" | "hybrid", shardCounts: readonly number[], work: string): Promise<Record<string, unknown>> {
  const base = ["link-docs", "--kb", s.kb, "--format", s.format, "--linker", linker, "--workers", "1", ...s.extra, s.dev];
  const single = join(work, `${s.name}-${linker}-single.tsv`);
  const one = await cli([...base, "-o", single]);
  if (one.code !== 0) throw new Error(`single run failed: ${one.stderr}`);
  const result: Record<string, unknown> = {
    setting: s.name,
    linker,
    single: { seconds: round(one.seconds), cpu_seconds: one.cpu === undefined ? null : round(one.cpu), mentions_per_s_linking: one.mentionsPerSecond ?? null },
  };
  let allEqual = true;
  for (const n of shardCounts) {
    const outs = Array.from({ length: n }, (_, k) => join(work, `${s.name}-${linker}-${k}of${n}.tsv`));
    const started = performance.now();
    let killedAfterRows = 0;
    const runs = await Promise.all(outs.map((out, k) => cli([...base, "--shard", `${k}/${n}`, "-o", out], n === 3 && k === 1 ? (kill) => {
      // Kill once a document is on disk (rows beyond the header), before the shard ends.
      const poll = setInterval(() => {
        const partial = `${out}.partial`;
        if (!existsSync(partial)) return;
        const rows = readFileSync(partial, "utf8").split("\n").length - 2;
        if (rows > 0) {
          killedAfterRows = rows;
          clearInterval(poll);
          kill();
        }
      }, 2);
      setTimeout(() => clearInterval(poll), 600_000).unref();
    } : undefined)));
    let resumed: Run | undefined;
    if (n === 3) {
      if (killedAfterRows === 0) throw new Error(`${s.name} ${linker}: shard 1/3 ended before it could be killed`);
      resumed = await cli([...base, "--shard", "1/3", "-o", outs[1] as string]);
    }
    const arraySeconds = (performance.now() - started) / 1000;
    for (const [k, r] of runs.entries()) if (!(n === 3 && k === 1) && r.code !== 0) throw new Error(`shard ${k}/${n} failed: ${r.stderr}`);
    if (resumed !== undefined && resumed.code !== 0) throw new Error(`resumed shard failed: ${resumed.stderr}`);
    const merged = join(work, `${s.name}-${linker}-merged-${n}.tsv`);
    const merge = await cli(["merge-predictions", ...outs, "-o", merged]);
    if (merge.code !== 0) throw new Error(`merge failed: ${merge.stderr}`);
    const equal = readFileSync(merged).equals(readFileSync(single)) && readFileSync(`${merged}.run.json`).equals(readFileSync(`${single}.run.json`));
    allEqual &&= equal;
    const cpu = runs.every((r) => r.cpu !== undefined) ? runs.reduce((a, r) => a + (r.cpu as number), 0) + (resumed?.cpu ?? 0) : undefined;
    result[`shards_${n}`] = {
      equal_to_single_run: equal,
      array_seconds: round(arraySeconds),
      cpu_seconds_all_shards: cpu === undefined ? null : round(cpu),
      shard_mentions_per_s_linking: runs.map((r) => r.mentionsPerSecond ?? null),
      merge_seconds: round(merge.seconds),
      ...(resumed === undefined ? {} : { killed_shard: "1/3", rows_on_disk_when_killed: killedAfterRows, resumed_documents_already_done: Number(/(\d+) already done/.exec(resumed.stderr)?.[1]) }),
    };
    process.stderr.write(`${s.name} ${linker} N=${n}: equal ${equal}, ${round(arraySeconds)} s\n`);
  }
  result.all_equal = allEqual;
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: "string" }, shards: { type: "string", default: "1,3,7" }, "train-docs": { type: "string", default: "100" } } });
  if (!existsSync(join(DATA, "spaccc/test-dev.tsv"))) {
    process.stdout.write(`${JSON.stringify({ skipped: `no benchmark data at ${DATA}` })}\n`);
    return;
  }
  const shardCounts = values.shards.split(",").map(Number);
  const trainDocs = Number(values["train-docs"]);
  const work = mkdtempSync(join(tmpdir(), "syncabel-bench-shard-"));
  try {
    const settings: Setting[] = [];
    const started = performance.now();
    if (values.only === undefined || values.only === "spaccc") {
      const kb = join(work, "spaccc.sqlite");
      await buildKnowledgeBase(join(DATA, "spaccc/kb-proxy-dev.tsv"), kb);
      const train = join(work, "spaccc-train-subset.tsv");
      spacccSubset(join(DATA, "spaccc/train.tsv"), trainDocs, train);
      settings.push({ name: "spaccc-dev", format: "spaccc", dev: join(DATA, "spaccc/test-dev.tsv"), kb, extra: [] });
      copyFileSync(kb, `${kb}.hybrid`);
      await trainLinker(`${kb}.hybrid`, { train: [{ path: train, format: "spaccc", textsDir: join(DATA, "spaccc/texts") }], folds: 2, seed: 1 });
    }
    if (values.only === undefined || values.only === "bc5cdr") {
      const gaz = join(work, "bc5cdr-kb.tsv");
      bc5cdrGazetteer(gaz);
      const kb = join(work, "bc5cdr.sqlite");
      await buildKnowledgeBase(gaz, kb);
      const train = join(work, "bc5cdr-train-subset.txt");
      pubtatorSubset(join(DATA, "bc5cdr/train_corpus.txt"), trainDocs, train);
      settings.push({ name: "bc5cdr-dev", format: "pubtator", dev: join(DATA, "bc5cdr/dev_corpus.txt"), kb, extra: [] });
      copyFileSync(kb, `${kb}.hybrid`);
      await trainLinker(`${kb}.hybrid`, { train: [{ path: train, format: "pubtator" }], folds: 2, seed: 1, restrictToKb: false });
    }
    const setupSeconds = (performance.now() - started) / 1000;
    const results: Record<string, unknown>[] = [];
    for (const s of settings) {
      for (const linker of ["tfidf", "hybrid"] as const) {
        results.push(await benchSetting(linker === "hybrid" ? { ...s, kb: `${s.kb}.hybrid` } : s, linker, shardCounts, work));
      }
    }
    const ok = results.every((r) => r.all_equal === true);
    process.stdout.write(`${JSON.stringify({ train_docs_for_hybrid: trainDocs, setup_seconds: round(setupSeconds), load_average_1min: round(loadavg()[0] ?? 0), all_equal: ok, results }, null, 2)}\n`);
    if (!ok) process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
