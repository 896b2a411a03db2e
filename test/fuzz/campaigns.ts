/**
 * The fuzz and fault campaigns. Each runs inputs until `ctx.stop()` and records findings in `ctx.counts`.
 * Expectations are independent of the code under test: line counts of the files we generated, the outputs of
 * an undamaged run, the documented exit statuses.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { quotedTsvFields } from "../../src/data/tsv.js";
import { ERROR_CODES } from "../../src/errors.js";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { writeRandomModel } from "../../src/testing/random-model.js";
import { goodReply, startScriptedChatServer } from "../synth/scripted-chat-server.js";
import { checkOutcome, compareMultisets, errorCodeOf, int, pick, runCli, startCliChild, type FuzzContext } from "./harness.js";
import { damage, gazetteerFile, GROUPS, markedSentence, pubtatorDataset, spacccDataset, term } from "./generators.js";

export interface KbEntryLite {
  readonly name: string;
  readonly group: string;
  readonly code: string;
}

/** A KB shared by the campaigns: ~`n` names over GROUPS, built once. */
export async function makeFuzzKb(dir: string, random: () => number, n = 400): Promise<{ path: string; names: KbEntryLite[] }> {
  const names: KbEntryLite[] = [];
  const seen = new Set<string>();
  while (names.length < n) {
    const name = term(random);
    const group = pick(random, GROUPS);
    if (seen.has(`${group}\u0000${name}`)) continue;
    seen.add(`${group}\u0000${name}`);
    names.push({ name, group, code: String(1000 + int(random, 0, n)) });
  }
  const tsv = join(dir, "fuzz-terms.tsv");
  writeFileSync(tsv, `code\tterm\tgroup\n${names.map((e) => `${e.code}\t${e.name}\t${e.group}`).join("\n")}\n`);
  const path = join(dir, "fuzz-kb.sqlite");
  await buildKnowledgeBase(tsv, path);
  return { path, names };
}

const tempFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /\.tmp(?:[.-]|$)|\.staging$/.test(f));

function leftovers(ctx: FuzzContext, dir: string, what: string): void {
  const left = tempFiles(dir);
  if (left.length > 0) ctx.finding("leftoverFiles", `${what}: ${left.join(", ")}`);
}

/** Lines `link` reads from stdin: any line end splits, blank lines are skipped. */
function inputLines(text: string): number {
  return text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== "").length;
}

/** 1. Generated marked sentences through `link` (TF-IDF): one output line per input line, typed errors. */
export async function sentencesCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }): Promise<void> {
  while (!ctx.stop()) {
    const n = int(ctx.random, 1, 20);
    const input = Array.from({ length: n }, () => markedSentence(ctx.random, kb.names)).join(pick(ctx.random, ["\n", "\r\n"])) + "\n";
    ctx.counts.inputs += n;
    const r = await runCli(["link", "--kb", kb.path, "--beams", String(int(ctx.random, 1, 6))], input);
    if (!checkOutcome(ctx, "link", r, [0, 1])) continue;
    const lines = r.out.split("\n").filter((l) => l !== "");
    const expected = inputLines(input);
    if (lines.length < expected) ctx.finding("rowsLost", `link: ${expected} sentences, ${lines.length} results`);
    if (lines.length > expected) ctx.finding("rowsDuplicated", `link: ${expected} sentences, ${lines.length} results`);
    let errors = 0;
    for (const l of lines) {
      let v: { error?: { code?: string }; beams?: unknown[] };
      try {
        v = JSON.parse(l) as typeof v;
      } catch {
        ctx.finding("crashes", `link: output line is not JSON: ${l.slice(0, 100)}`);
        continue;
      }
      if (v.error !== undefined) {
        errors++;
        if (typeof v.error.code !== "string" || !(v.error.code in ERROR_CODES)) ctx.finding("untypedErrors", `link: item error without a code: ${l.slice(0, 200)}`);
      }
    }
    if ((errors > 0) !== (r.code === 1)) ctx.finding("wrongExits", `link: exit ${r.code} with ${errors} failed sentence(s)`);
  }
}

/** Data lines a gazetteer reader must account for (LF-separated; blank lines and the TSV header excluded). */
function gazetteerDataLines(text: string, format: "tsv" | "jsonl"): number {
  const lines = text.split("\n").map((l, i) => {
    const t = l.endsWith("\r") ? l.slice(0, -1) : l;
    return i === 0 ? t.replace(/^\ufeff/, "") : t;
  });
  const nonBlank = lines.filter((l) => l.trim() !== "");
  return format === "tsv" ? Math.max(0, nonBlank.length - 1) : nonBlank.length;
}

/** 2. Generated terminology files through `kb build` and `kb info`. */
export async function gazetteerCampaign(ctx: FuzzContext): Promise<void> {
  const dir = join(ctx.dir, "gazetteers");
  mkdirSync(dir, { recursive: true });
  let k = 0;
  while (!ctx.stop()) {
    const file = gazetteerFile(ctx.random, int(ctx.random, 0, 60));
    const input = join(dir, `g${k}.${file.format}`);
    const out = join(dir, `g${k++}.sqlite`);
    writeFileSync(input, file.text);
    ctx.counts.inputs++;
    const r = await runCli(["kb", "build", input, "-o", out, "--json"]);
    if (!checkOutcome(ctx, `kb build ${input}`, r, [0, 1])) continue;
    leftovers(ctx, dir, `kb build ${input}`);
    if (r.code === 1) {
      if (existsSync(out)) ctx.finding("wrongExits", `kb build ${input}: failed but wrote ${out}`);
      continue;
    }
    const report = JSON.parse(r.out.trim().split("\n").at(-1) ?? "{}") as { rowsRead: number; rowsKept: number; rowsSkipped: number; names: number; concepts: number };
    const expected = gazetteerDataLines(file.text, file.format);
    if (report.rowsRead < expected) ctx.finding("rowsLost", `kb build ${input}: ${expected} data lines, ${report.rowsRead} read`);
    if (report.rowsRead > expected) ctx.finding("rowsDuplicated", `kb build ${input}: ${expected} data lines, ${report.rowsRead} read`);
    if (report.rowsKept + report.rowsSkipped !== report.rowsRead) ctx.finding("rowsLost", `kb build ${input}: kept + skipped != read`);
    const info = await runCli(["kb", "info", out, "--json"]);
    if (!checkOutcome(ctx, `kb info ${out}`, info, [0])) continue;
    const stats = JSON.parse(info.out) as { names: number; concepts: number };
    if (stats.names !== report.names || stats.concepts !== report.concepts) ctx.finding("rowsLost", `kb info ${out}: ${stats.names} names, build said ${report.names}`);
  }
}

/** 3. Generated SPACCC datasets through `link-docs` (TF-IDF) and `eval`; and with a wrong --format. */
export async function datasetCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }): Promise<void> {
  let k = 0;
  while (!ctx.stop()) {
    const dir = join(ctx.dir, `dataset${k++}`);
    mkdirSync(join(dir, "texts"), { recursive: true });
    const format = ctx.random() < 0.6 ? "spaccc" : "pubtator";
    if (format === "spaccc") {
      const data = spacccDataset(ctx.random, kb.names, int(ctx.random, 1, 12));
      writeFileSync(join(dir, "gold.tsv"), data.gold);
      for (const [id, text] of Object.entries(data.texts)) writeFileSync(join(dir, "texts", `${id}.txt`), text);
    } else {
      writeFileSync(join(dir, "gold.tsv"), pubtatorDataset(ctx.random, kb.names, int(ctx.random, 1, 12)));
    }
    ctx.counts.inputs++;
    const out = join(dir, "pred.tsv");
    const r = await runCli(["link-docs", "--kb", kb.path, "--format", format, join(dir, "gold.tsv"), "-o", out, "--beams", "3"]);
    if (checkOutcome(ctx, `link-docs ${dir}`, r, [0, 1])) {
      const m = /(\d+) documents, (\d+) mentions from/.exec(r.err);
      const mentions = m ? Number(m[2]) : 0;
      if (existsSync(out)) {
        const rows = readFileSync(out, "utf8").split("\n").filter((l) => l !== "").slice(1).map((l) => quotedTsvFields(l));
        if (rows.length < mentions) ctx.finding("rowsLost", `link-docs ${dir}: ${mentions} mentions, ${rows.length} rows`);
        if (rows.length > mentions) ctx.finding("rowsDuplicated", `link-docs ${dir}: ${mentions} mentions, ${rows.length} rows`);
        const failed = /(\d+) of (\d+) mentions of this run failed/.exec(r.err);
        if (r.code === 0 && failed) ctx.finding("wrongExits", `link-docs ${dir}: exit 0 with failed mentions`);
        if (r.code === 1 && !failed) ctx.finding("wrongExits", `link-docs ${dir}: exit 1, output complete, no failure count`);
        const e = await runCli(["eval", "--gold", join(dir, "gold.tsv"), "--format", format, "--predictions", out, "--resamples", "20"]);
        checkOutcome(ctx, `eval ${dir}`, e, [0, 1]);
      } else if (r.code === 0) ctx.finding("wrongExits", `link-docs ${dir}: exit 0 without an output`);
    }
    ctx.counts.inputs++;
    const wrong = await runCli(["link-docs", "--kb", kb.path, "--format", pick(ctx.random, ["spaccc", "pubtator", "bigbio", "brat"].filter((f) => f !== format)), join(dir, "gold.tsv"), "-o", join(dir, "wrong.jsonl")]);
    if (checkOutcome(ctx, `link-docs wrong format ${dir}`, wrong, [0, 1, 2]) && wrong.code === 0) ctx.finding("wrongExits", `link-docs ${dir}: exit 0 with the wrong --format`);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** JSONL answers equal up to float noise in scores (an index rebuilt from the tables rounds differently). */
function sameAnswers(a: string, b: string): boolean {
  const round = (text: string): string => text.replace(/-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g, (x) => Number(x).toPrecision(9));
  return round(a) === round(b);
}

/** 4. Damaged copies of a KB index through `link` and `kb info`: a typed error, or exactly the undamaged answers. */
export async function corruptKbCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }): Promise<void> {
  const dir = join(ctx.dir, "corrupt-kb");
  mkdirSync(dir, { recursive: true });
  const sentences = Array.from({ length: 12 }, (_, i) => {
    const e = kb.names[(i * 31) % kb.names.length] as KbEntryLite;
    return `Paciente con [${e.name}]{${e.group}} desde ayer.`;
  }).join("\n");
  const pristine = join(dir, "pristine.sqlite");
  copyFileSync(kb.path, pristine);
  const reference = await runCli(["link", "--kb", pristine, "--beams", "3"], sentences); // stores the lexical index in the file
  const referenceInfo = await runCli(["kb", "info", pristine, "--json"]);
  const infoBody = (s: string): string => s.replace(/^\{"path":"[^"]*",/, "{");
  let k = 0;
  while (!ctx.stop()) {
    const copy = join(dir, `damaged${k++}.sqlite`);
    writeFileSync(copy, damage(ctx.random, readFileSync(pristine)));
    ctx.counts.inputs++;
    const r = await runCli(["link", "--kb", copy, "--beams", "3"], sentences);
    if (checkOutcome(ctx, `link --kb ${copy}`, r, [0, 1])) {
      if (r.code === 0 && !sameAnswers(r.out, reference.out)) ctx.finding("wrongExits", `link --kb ${copy}: exit 0 with answers that differ from the undamaged index`);
      if (r.code === 1 && errorCodeOf(r.err) === undefined) ctx.finding("wrongExits", `link --kb ${copy}: sentences failed instead of KB_INDEX_INVALID`);
    }
    const info = await runCli(["kb", "info", copy, "--json"]);
    if (checkOutcome(ctx, `kb info ${copy}`, info, [0, 1]) && info.code === 0 && infoBody(info.out) !== infoBody(referenceInfo.out)) {
      ctx.finding("wrongExits", `kb info ${copy}: exit 0 with statistics that differ from the undamaged index`);
    }
    rmSync(copy, { force: true });
  }
}

/** A small random model folder shared by the model campaigns. */
export async function makeFuzzModel(dir: string): Promise<string> {
  const model = join(dir, "fuzz-model");
  if (!existsSync(join(model, "onnx", "model.onnx"))) await writeRandomModel(model, { layers: 1, hidden: 32, heads: 2, kvHeads: 1, intermediate: 64, seed: 3 });
  return model;
}

/** 5. Damaged model files through `link --model` in a child process (a native fault must not go unnoticed). */
export async function corruptModelCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }, model: string): Promise<void> {
  const files = ["onnx/model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json"];
  let k = 0;
  while (!ctx.stop()) {
    const copy = join(ctx.dir, `model${k}`);
    const kbCopy = join(ctx.dir, `model-kb${k++}.sqlite`);
    cpSync(model, copy, { recursive: true });
    copyFileSync(kb.path, kbCopy);
    const file = join(copy, pick(ctx.random, files));
    if (ctx.random() < 0.15) rmSync(file, { force: true });
    else writeFileSync(file, damage(ctx.random, readFileSync(file)));
    ctx.counts.inputs++;
    const e = kb.names[0] as KbEntryLite;
    const child = startCliChild(["link", "--kb", kbCopy, "--model", copy, "--beams", "2", "--max-new-tokens", "8", "--threads", "1", `Paciente con [${e.name}]{${e.group}}.`], { timeoutMs: 90_000 });
    const r = await child.done;
    if (checkOutcome(ctx, `link --model ${file}`, r, [0, 1]) && r.code === 0) {
      try {
        JSON.parse(r.out.trim());
      } catch {
        ctx.finding("crashes", `link --model ${file}: exit 0 without a JSON result`);
      }
    }
    rmSync(copy, { recursive: true, force: true });
    rmSync(kbCopy, { force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Kill a child running ARGS with SIGKILL after `waitText` appears on its stderr and a random delay. */
async function killSomewhere(ctx: FuzzContext, args: readonly string[], waitText: string, maxDelayMs: number): Promise<void> {
  const child = startCliChild(args, { timeoutMs: 120_000 });
  await child.waitForStderr(waitText);
  await sleep(int(ctx.random, 0, maxDelayMs));
  child.kill("SIGKILL");
  const r = await child.done;
  if (r.signal !== "SIGKILL" && r.code !== 0) checkOutcome(ctx, `killed ${args[0]}`, r, [0, 1]);
}

/** 6. kill -9 at random points of `link-docs`, then resume: the final output equals one uninterrupted run. */
export async function killLinkDocsCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }): Promise<void> {
  const dir = join(ctx.dir, "kill-link-docs");
  mkdirSync(join(dir, "texts"), { recursive: true });
  const data = spacccDataset(ctx.random, kb.names, 600);
  writeFileSync(join(dir, "gold.tsv"), data.gold);
  for (const [id, text] of Object.entries(data.texts)) writeFileSync(join(dir, "texts", `${id}.txt`), text);
  const args = (out: string): string[] => ["link-docs", "--kb", kb.path, "--format", "spaccc", join(dir, "gold.tsv"), "-o", out, "--beams", "3", "--batch-size", "4"];
  const reference = join(dir, "reference.tsv");
  const ref = await runCli(args(reference));
  if (!checkOutcome(ctx, "link-docs reference", ref, [0, 1])) return;
  const refLines = readFileSync(reference, "utf8").split("\n").filter((l) => l !== "");
  let k = 0;
  while (!ctx.stop()) {
    const out = join(dir, `out${k++}.tsv`);
    ctx.counts.inputs++;
    for (let kills = int(ctx.random, 1, 3); kills > 0; kills--) await killSomewhere(ctx, args(out), "mentions from", 1500);
    const r = await runCli(args(out));
    if (!checkOutcome(ctx, `link-docs resume ${out}`, r, [0, 1])) continue;
    const got = readFileSync(out, "utf8").split("\n").filter((l) => l !== "");
    const { lost, duplicated } = compareMultisets(refLines, got);
    if (lost > 0) ctx.finding("rowsLost", `link-docs ${out}: ${lost} rows of the uninterrupted run missing`);
    if (duplicated > 0) ctx.finding("rowsDuplicated", `link-docs ${out}: ${duplicated} rows extra`);
    if (lost === 0 && duplicated === 0 && got.join("\n") !== refLines.join("\n")) ctx.finding("rowsDuplicated", `link-docs ${out}: rows out of order`);
    rmSync(out, { force: true });
    rmSync(`${out}.run.json`, { force: true });
  }
}

/** 7. kill -9 at random points of `kb build`, then build again: a complete index or none, and no temp files left. */
export async function killKbBuildCampaign(ctx: FuzzContext): Promise<void> {
  const dir = join(ctx.dir, "kill-kb-build");
  mkdirSync(dir, { recursive: true });
  const rows = ["code\tterm\tgroup"];
  for (let i = 0; i < 30_000; i++) rows.push(`${i}\t${term(ctx.random)} ${i}\t${pick(ctx.random, GROUPS)}`);
  const input = join(dir, "terms.tsv");
  writeFileSync(input, `${rows.join("\n")}\n`);
  const ref = await runCli(["kb", "build", input, "-o", join(dir, "reference.sqlite"), "--json"]);
  if (!checkOutcome(ctx, "kb build reference", ref, [0])) return;
  const refInfo = (await runCli(["kb", "info", join(dir, "reference.sqlite"), "--json"])).out.replace(/^\{"path":"[^"]*",/, "{");
  let k = 0;
  while (!ctx.stop()) {
    const out = join(dir, `kb${k++}.sqlite`);
    ctx.counts.inputs++;
    // Kill while reading, or inside one of the build's phases (it names them on stderr).
    const phase = pick(ctx.random, ["", "indexing staged rows", "writing names", "writing concepts"]);
    await killSomewhere(ctx, ["kb", "build", input, "-o", out], phase, phase === "" ? 2500 : 400);
    if (existsSync(out)) {
      const info = await runCli(["kb", "info", out, "--json"]);
      if (info.code !== 0 || info.out.replace(/^\{"path":"[^"]*",/, "{") !== refInfo) ctx.finding("rowsLost", `kb build killed: ${out} exists but is not the complete index`);
    }
    const r = await runCli(["kb", "build", input, "-o", out, "--json"]);
    if (!checkOutcome(ctx, `kb build after kill ${out}`, r, [0])) continue;
    const info = await runCli(["kb", "info", out, "--json"]);
    if (info.out.replace(/^\{"path":"[^"]*",/, "{") !== refInfo) ctx.finding("rowsLost", `kb build ${out}: rebuilt index differs from the reference`);
    leftovers(ctx, dir, `kb build after kill ${out}`);
    rmSync(out, { force: true });
  }
}

/** 8. kill -9 at random points of `synth` against a local scripted server, then resume: every concept once. */
export async function killSynthCampaign(ctx: FuzzContext): Promise<void> {
  const dir = join(ctx.dir, "kill-synth");
  mkdirSync(dir, { recursive: true });
  const codes = Array.from({ length: 40 }, (_, i) => `S${i}`);
  const tsv = join(dir, "terms.tsv");
  writeFileSync(tsv, `code\tterm\tgroup\n${codes.map((c) => `${c}\tenfermedad ${c.toLowerCase()}\tENFERMEDAD`).join("\n")}\n`);
  const kb = join(dir, "kb.sqlite");
  await buildKnowledgeBase(tsv, kb);
  const server = await startScriptedChatServer(() => ({ kind: "content", content: goodReply(3) }), { delayMs: 25 });
  const args = (out: string): string[] => ["synth", "--kb", kb, "--endpoint", server.url, "--model", "m", "--language", "es", "--per-concept", "3", "--concurrency", "2", "-o", out];
  try {
    let k = 0;
    while (!ctx.stop()) {
      const out = join(dir, `synth${k++}.jsonl`);
      ctx.counts.inputs++;
      for (let kills = int(ctx.random, 1, 3); kills > 0; kills--) await killSomewhere(ctx, args(out), "", 2500);
      const r = await runCli(args(out));
      if (!checkOutcome(ctx, `synth resume ${out}`, r, [0])) continue;
      const records = readFileSync(out, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { type: string; code: string; index?: number });
      const markers = records.filter((x) => x.type === "concept").map((x) => x.code);
      const sentences = records.filter((x) => x.type === "sentence").map((x) => `${x.code}#${x.index}`);
      const m = compareMultisets(codes, markers);
      const s = compareMultisets(codes.flatMap((c) => [0, 1, 2].map((i) => `${c}#${i}`)), sentences);
      if (m.lost + s.lost > 0) ctx.finding("rowsLost", `synth ${out}: ${m.lost} concepts, ${s.lost} sentences missing`);
      if (m.duplicated + s.duplicated > 0) ctx.finding("rowsDuplicated", `synth ${out}: ${m.duplicated} concepts, ${s.duplicated} sentences twice`);
      rmSync(out, { force: true });
    }
  } finally {
    await server.close();
  }
}

/** 9. kill -9 at random points of `sft-data`, then run again: the same files as one uninterrupted run, no temp files. */
export async function killSftDataCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }): Promise<void> {
  const dir = join(ctx.dir, "kill-sft");
  mkdirSync(join(dir, "texts"), { recursive: true });
  const data = spacccDataset(ctx.random, kb.names, 400);
  writeFileSync(join(dir, "gold.tsv"), data.gold);
  for (const [id, text] of Object.entries(data.texts)) writeFileSync(join(dir, "texts", `${id}.txt`), text);
  const args = (out: string): string[] => ["sft-data", "--kb", kb.path, "--human", join(dir, "gold.tsv"), "-o", out];
  const reference = join(dir, "reference");
  const ref = await runCli(args(reference));
  if (!checkOutcome(ctx, "sft-data reference", ref, [0])) return;
  const files = ["train.jsonl", "dev.jsonl", "stats.json", "sft-config.yaml"];
  let k = 0;
  while (!ctx.stop()) {
    const out = join(dir, `out${k++}`);
    ctx.counts.inputs++;
    await killSomewhere(ctx, args(out), "", 2500);
    const r = await runCli(args(out));
    if (!checkOutcome(ctx, `sft-data after kill ${out}`, r, [0])) continue;
    for (const f of files) {
      const want = readFileSync(join(reference, f), "utf8").replaceAll(reference, out);
      const got = readFileSync(join(out, f), "utf8");
      if (want !== got) {
        const { lost, duplicated } = compareMultisets(want.split("\n"), got.split("\n"));
        ctx.finding(lost > 0 ? "rowsLost" : "rowsDuplicated", `sft-data ${out}/${f}: differs from the uninterrupted run (${lost} lines missing, ${duplicated} extra)`);
      }
    }
    leftovers(ctx, out, `sft-data after kill ${out}`);
    rmSync(out, { recursive: true, force: true });
  }
}

/** 10. kill -9 at random points of `model convert`, then convert again: a complete model folder or none. */
export async function killConvertCampaign(ctx: FuzzContext, model: string): Promise<void> {
  const dir = join(ctx.dir, "kill-convert");
  mkdirSync(dir, { recursive: true });
  const hf = join(dir, "hf");
  cpSync(model, hf, { recursive: true });
  rmSync(join(hf, "onnx"), { recursive: true, force: true });
  let k = 0;
  while (!ctx.stop()) {
    const out = join(dir, `converted${k++}`);
    ctx.counts.inputs++;
    await killSomewhere(ctx, ["model", "convert", hf, "-o", out], "", 3000);
    if (existsSync(out) && !existsSync(join(out, "onnx", "model.onnx"))) ctx.finding("rowsLost", `model convert killed: ${out} exists without onnx/model.onnx`);
    rmSync(out, { recursive: true, force: true });
    const r = await runCli(["model", "convert", hf, "-o", out]);
    if (!checkOutcome(ctx, `model convert after kill ${out}`, r, [0])) continue;
    if (!existsSync(join(out, "onnx", "model.onnx")) || !existsSync(join(out, "config.json"))) ctx.finding("rowsLost", `model convert ${out}: incomplete output`);
    const left = readdirSync(dir).filter((f) => f.startsWith(".") || /tmp|partial/.test(f));
    if (left.length > 0) ctx.finding("leftoverFiles", `model convert: ${left.join(", ")}`);
    rmSync(out, { recursive: true, force: true });
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One raw HTTP exchange on a socket: what the client sends, and how it misbehaves. */
async function rawExchange(port: number, send: readonly (string | Buffer)[], opts: { pauseMs?: number; hangUpAfterMs?: number; waitMs?: number }): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    const finish = (): void => {
      socket.destroy();
      resolve(got);
    };
    socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
    socket.on("error", () => finish());
    socket.on("close", () => finish());
    socket.on("connect", async () => {
      for (const part of send) {
        if (socket.destroyed) return;
        socket.write(part);
        if (opts.pauseMs) await sleep(opts.pauseMs);
      }
      if (opts.hangUpAfterMs !== undefined) setTimeout(finish, opts.hangUpAfterMs);
    });
    setTimeout(finish, opts.waitMs ?? 3000);
  });
}

/** 11. Abusive HTTP clients against `serve` (TF-IDF) on 127.0.0.1: it keeps answering well-behaved clients. */
export async function httpAbuseCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }): Promise<void> {
  const port = await freePort();
  const server = startCliChild(["serve", "--kb", kb.path, "--port", String(port), "--max-concurrent", "4"], { timeoutMs: 3_600_000 });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      await sleep(200);
    }
  }
  const e = kb.names[0] as KbEntryLite;
  const good = JSON.stringify({ sentences: [`Paciente con [${e.name}]{${e.group}}.`] });
  const post = (body: string | Buffer, headers: Record<string, string> = {}): Buffer =>
    Buffer.concat([Buffer.from(`POST /v1/link HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`), Buffer.from(body)]);
  const abuses: (() => Promise<string>)[] = [
    () => rawExchange(port, [post(good).subarray(0, 60)], { waitMs: 1500 }), // stops mid-body
    () => rawExchange(port, [post(good).subarray(0, 30)], { hangUpAfterMs: 50 }), // hangs up mid-headers
    () => rawExchange(port, ["GARBAGE / HTTP/9.9\r\n\r\n"], {}),
    () => rawExchange(port, [`POST /v1/link HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999\r\n\r\n{`], { waitMs: 1500 }),
    () => rawExchange(port, [post("{not json")], {}),
    () => rawExchange(port, [post(JSON.stringify({ sentences: Array.from({ length: 300 }, () => "x") }))], {}),
    () => rawExchange(port, [post(JSON.stringify({ sentences: [null, 1, { a: 1 }], num_beams: "many" }))], {}),
    () => rawExchange(port, [post(good)], { hangUpAfterMs: 1 }), // asks, then leaves at once
    () => rawExchange(port, ["POST /v1/link HTTP/1.1\r\n", "host: x\r\n", "content-length: 10\r\n"], { pauseMs: 300, waitMs: 1500 }), // slow headers
    () => rawExchange(port, [post(good, { "transfer-encoding": "chunked" })], {}),
    () => rawExchange(port, [Buffer.from(Array.from({ length: 2000 }, () => int(ctx.random, 0, 255)))], {}),
  ];
  try {
    while (!ctx.stop()) {
      const round = Array.from({ length: int(ctx.random, 1, 8) }, () => pick(ctx.random, abuses));
      ctx.counts.inputs += round.length;
      const replies = await Promise.all(round.map((f) => f()));
      for (const reply of replies) {
        const status = /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1];
        if (status === "500") ctx.finding("crashes", `serve answered 500: ${reply.slice(0, 300)}`);
        if (status !== undefined && status >= "400" && !/"code"\s*:\s*"[A-Z_]+"/.test(reply) && !/^HTTP\/1\.1 (400|408|413|431) /.test(reply)) {
          ctx.finding("untypedErrors", `serve error without a code: ${reply.slice(0, 200)}`);
        }
      }
      const started = Date.now();
      ctx.counts.inputs++;
      try {
        const res = await fetch(`${url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: good, signal: AbortSignal.timeout(10_000) });
        if (res.status !== 200) ctx.finding("wrongExits", `a well-behaved request got ${res.status} after abuse`);
        await res.text();
      } catch (err) {
        ctx.finding("hangs", `a well-behaved request got no answer in ${Date.now() - started} ms after abuse: ${(err as Error).message}`);
      }
    }
  } finally {
    server.kill("SIGTERM");
    const r = await server.done;
    if (r.signal !== null && r.signal !== "SIGTERM" && r.signal !== "SIGKILL") ctx.finding("crashes", `serve ended by ${r.signal}`);
    if (/UNCAUGHT|\[INTERNAL\]/.test(r.err)) ctx.finding("crashes", `serve: ${r.err.slice(0, 300)}`);
  }
}

/**
 * 12. Generated sentences through the generative linker (a random-weight model, in-process): one result per
 * sentence, typed errors, and every finished beam a KB name of its group with that name's code; cut beams last.
 */
export async function generativeSentencesCampaign(ctx: FuzzContext, kb: { path: string; names: KbEntryLite[] }, model: string): Promise<void> {
  const { openKnowledgeBase } = await import("../../src/kb/index.js");
  const { GenerativeLinker } = await import("../../src/linker/generative-linker.js");
  const { loadOnnxCausalLM } = await import("../../src/lm/onnx-lm.js");
  const { loadTokenizer } = await import("../../src/lm/tokenizer.js");
  const kbCopy = join(ctx.dir, "generative-kb.sqlite");
  copyFileSync(kb.path, kbCopy);
  const handle = openKnowledgeBase(kbCopy);
  const lm = await loadOnnxCausalLM(model, { threads: 1 });
  const tokenizer = await loadTokenizer(model);
  const linkers = [false, true].map((multipleAnswers) => new GenerativeLinker({ kb: handle, lm, tokenizer, verb: "es", multipleAnswers, owns: false }));
  try {
    while (!ctx.stop()) {
      const sentences = Array.from({ length: int(ctx.random, 1, 6) }, () => markedSentence(ctx.random, kb.names).slice(0, 400));
      ctx.counts.inputs += sentences.length;
      const linker = pick(ctx.random, linkers);
      let results;
      try {
        results = await linker.sample(sentences, { num_beams: int(ctx.random, 1, 5), max_new_tokens: int(ctx.random, 1, 12), batch_size: int(ctx.random, 1, 4) });
      } catch (e) {
        ctx.finding("crashes", `generative sample threw: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      if (results.length !== sentences.length) ctx.finding(results.length < sentences.length ? "rowsLost" : "rowsDuplicated", `generative: ${sentences.length} sentences, ${results.length} results`);
      for (const r of results) {
        if (r.error !== undefined) {
          if (!(r.error.code in ERROR_CODES)) ctx.finding("untypedErrors", `generative: ${JSON.stringify(r.error).slice(0, 200)}`);
          continue;
        }
        // Beams come ranked by score, cut ones among finished ones (transformers' order, issue 23).
        r.beams.forEach((b, i) => {
          if (i > 0 && b.beam_score > r.beams[i - 1].beam_score) ctx.finding("wrongExits", `generative: beams not ranked by score in ${r.sentence.slice(0, 80)}`);
        });
        for (const b of r.beams) {
          if (b.finished === false) continue;
          const parts = b.pred_concept_name.split("<SEP>");
          const codes = parts.map((p) => handle.lookup(p, b.semantic_group)?.code);
          if (codes.some((c) => c === undefined)) ctx.finding("wrongExits", `generative: finished beam ${JSON.stringify(b.pred_concept_name)} is not a KB name of ${b.semantic_group}`);
          // The authors' code string: each part's code, repeats kept.
          else if (b.pred_concept_code !== codes.join("+")) ctx.finding("wrongExits", `generative: ${b.pred_concept_name} reported ${b.pred_concept_code}`);
        }
      }
    }
  } finally {
    await lm.dispose();
    handle.close();
  }
}
