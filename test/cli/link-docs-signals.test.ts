/**
 * Regression test of issue 16: SIGTERM/SIGINT while `link-docs` starts (reading its input, building the index in
 * worker threads or in-process) ends with 130 and the "interrupted" message, and writes nothing, instead of dying
 * with the signal (143) and no message.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { openLinker } from "../../src/linker/open.js";
import { spawnCliChild } from "../support/cli-child.js";

let dir: string;
let kbPath: string;
let gold: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-linkdocs-signals-"));
  // 10,000 names: the index takes a while to build, the window the signal lands in (each case copies the KB
  // without its stored index).
  const rows = Array.from({ length: 10_000 }, (_, i) => `${i}\tenfermedad rara número ${i} del grupo ${i % 97}\tENFERMEDAD`);
  writeFileSync(join(dir, "terms.tsv"), `code\tterm\tgroup\n${rows.join("\n")}\n`);
  kbPath = join(dir, "kb.sqlite");
  await buildKnowledgeBase(join(dir, "terms.tsv"), kbPath);
  mkdirSync(join(dir, "texts"));
  writeFileSync(join(dir, "texts", "d1.txt"), "Paciente con enfermedad rara número 7 del grupo 7.");
  gold = join(dir, "gold.tsv");
  writeFileSync(gold, "filename\tlabel\tstart_span\tend_span\tspan\tcode\nd1\tENFERMEDAD\t13\t49\tenfermedad rara número 7 del grupo 7\t7\n");
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("link-docs interrupted while starting", () => {
  it.each([
    ["SIGTERM", "2"],
    ["SIGINT", "1"],
  ] as const)("%s with --workers %s: exit 130 with the message, nothing written", async (signal, workers) => {
    const out = join(dir, `out-${signal}.tsv`);
    const kb = join(dir, `kb-${signal}.sqlite`);
    copyFileSync(kbPath, kb);
    const child = spawnCliChild(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", out, "--workers", workers, "--linker", "tfidf"]);
    let err = "";
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString("utf8");
        if (err.includes("mentions from")) resolve(); // the input is read: the index build starts
      });
      child.on("close", () => resolve());
    });
    child.kill(signal);
    const code = await exited;
    expect(code).toBe(130);
    expect(err).toMatch(/link-docs: interrupted while starting \(nothing was written\)/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith(`out-${signal}`))).toEqual([]);
  }, 120_000);
});

describe("opening a linker on worker threads", () => {
  it("stops when its signal is aborted while the workers start: INTERRUPTED, instead of waiting for their index", async () => {
    const kb = join(dir, "kb-open.sqlite");
    copyFileSync(kbPath, kb);
    const controller = new AbortController();
    const opening = openLinker({ kb, linker: "tfidf", workers: 2, signal: controller.signal });
    controller.abort();
    await expect(opening).rejects.toMatchObject({ code: "INTERRUPTED" });
  }, 60_000);
});
