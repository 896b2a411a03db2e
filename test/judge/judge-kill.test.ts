/**
 * `syncabel judge` as a process: killed with SIGKILL mid-run (and its cache's last line torn) it resumes with every
 * verdict asked at most once more than the requests in flight; SIGTERM stops it at once, without an output.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/judge.js";
import { readJudgments } from "../../src/eval/judgments.js";
import { captureIO } from "../support/cli-io.js";
import { spawnCliChild } from "../support/cli-child.js";
import { startScriptedChatServer, type ScriptedChatServer } from "../synth/scripted-chat-server.js";
import { predictedCodeOf, verdict, writeJudgeFixture, type JudgeFixture } from "./fixture.js";

const N = 40;
const LABELS = ["EXACT", "BROAD", "NARROW", "NO_RELATION"];
const labelOf = (code: string): string => LABELS[Number(code.slice(1)) % 4];
const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter((l) => l !== "") : []);

describe("syncabel judge survives SIGKILL and stops on SIGTERM", () => {
  let dir: string;
  let fx: JudgeFixture;
  let server: ScriptedChatServer;
  let hanging: ScriptedChatServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "judge-kill-"));
    const mentions = Array.from({ length: N }, (_, i) => ({ doc: `d${i}`, text: `Paciente con lesión número ${i}.`, mention: "lesión", gold: "G1", predicted: `Q${i}` }));
    fx = await writeJudgeFixture(dir, mentions);
    server = await startScriptedChatServer((code) => ({ kind: "content", content: verdict(labelOf(code)) }), { delayMs: 25, keyOf: predictedCodeOf });
    hanging = await startScriptedChatServer(() => ({ kind: "hang" }), { keyOf: predictedCodeOf });
  });
  afterAll(async () => {
    await server?.close();
    await hanging?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const args = (endpoint: string, out: string) => ["--gold", fx.gold, "--predictions", fx.predictions, "--kb", fx.kb, "--endpoint", endpoint, "--model", "judge-llm", "-o", out, "--concurrency", "2"];

  it("a run killed mid-way resumes from its cache (a torn last line cut) and asks each context at most once more", async () => {
    const out = join(dir, "killed.tsv");
    const cache = `${out}.cache.jsonl`;
    const child = spawnCliChild(["judge", ...args(server.url, out)]);
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const deadline = Date.now() + 60_000;
    while (lines(cache).length < 8 && Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`child exited early: ${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill("SIGKILL");
    await exited;
    const cached = lines(cache).length;
    expect(cached).toBeGreaterThanOrEqual(8);
    expect(cached).toBeLessThan(N);
    expect(existsSync(out)).toBe(false); // no output before the run completes
    appendFileSync(cache, '{"key":"0123abc","label":"EX'); // a write torn by the kill

    const requestsBefore = server.requests.length;
    const c = captureIO();
    expect(await run(args(server.url, out), c.io)).toBe(0);
    expect(c.err()).toMatch(/bytes of a torn write cut/);
    const rows = readJudgments(out).rows;
    expect(rows.map((r) => [r.filename, r.judgment])).toEqual(Array.from({ length: N }, (_, i) => [`d${i}`, labelOf(`Q${i}`)]));
    // The resumed run asked only what the cache lacked; requests lost in flight at the kill were asked again.
    expect(server.requests.length - requestsBefore).toBe(N - cached);
    expect(server.requests.length).toBeLessThanOrEqual(N + 2);
    for (let i = 0; i < N; i++) expect(server.requestsFor(`Q${i}`)).toBeLessThanOrEqual(2);
    const keys = lines(cache).map((l) => (JSON.parse(l) as { key: string }).key);
    expect(new Set(keys).size).toBe(N);
    expect(keys).toHaveLength(N);
  });

  it("SIGTERM cancels the requests in flight and exits 130 at once, writing no output", async () => {
    const out = join(dir, "stopped.tsv");
    const child = spawnCliChild(["judge", ...args(hanging.url, out)]);
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (hanging.requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const sent = Date.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(130);
    // The default request timeout is 120 s: stopping within seconds means the requests were cancelled.
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(stderr).toContain("terminated: stopping");
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.lock`)).toBe(false);
  });
});
