/**
 * `syncabel judge` against a scripted OpenAI-compatible server over real HTTP: labels decided by the codes without
 * a request, JSON replies validated (fences tolerated; prose, unknown labels and torn bodies asked again), 429 with
 * Retry-After, timeouts, a cache that makes a second run free and shares identical contexts, and the output read
 * back by `eval --judgments`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/judge.js";
import { readJudgments } from "../../src/eval/judgments.js";
import { captureIO } from "../support/cli-io.js";
import { startScriptedChatServer, type ScriptedChatServer, type ScriptedReply } from "../synth/scripted-chat-server.js";
import { predictedCodeOf, verdict, writeJudgeFixture, type JudgeFixture } from "./fixture.js";

const usage = { prompt_tokens: 400, completion_tokens: 20 };
const content = (text: string): ScriptedReply => ({ kind: "content", content: text, usage });

/** What the server answers, by predicted code and attempt. */
let failForever = true;
function script(code: string, attempt: number): ScriptedReply {
  switch (code) {
    case "101": return content("```json\n" + verdict("EXACT") + "\n```"); // fenced
    case "102": return attempt === 1 ? content("I think it is broader.") : content(verdict("BROAD")); // prose, then JSON
    case "103": return attempt === 1 ? content(verdict("CLOSE")) : content(verdict("NARROW")); // unknown label, then good
    case "104": return content(`Sure! {"explanation": "another organ", "label": "no relation"}`); // spelled out, prose around
    case "105": return attempt === 1 ? { kind: "status", status: 429, headers: { "retry-after": "1" } } : content(verdict("EXACT"));
    case "106": return attempt === 1 ? { kind: "hang" } : content(verdict("BROAD"));
    case "107": return attempt === 1 ? { kind: "raw", body: '{"choices":[{"message":{"content":"{\\"lab' } : content(verdict("NARROW"));
    case "108": return failForever ? content("no idea") : content(verdict("NO_RELATION"));
    case "109": return content(verdict("EXACT")); // asked once for two identical mentions
    default: throw new Error(`unexpected request for ${code}`);
  }
}

const SENT = "Se observa [lesión]{ENFERMEDAD} hepática.";
const MENTIONS = [
  { doc: "s1", text: "paciente con tos seca", mention: "tos", gold: "100", predicted: "100" },
  { doc: "p1", text: "fiebre y tos", mention: "fiebre y tos", gold: "100+200", predicted: "200" },
  { doc: "n0", text: "dolor agudo", mention: "dolor", gold: "100", predicted: "NO_CODE" },
  { doc: "e1", text: "Paciente con infarto de miocardio agudo.", mention: "infarto de miocardio", gold: "100", predicted: "101" },
  { doc: "b1", text: "Se observa lesión hepática.", mention: "lesión", gold: "100", predicted: "102", sentence: SENT },
  { doc: "na", text: "Presenta cefalea intensa.", mention: "cefalea", gold: "100", predicted: "103" },
  { doc: "nr", text: "Presenta disnea.", mention: "disnea", gold: "100", predicted: "104" },
  { doc: "rl", text: "Con prurito.", mention: "prurito", gold: "100", predicted: "105" },
  { doc: "to", text: "Con vómitos.", mention: "vómitos", gold: "100", predicted: "106" },
  { doc: "rw", text: "Con mareo.", mention: "mareo", gold: "100", predicted: "107" },
  { doc: "fl", text: "Con astenia.", mention: "astenia", gold: "100", predicted: "108" },
  { doc: "d1", text: "Refiere ictericia.", mention: "ictericia", gold: "300", predicted: "109" },
  { doc: "d2", text: "Refiere ictericia.", mention: "ictericia", gold: "300", predicted: "109" },
];
const EXPECTED: Record<string, string> = { s1: "STRICT", p1: "PARTIAL", n0: "NO_RELATION", e1: "EXACT", b1: "BROAD", na: "NARROW", nr: "NO_RELATION", rl: "EXACT", to: "BROAD", rw: "NARROW", fl: "NO_RELATION", d1: "EXACT", d2: "EXACT" };

describe("syncabel judge against a scripted chat-completions server", () => {
  let dir: string;
  let fx: JudgeFixture;
  let server: ScriptedChatServer;
  const out = () => join(dir, "j.tsv");
  const args = () => ["--gold", fx.gold, "--predictions", fx.predictions, "--kb", fx.kb, "--endpoint", server.url, "--model", "judge-llm", "-o", out(), "--timeout", "1.5", "--max-attempts", "3", "--concurrency", "3"];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "judge-http-"));
    fx = await writeJudgeFixture(dir, MENTIONS);
    server = await startScriptedChatServer(script, { keyOf: predictedCodeOf });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("labels by the codes without the model, validates replies, retries, and leaves a failure out with exit 1", async () => {
    const c = captureIO();
    expect(await run(args(), c.io)).toBe(1);
    // No request for the code-decided rows (STRICT, PARTIAL, no predicted code).
    for (const code of ["100", "200", "NO_CODE"]) expect(server.requestsFor(code)).toBe(0);
    expect(server.requestsFor("101")).toBe(1);
    expect(server.requestsFor("102")).toBe(2);
    expect(server.requestsFor("103")).toBe(2);
    expect(server.requestsFor("106")).toBe(2); // timed out once
    expect(server.requestsFor("107")).toBe(2); // torn body once
    expect(server.requestsFor("108")).toBe(3); // every attempt a bad reply
    expect(server.requestsFor("109")).toBe(1); // two identical mentions, one question
    // 429 with Retry-After: 1 s: the second attempt waited for it.
    const rl = server.requests.filter((r) => r.code === "105");
    expect(rl).toHaveLength(2);
    expect(rl[1].at - rl[0].at).toBeGreaterThanOrEqual(950);
    const file = readJudgments(out());
    const got = Object.fromEntries(file.rows.map((r) => [r.filename, r.judgment]));
    const { fl: _failed, ...rest } = EXPECTED;
    expect(got).toEqual(rest);
    expect(c.err()).toContain("1 of 13 predictions failed");
    expect(c.err()).toMatch(/failures: JUDGE_BAD_REPLY 1/);
    expect(c.err()).toContain(`tokens: prompt ${400 * 13}, completion ${20 * 13}`);
  });

  it("sends the mention, its sentence and both concepts from the KB, at temperature 0", () => {
    const req = server.requests.find((r) => r.code === "102") as (typeof server.requests)[number];
    expect(req.body).toMatchObject({ model: "judge-llm", temperature: 0 });
    const [system, user] = req.body.messages as { role: string; content: string }[];
    expect(system.content).toContain("NO_RELATION");
    expect(user.content).toContain(SENT); // the predictions file's own sentence
    expect(user.content).toContain("Mention: lesión");
    expect(user.content).toContain("GOLD concept 100\n- preferred name: name of 100\n- other names: synonym of 100\n- definition: definition of 100");
    expect(user.content).toContain("PREDICTED concept 102\n- preferred name: name of 102");
    // Without a sentence column value, the sentence is built from the document.
    const built = server.requests.find((r) => r.code === "101") as (typeof server.requests)[number];
    expect((built.body.messages as { content: string }[])[1].content).toContain("Paciente con [infarto de miocardio]{ENFERMEDAD} agudo.");
  });

  it("a second run asks only what failed; once it succeeds the output is complete and eval --judgments reads it", async () => {
    const before = server.requests.length;
    failForever = false;
    const c = captureIO();
    expect(await run(args(), c.io)).toBe(0);
    expect(server.requests.length - before).toBe(1); // only 108
    expect(c.err()).toContain("from the cache 9,"); // 13 - 3 by the codes - 108
    const file = readJudgments(out());
    expect(Object.fromEntries(file.rows.map((r) => [r.filename, r.judgment]))).toEqual(EXPECTED);
    expect(file.rows.map((r) => r.filename)).toEqual(MENTIONS.map((m) => m.doc)); // the predictions file's order
    // A third run is free.
    const again = captureIO();
    expect(await run(args(), again.io)).toBe(0);
    expect(server.requests.length - before).toBe(1);
    const cacheLines = readFileSync(`${out()}.cache.jsonl`, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { key: string });
    expect(new Set(cacheLines.map((l) => l.key)).size).toBe(cacheLines.length);
  });

  it("another prompt file does not reuse the cached verdicts; a malformed prompt is refused", async () => {
    const prompt = join(dir, "prompt.txt");
    writeFileSync(prompt, readFileSync(new URL("../../prompts/judge/judge.txt", import.meta.url), "utf8").replace("clinical terminology expert", "terminologist"));
    const before = server.requests.length;
    expect(await run([...args(), "--prompt", prompt, "-o", join(dir, "j2.tsv"), "--cache", `${out()}.cache.jsonl`], captureIO().io)).toBe(0);
    expect(server.requests.length - before).toBe(9); // every distinct model question again
    writeFileSync(prompt, "[system]\nJudge.\n[user]\n{{mention}} {{gold_colour}}\n");
    await expect(run([...args(), "--prompt", prompt], captureIO().io)).rejects.toMatchObject({ code: "JUDGE_PROMPT_INVALID", message: expect.stringContaining("gold_colour") });
    writeFileSync(prompt, "Judge {{mention}}.\n");
    await expect(run([...args(), "--prompt", prompt], captureIO().io)).rejects.toMatchObject({ code: "JUDGE_PROMPT_INVALID" });
  });

  it("usage errors name what is missing", async () => {
    await expect(run(["--gold", "g"], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE", message: expect.stringContaining("--predictions") });
    await expect(run([...args(), "-o", fx.gold], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
  });
});
