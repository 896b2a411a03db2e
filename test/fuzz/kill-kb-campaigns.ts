/**
 * kill -9 campaigns of the commands that write a KB index (issue 16): `kb add-mentions`, `train-linker --train`,
 * `kb build --train` over an existing index, the first `link` (which stores the TF-IDF index), and
 * `link-docs --workers 2` (whose workers store it). After each kill the KB must open and be exactly in its state
 * before the command or after it (training memory, stored artifacts, `kb info`, and the answers of `link` on a
 * fixed set of sentences); running the command again must then give the after state. The states are measured
 * independently of the code under test: rows and checksums read with SQL, answers of an uninterrupted run.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { checkOutcome, compareMultisets, int, pick, runCli, startCliChild, type FuzzContext } from "./harness.js";
import { GROUPS, markedSentence, spacccDataset, term } from "./generators.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Entry {
  readonly name: string;
  readonly group: string;
  readonly code: string;
}

/** Everything the campaigns share: terms, two training files, the sentences whose answers are compared. */
interface Fixture {
  readonly dir: string;
  readonly names: readonly Entry[];
  readonly terms: string;
  /** A smaller terminology: the KB an interrupted `kb build` over an existing index replaces. */
  readonly oldTerms: string;
  readonly trainA: string;
  readonly trainB: string;
  readonly sentences: string;
  readonly linkDocsInput: string;
}

function writeTraining(dir: string, data: ReturnType<typeof spacccDataset>): string {
  mkdirSync(join(dir, "texts"), { recursive: true });
  writeFileSync(join(dir, "train.tsv"), data.gold);
  for (const [id, text] of Object.entries(data.texts)) writeFileSync(join(dir, "texts", `${id}.txt`), text);
  return join(dir, "train.tsv");
}

function makeFixture(ctx: FuzzContext, dir: string, n: number): Fixture {
  mkdirSync(dir, { recursive: true });
  const names: Entry[] = [];
  const seen = new Set<string>();
  while (names.length < n) {
    const name = `${term(ctx.random)} ${names.length % 97}`;
    const group = pick(ctx.random, GROUPS);
    if (seen.has(`${group}\u0000${name}`)) continue;
    seen.add(`${group}\u0000${name}`);
    names.push({ name, group, code: String(10_000 + int(ctx.random, 0, Math.floor(n / 2))) });
  }
  const tsv = (rows: readonly Entry[]): string => `code\tterm\tgroup\n${rows.map((e) => `${e.code}\t${e.name}\t${e.group}`).join("\n")}\n`;
  writeFileSync(join(dir, "terms.tsv"), tsv(names));
  writeFileSync(join(dir, "old-terms.tsv"), tsv(names.slice(0, Math.floor(n / 3))));
  const trainA = writeTraining(join(dir, "a"), spacccDataset(ctx.random, names, 80));
  const trainB = writeTraining(join(dir, "b"), spacccDataset(ctx.random, names, 80));
  const sentences = Array.from({ length: 40 }, () => markedSentence(ctx.random, names)).join("\n");
  writeFileSync(join(dir, "sentences.txt"), `${sentences}\n`);
  const docs = join(dir, "docs");
  writeTraining(docs, spacccDataset(ctx.random, names, 300));
  return { dir, names, terms: join(dir, "terms.tsv"), oldTerms: join(dir, "old-terms.tsv"), trainA, trainB, sentences: readFileSync(join(dir, "sentences.txt"), "utf8"), linkDocsInput: join(docs, "train.tsv") };
}

const sha = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex");

/**
 * The state of a KB index as users see it, or "absent". `kb info` opens it first (rolling back an interrupted
 * write); the rows are then read with SQL; the answers come from `link` on a copy (the first link of a KB
 * stores its TF-IDF index: the copy keeps the measured file as it was).
 */
async function kbState(ctx: FuzzContext, fixture: Fixture, path: string, what: string): Promise<string | undefined> {
  if (!existsSync(path)) return "absent";
  const info = await runCli(["kb", "info", path, "--json"]);
  if (!checkOutcome(ctx, `${what}: kb info`, info, [0])) return undefined;
  const db = new Database(path, { readonly: true });
  let tables: { mentions: string; artifacts: unknown };
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'mentions'").get() !== undefined;
    tables = {
      mentions: sha(has ? db.prepare("SELECT * FROM mentions ORDER BY source, document, grp, start, end").raw().all() : []),
      artifacts: db.prepare("SELECT key, sha256 FROM artifacts ORDER BY key").all(),
    };
  } finally {
    db.close();
  }
  const copy = `${path}.answers.sqlite`;
  copyFileSync(path, copy);
  const link = await runCli(["link", "--kb", copy, "--beams", "3"], fixture.sentences);
  rmSync(copy, { force: true });
  if (!checkOutcome(ctx, `${what}: link`, link, [0, 1])) return undefined;
  return JSON.stringify({ info: info.out.replace(/^\{"path":"[^"]*",/, "{"), ...tables, answers: sha(link.out) });
}

/** One interruptible command over a KB: how to make its before state, and its arguments. */
interface KbCommand {
  readonly name: string;
  /** Make the KB (or nothing, for a build) in its state before the command, at `path`. */
  readonly prepare: (path: string) => Promise<void>;
  readonly args: (path: string) => string[];
}

async function addMentions(path: string, train: string): Promise<void> {
  await runCli(["kb", "add-mentions", path, train, "--format", "spaccc"]);
}

function commands(fixture: Fixture): KbCommand[] {
  const build = async (path: string, terms = fixture.terms): Promise<void> => void (await buildKnowledgeBase(terms, path));
  const trained = async (path: string): Promise<void> => {
    await build(path);
    await runCli(["train-linker", "--kb", path, "--train", fixture.trainA, "--format", "spaccc", "--folds", "2"]);
  };
  return [
    { name: "train-linker", prepare: trained, args: (p) => ["train-linker", "--kb", p, "--train", fixture.trainB, "--format", "spaccc", "--folds", "2"] },
    { name: "kb add-mentions", prepare: trained, args: (p) => ["kb", "add-mentions", p, fixture.trainB, "--format", "spaccc"] },
    { name: "kb build --train", prepare: (p) => build(p, fixture.oldTerms), args: (p) => ["kb", "build", fixture.terms, "-o", p, "--train", fixture.trainA, "--train-format", "spaccc"] },
    { name: "first link", prepare: (p) => build(p), args: (p) => ["link", "--kb", p, "--linker", "tfidf", "x [y]{ENFERMEDAD}"] },
  ];
}

const tempFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /\.tmp(?:[.-]|$)|\.staging$|-journal$/.test(f));

/** Per command: a KB in the before state (copied for each kill), the two states, and the time of one child run. */
interface Reference {
  readonly path: string;
  readonly before: string;
  readonly after: string;
  readonly ms: number;
}

async function reference(ctx: FuzzContext, fixture: Fixture, command: KbCommand, dir: string, index: number): Promise<Reference | undefined> {
  const path = join(dir, `before${index}.sqlite`);
  const work = join(dir, "reference.sqlite");
  await command.prepare(path);
  const before = await kbState(ctx, fixture, path, `${command.name} before`);
  copyFileSync(path, work);
  const started = Date.now();
  const run = await startCliChild(command.args(work)).done;
  const ms = Date.now() - started;
  if (!checkOutcome(ctx, `${command.name} reference`, run, [0, 1])) return undefined;
  const after = await kbState(ctx, fixture, work, `${command.name} after`);
  rmSync(work, { force: true });
  if (before === undefined || after === undefined) return undefined;
  if (before === after) ctx.finding("rowsLost", `${command.name}: the command changed nothing a user sees: the campaign cannot tell the states apart`);
  return { path, before, after, ms };
}

/** kill -9 each KB-writing command at random points (mostly late, where it commits), then check the state. */
export async function killKbWritesCampaign(ctx: FuzzContext): Promise<void> {
  const dir = join(ctx.dir, "kill-kb-writes");
  const fixture = makeFixture(ctx, dir, 3000);
  const all = commands(fixture);
  const references = new Map<string, Reference | undefined>();
  let k = 0;
  while (!ctx.stop()) {
    const index = k % all.length;
    const command = all[index] as KbCommand;
    const work = join(dir, `kb${k++}.sqlite`);
    if (!references.has(command.name)) references.set(command.name, await reference(ctx, fixture, command, dir, index));
    const ref = references.get(command.name);
    if (ref === undefined) continue;
    ctx.counts.inputs++;
    copyFileSync(ref.path, work);
    const child = startCliChild(command.args(work), { timeoutMs: 120_000 });
    // Uniform over the run, with more weight on its end (where the command writes).
    await sleep(ctx.random() < 0.5 ? int(ctx.random, 0, ref.ms) : int(ctx.random, Math.floor(0.6 * ref.ms), Math.ceil(1.1 * ref.ms)));
    child.kill("SIGKILL");
    const killed = await child.done;
    if (killed.signal !== "SIGKILL") checkOutcome(ctx, `${command.name} (not killed in time)`, killed, [0, 1]);
    const state = await kbState(ctx, fixture, work, `${command.name} killed`);
    if (state !== undefined && state !== ref.before && state !== ref.after) {
      ctx.finding("rowsLost", `${command.name} killed after ${killed.signal === "SIGKILL" ? "some" : "all"} of its run: ${work} is neither in its state before nor after the command`);
    }
    const again = await runCli(command.args(work));
    if (checkOutcome(ctx, `${command.name} after a kill`, again, [0, 1])) {
      const final = await kbState(ctx, fixture, work, `${command.name} re-run`);
      if (final !== undefined && final !== ref.after) ctx.finding("rowsLost", `${command.name} re-run after a kill: ${work} differs from one uninterrupted run`);
    }
    const left = tempFiles(dir);
    if (left.length > 0) ctx.finding("leftoverFiles", `${command.name} after a kill: ${left.join(", ")}`);
    for (const f of readdirSync(dir)) if (f.startsWith(`kb${k - 1}.sqlite`)) rmSync(join(dir, f), { force: true });
  }
}

/** kill -9 `link-docs --workers 2` on a fresh KB (its workers store the TF-IDF index), resume: one run's output, a KB that opens. */
export async function killLinkDocsWorkersCampaign(ctx: FuzzContext): Promise<void> {
  const dir = join(ctx.dir, "kill-link-docs-workers");
  const fixture = makeFixture(ctx, dir, 3000);
  const fresh = join(dir, "fresh.sqlite");
  await buildKnowledgeBase(fixture.terms, fresh);
  const args = (kb: string, out: string): string[] => ["link-docs", "--kb", kb, "--format", "spaccc", fixture.linkDocsInput, "-o", out, "--beams", "3", "--batch-size", "8", "--workers", "2"];
  const refKb = join(dir, "ref.sqlite");
  copyFileSync(fresh, refKb);
  const refOut = join(dir, "reference.tsv");
  const started = Date.now();
  const ref = await startCliChild(args(refKb, refOut)).done;
  const ms = Date.now() - started;
  if (!checkOutcome(ctx, "link-docs --workers 2 reference", ref, [0, 1])) return;
  const refLines = readFileSync(refOut, "utf8").split("\n").filter((l) => l !== "");
  const refState = await kbState(ctx, fixture, refKb, "link-docs reference KB");
  const freshState = await kbState(ctx, fixture, fresh, "fresh KB");
  let k = 0;
  while (!ctx.stop()) {
    const kb = join(dir, `kb${k}.sqlite`);
    const out = join(dir, `out${k++}.tsv`);
    copyFileSync(fresh, kb);
    ctx.counts.inputs++;
    for (let kills = int(ctx.random, 1, 3); kills > 0; kills--) {
      const child = startCliChild(args(kb, out), { timeoutMs: 120_000 });
      await sleep(int(ctx.random, 0, ms));
      child.kill("SIGKILL");
      const r = await child.done;
      if (r.signal !== "SIGKILL") checkOutcome(ctx, "link-docs --workers 2 (not killed in time)", r, [0, 1, 130]);
      const state = await kbState(ctx, fixture, kb, "link-docs --workers 2 killed");
      if (state !== undefined && state !== freshState && state !== refState) ctx.finding("rowsLost", `link-docs --workers 2 killed: ${kb} is neither fresh nor as after one run`);
    }
    const r = await runCli(args(kb, out));
    if (!checkOutcome(ctx, `link-docs --workers 2 resume ${out}`, r, [0, 1])) continue;
    if (!existsSync(out)) {
      ctx.finding("rowsLost", `link-docs --workers 2 resume ended ${r.code} without writing ${out}: ${r.err.slice(-300)}`);
      continue;
    }
    const got = readFileSync(out, "utf8").split("\n").filter((l) => l !== "");
    const { lost, duplicated } = compareMultisets(refLines, got);
    if (lost > 0) ctx.finding("rowsLost", `link-docs --workers 2 ${out}: ${lost} rows of the uninterrupted run missing`);
    if (duplicated > 0) ctx.finding("rowsDuplicated", `link-docs --workers 2 ${out}: ${duplicated} rows extra`);
    if (lost === 0 && duplicated === 0 && got.join("\n") !== refLines.join("\n")) ctx.finding("rowsDuplicated", `link-docs --workers 2 ${out}: rows out of order`);
    const left = tempFiles(dir);
    if (left.length > 0) ctx.finding("leftoverFiles", `link-docs --workers 2 after kills: ${left.join(", ")}`);
    for (const f of readdirSync(dir)) if (f.startsWith(`kb${k - 1}.sqlite`) || f.startsWith(`out${k - 1}.tsv`)) rmSync(join(dir, f), { force: true });
  }
}
