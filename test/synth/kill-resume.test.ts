import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openKnowledgeBase } from "../../src/kb/sqlite-kb.js";
import { HttpChatGenerator } from "../../src/synth/http-generator.js";
import { scanAndRepair } from "../../src/synth/jsonl-store.js";
import { loadPromptTemplates } from "../../src/synth/prompt-template.js";
import { runSynth } from "../../src/synth/run.js";
import type { SynthRecord } from "../../src/synth/types.js";
import { buildTinyKb } from "./kb-fixture.js";
import { goodReply, startScriptedChatServer, type ScriptedChatServer } from "./scripted-chat-server.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHILD = fileURLToPath(new URL("./fixtures/synth-child.ts", import.meta.url));
const CODES = Array.from({ length: 120 }, (_, i) => `K${String(i).padStart(3, "0")}`);

function markerCount(path: string): number {
  if (!existsSync(path)) return 0;
  return (readFileSync(path, "utf8").match(/"type":"concept"/g) ?? []).length;
}

/** Every line parses; every code has exactly one marker and, when done, exactly 3 sentences before it. */
function checkFile(path: string): { markers: Map<string, number>; sentences: Map<string, number> } {
  const markers = new Map<string, number>();
  const sentences = new Map<string, number>();
  const text = readFileSync(path, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    const r = JSON.parse(line) as SynthRecord; // throws on an invalid line
    if (r.type === "concept") markers.set(r.code, (markers.get(r.code) ?? 0) + 1);
    else sentences.set(r.code, (sentences.get(r.code) ?? 0) + 1);
  }
  return { markers, sentences };
}

async function resume(kbPath: string, url: string, out: string) {
  const kb = openKnowledgeBase(kbPath);
  try {
    return await runSynth({
      kb,
      generator: new HttpChatGenerator({ endpoint: url, model: "scripted-llm", timeoutMs: 5000 }),
      templates: loadPromptTemplates("es"),
      language: "es",
      jobs: [...kb.codes()].map((code) => ({ code, group: "ENFERMEDAD" })),
      outPath: out,
      perConcept: 3,
      concurrency: 4,
    });
  } finally {
    kb.close();
  }
}

describe("synth output survives SIGKILL and resumes", () => {
  let dir: string;
  let kbPath: string;
  let server: ScriptedChatServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "synth-kill-"));
    kbPath = await buildTinyKb(dir, CODES);
    // Each reply takes 25 ms: 120 concepts at 4 in flight take ~0.8 s, long enough to be killed mid-run.
    server = await startScriptedChatServer(() => ({ kind: "content", content: goodReply(3) }), { delayMs: 25 });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a run killed mid-way and restarted ends with every concept exactly once", async () => {
    const out = join(dir, "killed.jsonl");
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, kbPath, server.url, out], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    // `node --import tsx` (not the tsx wrapper, which forks): the killed pid is the one writing.
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Kill once some concepts are written.
    const deadline = Date.now() + 60_000;
    while (markerCount(out) < 15 && Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`child exited early: ${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill("SIGKILL");
    await exited;
    const before = markerCount(out);
    expect(before).toBeGreaterThanOrEqual(15);
    expect(before).toBeLessThan(CODES.length);

    const summary = await resume(kbPath, server.url, out);
    const { markers, sentences } = checkFile(out);
    expect(summary.skipped + summary.done).toBe(CODES.length);
    expect(summary.skipped).toBeGreaterThanOrEqual(before - 0);
    expect([...markers.keys()].sort()).toEqual(CODES);
    for (const code of CODES) {
      expect(markers.get(code)).toBe(1);
      expect(sentences.get(code)).toBe(3);
    }
    // A second restart has nothing left to do.
    const again = await resume(kbPath, server.url, out);
    expect(again).toMatchObject({ skipped: CODES.length, done: 0, failed: 0 });
  });

  it("a torn tail (half a concept's write) is cut back and that concept generated again", async () => {
    const out = join(dir, "torn.jsonl");
    await resume(kbPath, server.url, out);
    const full = readFileSync(out, "utf8");
    // Simulate a kill inside the last concept's write: drop its marker and cut a sentence line in half.
    const lines = full.slice(0, -1).split("\n");
    const lastCode = (JSON.parse(lines[lines.length - 1]) as SynthRecord).code;
    const kept = lines.slice(0, -4).join("\n") + "\n";
    rmSync(out);
    appendFileSync(out, kept + lines[lines.length - 4] + "\n" + lines[lines.length - 3].slice(0, 40));
    const scan = scanAndRepair(out);
    expect(scan.concepts.has(lastCode)).toBe(false);
    expect(scan.concepts.size).toBe(CODES.length - 1);
    expect(readFileSync(out, "utf8")).toBe(kept);

    const summary = await resume(kbPath, server.url, out);
    expect(summary).toMatchObject({ skipped: CODES.length - 1, done: 1 });
    const { markers } = checkFile(out);
    expect(markers.size).toBe(CODES.length);
    expect([...markers.values()].every((n) => n === 1)).toBe(true);
  });

  it("refuses to resume over a damaged line that is not the tail", () => {
    const out = join(dir, "damaged.jsonl");
    appendFileSync(out, '{"type":"concept","code":"A","status":"done"}\nnot json\n{"type":"concept","code":"B","status":"done"}\n');
    expect(() => scanAndRepair(out)).toThrow(/damaged\.jsonl:2/);
  });
});
