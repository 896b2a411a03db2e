import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { fileURLToPath } from "node:url";
import { run } from "../../src/cli/commands/sft-data.js";
import { buildKnowledgeBase } from "../../src/kb/build.js";
import { openKnowledgeBase } from "../../src/kb/sqlite-kb.js";
import { HttpChatGenerator } from "../../src/synth/http-generator.js";
import { loadPromptTemplates } from "../../src/synth/prompt-template.js";
import { runSynth } from "../../src/synth/run.js";
import { startScriptedChatServer } from "../synth/scripted-chat-server.js";
import { captureIO } from "../support/cli-io.js";

const SHARED = new URL("../../../shared/data/spaccc/", import.meta.url);
const HAVE = existsSync(new URL("train.tsv", SHARED)) && existsSync(new URL("kb-proxy-dev.tsv", SHARED));
const path = (name: string): string => fileURLToPath(new URL(name, SHARED));
const SYNTH_CONCEPTS = 300;


const readJsonl = (p: string): { prompt: string; completion: string }[] =>
  readFileSync(p, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { prompt: string; completion: string });

describe.skipIf(!HAVE)("sft-data on SPACCC train + synthetic sentences (needs ../shared/data)", () => {
  let dir: string;
  let kbPath: string;
  let synthPath: string;
  /** code -> group -> names, read straight from the proxy KB file. */
  const kbNames = new Map<string, Map<string, Set<string>>>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sft-spaccc-"));
    kbPath = join(dir, "kb.sqlite");
    await buildKnowledgeBase(path("kb-proxy-dev.tsv"), kbPath);
    for (const line of readFileSync(path("kb-proxy-dev.tsv"), "utf8").split("\n").slice(1)) {
      const [code, term, group] = line.split("\t");
      if (!code || !term) continue;
      if (!kbNames.has(code)) kbNames.set(code, new Map());
      const g = kbNames.get(code)!;
      if (!g.has(group)) g.set(group, new Set());
      g.get(group)!.add(term.trim());
    }
    // A synthetic file written by the real synth loop against a scripted server.
    const server = await startScriptedChatServer((code) => ({
      kind: "content",
      content: Array.from({ length: 5 }, (_, i) => `ejemplo: En la consulta ${i + 1} el paciente ${code} presenta [dolor abdominal] intenso desde ayer.`).join("\n"),
    }));
    const kb = openKnowledgeBase(kbPath);
    synthPath = join(dir, "synth.jsonl");
    try {
      const jobs = [...kb.codes()].slice(0, SYNTH_CONCEPTS).map((code) => ({ code, group: kb.concept(code)!.groups[0] }));
      await runSynth({ kb, generator: new HttpChatGenerator({ endpoint: server.url, model: "scripted" }), templates: loadPromptTemplates("es"), language: "es", jobs, outPath: synthPath, perConcept: 5, concurrency: 8 });
    } finally {
      kb.close();
      await server.close();
    }
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes 1:1 interleaved train pairs, a document-level dev split and the TRL config", async () => {
    const out = join(dir, "sft");
    const cli = captureIO();
    const code = await run(["--kb", kbPath, "--human", path("train.tsv"), "--texts", path("texts"), "--synthetic", synthPath, "--seed", "1", "-o", out], cli.io);
    expect(code, cli.err()).toBe(0);
    const stats = JSON.parse(readFileSync(join(out, "stats.json"), "utf8")) as Record<string, number> & { devDocumentIds: string[] };
    const train = readJsonl(join(out, "train.jsonl"));
    const dev = readJsonl(join(out, "dev.jsonl"));

    // Independent count from the TSV: mentions whose every code is in the KB, by document.
    const rows = readFileSync(path("train.tsv"), "utf8").split("\n").slice(1).filter(Boolean).map((l) => l.split("\t"));
    const docs = new Set(rows.map((r) => r[0]));
    const devDocs = new Set(stats.devDocumentIds);
    expect(devDocs.size).toBe(Math.round(docs.size * 0.1));
    // A composite with a NO_CODE part (`a+NO_CODE`) has no usable gold code, like plain NO_CODE.
    const codesOf = (field: string) => (field.split("+").includes("NO_CODE") ? [] : field.split("+"));
    const linkable = rows.filter((r) => codesOf(r[5]).length > 0 && codesOf(r[5]).every((c) => kbNames.has(c)));
    expect(dev.length).toBe(linkable.filter((r) => devDocs.has(r[0])).length);
    const humanTrain = linkable.filter((r) => !devDocs.has(r[0])).length;
    expect(stats.humanPairsTrain).toBe(humanTrain);
    expect(stats.syntheticPairs).toBe(SYNTH_CONCEPTS * 5);

    // Exactly 1:1, alternating human / synthetic, the smaller side cycled.
    const rounds = Math.max(humanTrain, SYNTH_CONCEPTS * 5);
    expect(train.length).toBe(2 * rounds);
    const isSynthetic = (p: { prompt: string }) => p.prompt.includes("presenta [dolor abdominal]{");
    expect(train.filter(isSynthetic).length).toBe(rounds);
    expect(train.every((p, i) => isSynthetic(p) === (i % 2 === 1))).toBe(true);

    // Prompts follow the conventions and every completion is a KB name of the mention's group.
    for (const p of [...train.slice(0, 400), ...dev.slice(0, 200)]) {
      const m = /^(.*\[(?:[^\]]*)\]\{([^}]+)\}.*)<SEP>\[(.+)\] es$/s.exec(p.prompt);
      expect(m, p.prompt).not.toBeNull();
      for (const name of p.completion.split("<SEP>")) {
        expect(name.startsWith(" ")).toBe(true);
        const owners = [...kbNames.values()].filter((g) => g.get(m![2])?.has(name.slice(1)) || [...g.values()].some((s) => s.has(name.slice(1))));
        expect(owners.length, name).toBeGreaterThan(0);
      }
    }
    const yaml = readFileSync(join(out, "sft-config.yaml"), "utf8");
    for (const line of ["completion_only_loss: true", "packing: true", "learning_rate: 3.0e-5", "lr_scheduler_type: linear", "warmup_ratio: 0.03", "bf16: true"]) expect(yaml).toContain(line);
    expect(readFileSync(join(out, "add_sep_token.py"), "utf8")).toContain('"sep_token": "<SEP>"');
    console.log(`sft-data SPACCC: ${cli.err().trim()}`);
  });
});
