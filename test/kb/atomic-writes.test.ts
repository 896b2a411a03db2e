/**
 * Regression tests of issue 16 (KB writes): a writer killed mid-transaction leaves a journal that the next open
 * rolls back (the KB opens with its state before the write); re-adding a training file replaces its rows;
 * train-linker and kb build --train are all or nothing; large artifacts replace their older parts.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { getLargeArtifact, putLargeArtifact } from "../../src/kb/artifact-chunks.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { readTrainingMentions } from "../../src/kb/mentions.js";
import { HYBRID_ARTIFACT_KEY } from "../../src/linker/hybrid-linker.js";
import { captureIO } from "../support/cli-io.js";
import { spawnCliChild } from "../support/cli-child.js";
import { KB_ROWS, writeSpaccc } from "../support/hybrid-fixture.js";
import { buildKbFromRows } from "../support/kb.js";

let dir: string;
let kbPath: string;
let trainTsv: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-atomic-"));
  kbPath = await buildKbFromRows(dir, KB_ROWS);
  trainTsv = writeSpaccc(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything a KB answers with beyond its names: the training memory rows and every artifact, hashed. */
function kbState(path: string): { mentions: string; artifacts: Record<string, string> } {
  const db = new Database(path, { readonly: true });
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'mentions'").get() !== undefined;
    const rows = has ? db.prepare("SELECT * FROM mentions ORDER BY source, document, grp, start, end").raw().all() : [];
    const artifacts = db.prepare("SELECT key, sha256 FROM artifacts ORDER BY key").all() as { key: string; sha256: string }[];
    return { mentions: createHash("sha256").update(JSON.stringify(rows)).digest("hex"), artifacts: Object.fromEntries(artifacts.map((a) => [a.key, a.sha256])) };
  } finally {
    db.close();
  }
}

/** A copy of the KB of `kbPath` with the training file added (the "before" state of later tests). */
async function kbWithTraining(name: string): Promise<string> {
  const path = join(dir, name);
  await buildKbFromRows(mkdtempSync(join(dir, `${name}-`)), KB_ROWS, path);
  await main(["kb", "add-mentions", path, trainTsv, "--format", "spaccc"], captureIO().io);
  expect(readTrainingMentions(path)).toHaveLength(21);
  return path;
}

/** Run `node -e SCRIPT` (better-sqlite3 at hand) and SIGKILL it once it prints "ready". */
async function killWriterWhenReady(script: string): Promise<void> {
  const child = spawn(process.execPath, ["-e", `const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve("better-sqlite3"))});\n${script}`], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) resolve();
    });
    child.on("close", () => reject(new Error(`writer ended before it was killed: ${out}`)));
  });
  child.kill("SIGKILL");
  await new Promise((resolve) => child.on("close", resolve));
}

describe("a write killed mid-transaction", () => {
  it("leaves a journal that the next open rolls back: every command opens the KB in its state before the write", async () => {
    const path = await kbWithTraining("killed.sqlite");
    const before = kbState(path);
    const mentionsBefore = readTrainingMentions(path).length;
    // A writer with a tiny page cache writes changed pages to the file before its commit, then dies.
    await killWriterWhenReady(`
      const db = new Database(${JSON.stringify(path)});
      db.pragma("cache_size = 1");
      db.exec("BEGIN IMMEDIATE");
      db.exec("DELETE FROM mentions");
      const put = db.prepare("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?)");
      for (let i = 0; i < 300; i++) put.run("junk/" + i, Buffer.alloc(4000, i), "x");
      console.log("ready");
      setInterval(() => {}, 1000);`);
    expect(existsSync(`${path}-journal`)).toBe(true);
    const kb = openKnowledgeBase(path); // read-only open: it used to fail with KB_INDEX_INVALID
    expect(kb.stats().names).toBe(KB_ROWS.length);
    kb.close();
    expect(existsSync(`${path}-journal`)).toBe(false);
    expect(kbState(path)).toEqual(before);
    expect(readTrainingMentions(path)).toHaveLength(mentionsBefore);
    const info = captureIO();
    expect(await main(["kb", "info", path, "--json"], info.io), info.err()).toBe(0);
  });
});

describe("training memory", () => {
  it("re-adding an edited training file replaces its rows (old annotations do not linger)", async () => {
    const path = join(dir, "readd.sqlite");
    await buildKbFromRows(mkdtempSync(join(dir, "readd-")), [["1", "fiebre", "SINTOMA"]], path);
    const sub = mkdtempSync(join(dir, "readd-data-"));
    const text = "fiebre ".repeat(1000);
    const tsvOf = (n: number): string => {
      const rows = Array.from({ length: n }, (_, i) => `d1\tSINTOMA\t${7 * i}\t${7 * i + 6}\tfiebre\t1`);
      writeFileSync(join(sub, "train.tsv"), `filename\tlabel\tstart_span\tend_span\tspan\tcode\n${rows.join("\n")}\n`);
      return join(sub, "train.tsv");
    };
    writeFileSync(join(sub, "d1.txt"), text);
    const add = async (): Promise<{ stored: number; replaced: number }> => {
      const c = captureIO();
      expect(await main(["kb", "add-mentions", path, tsvOf(added), "--format", "spaccc", "--texts", sub, "--json"], c.io), c.err()).toBe(0);
      return JSON.parse(c.out())[0];
    };
    let added = 1000;
    expect((await add()).stored).toBe(1000);
    added = 100;
    const again = await add();
    expect(again.stored).toBe(100);
    expect(readTrainingMentions(path)).toHaveLength(100);
    expect(again.replaced).toBe(1000);
  });

  it("a file repeating one row is stored once and reported as duplicates", async () => {
    const path = join(dir, "dup.sqlite");
    await buildKbFromRows(mkdtempSync(join(dir, "dup-")), [["1", "fiebre", "SINTOMA"]], path);
    const sub = mkdtempSync(join(dir, "dup-data-"));
    writeFileSync(join(sub, "d1.txt"), "Paciente con fiebre.");
    writeFileSync(join(sub, "train.tsv"), `filename\tlabel\tstart_span\tend_span\tspan\tcode\n${"d1\tSINTOMA\t13\t19\tfiebre\t1\n".repeat(5000)}`);
    const c = captureIO();
    expect(await main(["kb", "add-mentions", path, join(sub, "train.tsv"), "--format", "spaccc", "--texts", sub], c.io), c.err()).toBe(0);
    expect(c.out()).toMatch(/stored 1 training mentions from .*: 5000 mentions read in 1 documents; 4999 duplicates \(stored once\)/);
    expect(readTrainingMentions(path)).toHaveLength(1);
  });
});

describe("train-linker is all or nothing", () => {
  it("killed while training (after reading its files), the KB keeps its earlier mentions and model", async () => {
    const path = join(dir, "train-kill.sqlite");
    await buildKbFromRows(mkdtempSync(join(dir, "train-kill-")), KB_ROWS, path);
    const before = kbState(path);
    const child = spawnCliChild(["train-linker", "--kb", path, "--train", trainTsv, "--format", "spaccc", "--folds", "2"]);
    let err = "";
    await new Promise<void>((resolve, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.includes("fold 1/")) resolve(); // training has started: the files were read
      });
      child.on("close", () => reject(new Error(`train-linker ended before the kill: ${err}`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("close", resolve));
    openKnowledgeBase(path).close();
    expect(kbState(path)).toEqual(before); // neither the mentions nor a model
    expect(readTrainingMentions(path)).toHaveLength(0);
  });

  it("stores the same model as add-mentions followed by train-linker, mentions and model together", async () => {
    const a = join(dir, "train-a.sqlite");
    const b = await kbWithTraining("train-b.sqlite");
    await buildKbFromRows(mkdtempSync(join(dir, "train-a-")), KB_ROWS, a);
    const c = captureIO();
    expect(await main(["train-linker", "--kb", a, "--train", trainTsv, "--format", "spaccc", "--folds", "2", "--json"], c.io), c.err()).toBe(1);
    expect(c.err()).toMatch(/train-linker: skipped: .*train\.tsv:\d+: the group "OTRO"/);
    const d = captureIO();
    expect(await main(["train-linker", "--kb", b, "--folds", "2", "--json"], d.io), d.err()).toBe(0);
    const model = (p: string): string => kbState(p).artifacts[HYBRID_ARTIFACT_KEY] as string;
    expect(model(a)).toBeDefined();
    expect(model(a)).toBe(model(b));
    expect(kbState(a).mentions).toBe(kbState(b).mentions);
  });

  it("a training file with nothing to store changes nothing and fails", async () => {
    const path = join(dir, "train-empty.sqlite");
    await buildKbFromRows(mkdtempSync(join(dir, "train-empty-")), KB_ROWS, path);
    const before = kbState(path);
    const c = captureIO();
    // A SPACCC TSV read as BigBio: the reader rejects every line.
    expect(await main(["train-linker", "--kb", path, "--train", trainTsv, "--format", "bigbio", "--folds", "2"], c.io)).toBe(1);
    expect(c.err()).toMatch(/no training mention to store .*train\.tsv:1: not valid JSON/);
    expect(kbState(path)).toEqual(before);
  });
});

describe("kb build --train", () => {
  it("stores the training memory inside the new index: a build whose training files cannot be stored leaves no index", async () => {
    const out = join(dir, "build-train.sqlite");
    const terms = join(dir, "terms.tsv");
    const c = captureIO();
    expect(await main(["kb", "build", terms, "-o", out, "--train", trainTsv, "--train-format", "bigbio"], c.io)).toBe(1);
    expect(c.err()).toMatch(/no training mention to store/);
    expect(existsSync(out)).toBe(false);
  });
});

describe("large artifacts", () => {
  it("replace every part of an older, larger one in the same transaction", async () => {
    const path = join(dir, "parts.sqlite");
    await buildKbFromRows(mkdtempSync(join(dir, "parts-")), [["1", "uno", "G"]], path);
    const kb = openKnowledgeBase(path);
    try {
      const big = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
      putLargeArtifact(kb, "x", big, 100);
      expect(Buffer.from(getLargeArtifact(kb, "x") as Uint8Array).equals(Buffer.from(big))).toBe(true);
      const small = Uint8Array.from([1, 2, 3]);
      putLargeArtifact(kb, "x", small, 100);
      expect([...(getLargeArtifact(kb, "x") as Uint8Array)]).toEqual([1, 2, 3]);
      expect(Object.keys(kbState(path).artifacts)).toEqual(["x"]);
    } finally {
      kb.close();
    }
  });
});
