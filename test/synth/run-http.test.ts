import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKnowledgeBase } from "../../src/kb/sqlite-kb.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { parseMarkedSentence } from "../../src/markup/marked-sentence.js";
import { HttpChatGenerator } from "../../src/synth/http-generator.js";
import { loadPromptTemplates } from "../../src/synth/prompt-template.js";
import { runSynth, type SynthSummary } from "../../src/synth/run.js";
import type { ConceptRecord, SentenceRecord, SynthRecord } from "../../src/synth/types.js";
import { goodReply, startScriptedChatServer, type ScriptedChatServer, type ScriptedReply } from "./scripted-chat-server.js";
import { buildTinyKb } from "./kb-fixture.js";

const N = 3;
const BAD_LINES = {
  TOOFEW: "ejemplo: Paciente con [embolia pulmonar] masiva en la tomografía de control.\nejemplo: Se confirma [embolia pulmonar] bilateral tras el angio-TAC urgente.",
  NOBRACKET: Array.from({ length: N }, () => "ejemplo: Paciente con embolia pulmonar masiva en la tomografía de control.").join("\n"),
  TWOBRACKETS: Array.from({ length: N }, () => "ejemplo: Paciente con [embolia pulmonar] y [trombosis venosa] en la tomografía.").join("\n"),
  WRONGPREFIX: Array.from({ length: N }, () => "example: Patient with [pulmonary embolism] seen on the control scan today.").join("\n"),
};

/** What each concept's server plays, by code and attempt. */
function script(code: string, attempt: number): ScriptedReply {
  const good: ScriptedReply = { kind: "content", content: goodReply(N), usage: { prompt_tokens: 100, completion_tokens: 50 } };
  switch (code) {
    case "GOOD": return good;
    case "TOOFEW": return { kind: "content", content: BAD_LINES.TOOFEW };
    case "TOOFEWTHENGOOD": return attempt === 1 ? { kind: "content", content: BAD_LINES.TOOFEW } : good;
    case "NOBRACKET": return { kind: "content", content: BAD_LINES.NOBRACKET };
    case "TWOBRACKETS": return { kind: "content", content: BAD_LINES.TWOBRACKETS };
    case "WRONGPREFIX": return { kind: "content", content: BAD_LINES.WRONGPREFIX };
    case "RATELIMITED": return attempt === 1 ? { kind: "status", status: 429, headers: { "retry-after": "0" } } : good;
    case "ERR500": return { kind: "status", status: 500 };
    case "HANGONCE": return attempt === 1 ? { kind: "hang" } : good;
    case "HANG": return { kind: "hang" };
    case "TRUNCATED": return attempt === 1 ? { kind: "raw", body: '{"id":"x","choices":[{"index":0,"message":{"role":"assi' } : good;
    case "BADREQUEST": return { kind: "status", status: 400 };
    case "UNAUTHORIZED": return { kind: "status", status: 401 };
    default: throw new Error(`no script for ${code}`);
  }
}

const CODES = ["GOOD", "TOOFEW", "TOOFEWTHENGOOD", "NOBRACKET", "TWOBRACKETS", "WRONGPREFIX", "RATELIMITED", "ERR500", "HANGONCE", "HANG", "TRUNCATED", "BADREQUEST", "UNAUTHORIZED"];
// Long enough that a loaded machine never times out a scripted reply that does answer (HANG still ends each attempt).
const TIMEOUT_MS = 1500;

function readRecords(path: string): SynthRecord[] {
  return readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as SynthRecord);
}

describe("syncabel synth against a scripted chat-completions server", () => {
  let dir: string;
  let kb: KnowledgeBase;
  let server: ScriptedChatServer;
  let summary: SynthSummary;
  let records: SynthRecord[];
  const markers = new Map<string, ConceptRecord>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "synth-http-"));
    kb = openKnowledgeBase(await buildTinyKb(dir, CODES));
    server = await startScriptedChatServer(script);
    const out = join(dir, "synth.jsonl");
    summary = await runSynth({
      kb,
      generator: new HttpChatGenerator({ endpoint: server.url, model: "scripted-llm", apiKey: "sekret", timeoutMs: TIMEOUT_MS }),
      templates: loadPromptTemplates("es"),
      language: "es",
      jobs: CODES.filter((c) => c !== "UNAUTHORIZED").map((code) => ({ code, group: "ENFERMEDAD" })),
      outPath: out,
      perConcept: N,
      concurrency: 4,
      retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 },
    });
    records = readRecords(out);
    for (const r of records) if (r.type === "concept") markers.set(r.code, r);
  });

  afterAll(async () => {
    await server?.close();
    kb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends an OpenAI chat request with the conventions' sampling and the concept card", () => {
    const first = server.requests.find((r) => r.code === "GOOD")!;
    expect(first.body.model).toBe("scripted-llm");
    expect(first.body.temperature).toBe(0.6);
    expect(first.body.top_p).toBe(0.9);
    expect(first.headers.authorization).toBe("Bearer sekret");
    const [system, user] = first.body.messages as { role: string; content: string }[];
    expect(system.role).toBe("system");
    expect(system.content).toContain("ejemplo:");
    expect(user.content).toContain("enfermedad good");
    expect(user.content).toContain("definición de GOOD");
    expect(user.content).toContain("trastorno");
  });

  it("records every concept exactly once, each line valid JSON", () => {
    const codes = records.filter((r) => r.type === "concept").map((r) => r.code).sort();
    expect(codes).toEqual(CODES.filter((c) => c !== "UNAUTHORIZED").sort());
  });

  it("keeps N sentences of a well-formed reply with exact mention offsets", () => {
    const sentences = records.filter((r): r is SentenceRecord => r.type === "sentence" && r.code === "GOOD");
    expect(sentences.map((s) => s.index)).toEqual([0, 1, 2]);
    for (const s of sentences) {
      expect(s.text.slice(s.offsets.start, s.offsets.end)).toBe("embolia pulmonar");
      const parsed = parseMarkedSentence(s.marked);
      expect(parsed.plain).toBe(s.text);
      expect(parsed.group).toBe("ENFERMEDAD");
      expect(parsed.fragments).toEqual([s.offsets]);
      expect(s.generator).toEqual({ kind: "http", model: "scripted-llm", endpoint: `${server.url}/chat/completions` });
      expect(s.attempt).toBe(1);
    }
    expect(markers.get("GOOD")).toMatchObject({ status: "done", attempts: 1, sentences: 3 });
    expect(server.requestsFor("GOOD")).toBe(1);
  });

  it.each([
    ["TOOFEW", "2 of 3 valid lines"],
    ["NOBRACKET", "no brackets"],
    ["TWOBRACKETS", "several brackets"],
    ["WRONGPREFIX", 'without prefix "ejemplo:"'],
  ])("retries a bad reply (%s) 5 times, then records the failure with its reason", (code, reason) => {
    expect(server.requestsFor(code)).toBe(5);
    const m = markers.get(code)!;
    expect(m).toMatchObject({ status: "failed", attempts: 5, errorCode: "SYNTH_BAD_REPLY", sentences: 0 });
    expect(m.reason).toContain(reason);
    expect(records.some((r) => r.type === "sentence" && r.code === code)).toBe(false);
  });

  it.each([
    ["TOOFEWTHENGOOD", 2],
    ["RATELIMITED", 2],
    ["HANGONCE", 2],
    ["TRUNCATED", 2],
  ])("recovers from a transient problem (%s) on attempt %i", (code, attempts) => {
    expect(server.requestsFor(code)).toBe(attempts);
    expect(markers.get(code)).toMatchObject({ status: "done", attempts, sentences: N });
    expect(records.filter((r) => r.type === "sentence" && r.code === code && r.attempt === attempts)).toHaveLength(N);
  });

  it("retries HTTP 500 and timeouts up to 5 attempts, then records the endpoint error", () => {
    expect(server.requestsFor("ERR500")).toBe(5);
    expect(markers.get("ERR500")).toMatchObject({ status: "failed", attempts: 5, errorCode: "SYNTH_ENDPOINT" });
    expect(markers.get("ERR500")!.reason).toContain("HTTP 500");
    expect(server.requestsFor("HANG")).toBe(5);
    expect(markers.get("HANG")).toMatchObject({ status: "failed", attempts: 5, errorCode: "SYNTH_TIMEOUT" });
  });

  it("does not retry a 400 (the request itself is wrong)", () => {
    expect(server.requestsFor("BADREQUEST")).toBe(1);
    expect(markers.get("BADREQUEST")).toMatchObject({ status: "failed", attempts: 1, errorCode: "SYNTH_ENDPOINT" });
  });

  it("summarises concepts, retries, sentences and reported token usage", () => {
    const done = ["GOOD", "TOOFEWTHENGOOD", "RATELIMITED", "HANGONCE", "TRUNCATED"];
    expect(summary.done).toBe(done.length);
    expect(summary.failed).toBe(CODES.length - 1 - done.length);
    expect(summary.sentences).toBe(done.length * N);
    // Every concept but GOOD and BADREQUEST needed a second attempt.
    expect(summary.retried).toBe(CODES.length - 1 - 2);
    // Usage is reported only by the good replies, one per done concept.
    expect(summary.usageReported).toBe(true);
    expect(summary.promptTokens).toBe(100 * done.length);
    expect(summary.completionTokens).toBe(50 * done.length);
    expect(summary.interrupted).toBe(false);
  });

  it("stops the run on a fatal endpoint error (401) without recording the concept", async () => {
    const out = join(dir, "fatal.jsonl");
    await expect(
      runSynth({
        kb,
        generator: new HttpChatGenerator({ endpoint: server.url, model: "scripted-llm", timeoutMs: TIMEOUT_MS }),
        templates: loadPromptTemplates("es"),
        language: "es",
        jobs: [{ code: "UNAUTHORIZED", group: "ENFERMEDAD" }],
        outPath: out,
        perConcept: N,
        concurrency: 1,
        retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 },
      }),
    ).rejects.toMatchObject({ code: "SYNTH_ENDPOINT" });
    expect(server.requestsFor("UNAUTHORIZED")).toBe(1);
    expect(readFileSync(out, "utf8")).toBe("");
  });
});
