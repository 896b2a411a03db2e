/** Regression tests of issue 11 (synth): a dead endpoint is a failed run with its reason; a `null` reply is retried. */
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/synth.js";
import { main } from "../../src/cli/main.js";
import { openKnowledgeBase } from "../../src/kb/sqlite-kb.js";
import { HttpChatGenerator, parseChatCompletion } from "../../src/synth/http-generator.js";
import { loadPromptTemplates } from "../../src/synth/prompt-template.js";
import { runSynth } from "../../src/synth/run.js";
import { captureIO } from "../support/cli-io.js";
import { buildTinyKb } from "./kb-fixture.js";
import { goodReply, startScriptedChatServer } from "./scripted-chat-server.js";

let dir: string;
let kbPath: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "synth-hardening-"));
  kbPath = await buildTinyKb(dir, ["A1", "A2", "A3"]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A port nothing listens on: bound once, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("synth hardening", () => {
  it("a `null` (or non-object) JSON reply is a retryable bad reply, not a TypeError", () => {
    for (const raw of ["null", "42", "[]", '{"choices":[null]}', '{"choices":null}']) {
      expect(() => parseChatCompletion(raw), raw).toThrow(expect.objectContaining({ code: "SYNTH_BAD_REPLY", details: { retryable: true } }));
    }
  });

  it("a `null` reply is retried and the concept then succeeds", async () => {
    const server = await startScriptedChatServer((_code, attempt) => (attempt === 1 ? { kind: "raw", body: "null" } : { kind: "content", content: goodReply(3) }));
    const kb = openKnowledgeBase(kbPath);
    try {
      const summary = await runSynth({
        kb,
        generator: new HttpChatGenerator({ endpoint: server.url, model: "m", timeoutMs: 5000 }),
        templates: loadPromptTemplates("es"),
        language: "es",
        jobs: [{ code: "A1", group: "ENFERMEDAD" }],
        outPath: join(dir, "null.jsonl"),
        perConcept: 3,
        concurrency: 1,
        retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      });
      expect(summary).toMatchObject({ done: 1, failed: 0, retried: 1 });
    } finally {
      kb.close();
      await server.close();
    }
  });

  it("a dead endpoint: exit 1 with the reason on stderr", async () => {
    const port = await deadPort();
    const c = captureIO();
    const code = await main(["synth", "--kb", kbPath, "--endpoint", `http://127.0.0.1:${port}/v1`, "--model", "m", "--max-attempts", "2", "--language", "es", "-o", join(dir, "dead.jsonl")], c.io);
    expect(code).toBe(1);
    expect(c.err()).toMatch(/ECONNREFUSED.*is the server running.*\[SYNTH_ENDPOINT\]/);
  });

  it("every concept failing is exit 1 with the count on stderr", async () => {
    const server = await startScriptedChatServer(() => ({ kind: "content", content: "nada útil" }));
    try {
      const c = captureIO();
      const code = await run(["--kb", kbPath, "--endpoint", server.url, "--model", "m", "--max-attempts", "1", "--language", "es", "-o", join(dir, "bad.jsonl")], c.io);
      expect(code).toBe(1);
      expect(c.err()).toContain("3 of 3 concepts failed");
    } finally {
      await server.close();
    }
  });
});
