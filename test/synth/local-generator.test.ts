import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../src/cli/commands/synth.js";
import { writeRandomModel } from "../../src/testing/random-model.js";
import { loadLocalGenerator } from "../../src/synth/load-local-generator.js";
import type { SynthRecord } from "../../src/synth/types.js";
import { buildTinyKb } from "./kb-fixture.js";
import { captureIO } from "../support/cli-io.js";


describe("local generator on a random-weight Llama", () => {
  let dir: string;
  let modelDir: string;
  let kbPath: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "synth-local-"));
    modelDir = join(dir, "model");
    await writeRandomModel(modelDir, { layers: 2, hidden: 32, heads: 2, kvHeads: 1, intermediate: 64, seed: 7 });
    kbPath = await buildTinyKb(dir, ["L1", "L2"]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("samples reproducibly through the chat template and stops at the token budget", async () => {
    const gen = await loadLocalGenerator(modelDir, { threads: 1 });
    try {
      const request = { messages: [{ role: "system" as const, content: "Eres un médico." }, { role: "user" as const, content: "Código: L1" }], temperature: 0.6, topP: 0.9, maxTokens: 12, seed: 42 };
      const a = await gen.generate(request);
      const b = await gen.generate(request);
      const c = await gen.generate({ ...request, seed: 43 });
      expect(a.text).toBe(b.text);
      expect(a.usage!.completionTokens).toBeLessThanOrEqual(12);
      expect(a.usage!.promptTokens).toBeGreaterThan(10);
      // Random weights spread probability over the whole vocabulary: two seeds virtually never agree.
      expect(c.text).not.toBe(a.text);
      expect(gen.info).toEqual({ kind: "local", model: "model" });
    } finally {
      await gen.close();
    }
  });

  it("`syncabel synth --local` finishes with gibberish concepts recorded as failed, no crash", async () => {
    const out = join(dir, "synth.jsonl");
    const { io, err: stderr } = captureIO();
    const code = await run(["--kb", kbPath, "--local", modelDir, "--language", "es", "--per-concept", "2", "--max-tokens", "16", "--max-attempts", "2", "--threads", "1", "-o", out], io);
    expect(code).toBe(1); // every concept failed: the run did not do what was asked
    const records = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as SynthRecord);
    const markers = records.filter((r) => r.type === "concept");
    expect(markers.map((m) => m.code).sort()).toEqual(["L1", "L2"]);
    for (const m of markers) {
      expect(m).toMatchObject({ status: "failed", attempts: 2, errorCode: "SYNTH_BAD_REPLY", generator: { kind: "local", model: "model" } });
      expect(m.reason).toMatch(/^0 of 2 valid lines/);
    }
    expect(stderr()).toContain("done 0, failed 2");
    expect(stderr()).toContain("2 of 2 concepts failed");
  });
});
