/**
 * Errors by layer: the library throws its own codes in its own words (no command-line flag in a library message,
 * no CLI_USAGE below src/cli); the CLI turns the library's invalid-option codes into usage errors (exit 2, usage
 * text, the library's code) and adds its flags where they help.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { readDataset } from "../../src/data/read-dataset.js";
import type { Dataset } from "../../src/data/types.js";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { oboSource, openSources } from "../../src/kb/sources/index.js";
import { openXrefMap } from "../../src/kb/xrefs.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { openLinker } from "../../src/linker/open.js";
import type { Linker } from "../../src/linker/types.js";
import { startLinkServer } from "../../src/server/index.js";
import { chatCompletionsUrl } from "../../src/synth/http-generator.js";
import { asSynthLanguage } from "../../src/synth/language.js";
import { runSynth, type SynthRunOptions } from "../../src/synth/run.js";
import { asMixMode } from "../../src/train/mix.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";

/** Where a library error is thrown: its code and whether its message names a command-line flag. */
async function thrown(f: () => unknown): Promise<{ code: string; flag: string | undefined }> {
  try {
    await f();
  } catch (e) {
    const { code, message } = e as { code: string; message: string };
    return { code, flag: /(?:^|[\s('"`])(--?[a-z][\w-]*)/.exec(message)?.[1] };
  }
  throw new Error("nothing thrown");
}

let dir: string;
let kbPath: string;
/** A KB with cross-references to MESH only. */
let oboKb: string;
let linker: Linker;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-errors-"));
  kbPath = await buildKbFromRows(dir, [["1", "fiebre", "SINTOMA"]]);
  linker = await openLinker({ kb: kbPath });
  const obo = join(dir, "t.obo");
  writeFileSync(obo, "format-version: 1.2\ndefault-namespace: SINTOMA\n\n[Term]\nid: T:1\nname: fiebre\nxref: MESH:D005334\n");
  oboKb = join(dir, "obo.sqlite");
  await buildKnowledgeBase([oboSource(obo)], oboKb);
});
afterAll(async () => {
  await linker.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("library errors", () => {
  it("carry library codes, and no command-line flag in their words", async () => {
    const dataset: Dataset = { format: "spaccc", problems: [], documents: [{ id: "d", text: "Tiene fiebre.", mentions: [{ id: "m", label: "SINTOMA", fragments: [{ start: 6, end: 12 }], text: "fiebre", codes: ["1"] }] }] };
    const out = join(dir, "out.jsonl");
    await linkDocuments(dataset, linker, { outPath: out, format: "jsonl", runOptions: { beams: 2 } });
    const cases: [string, () => unknown][] = [
      ["DATA_UNKNOWN_FORMAT", () => readDataset(out, { format: "xml" as never })],
      ["KB_INVALID_OPTIONS", () => openSources(undefined, [])],
      ["KB_UNKNOWN_VOCABULARY", () => openXrefMap(oboKb, "UMLS_CUI")],
      ["TRAIN_INVALID_OPTIONS", () => asMixMode("half")],
      ["SYNTH_INVALID_OPTIONS", () => chatCompletionsUrl("not a url")],
      ["SYNTH_INVALID_OPTIONS", () => asSynthLanguage("de")],
      ["SYNTH_INVALID_OPTIONS", () => runSynth({ perConcept: 0, concurrency: 1 } as SynthRunOptions)],
      ["SERVER_INVALID_OPTIONS", () => startLinkServer(linker, { port: 0, maxBeams: 0 })],
      ["SERVER_INVALID_OPTIONS", () => startLinkServer(linker, { port: 0, token: "short" })],
      ["RUN_OPTIONS_MISMATCH", () => linkDocuments(dataset, linker, { outPath: out, format: "jsonl", runOptions: { beams: 3 } })],
      ["LINKER_INVALID_OPTIONS", () => openLinker({ kb: kbPath, linker: "generative" })],
      ["LINKER_INVALID_OPTIONS", () => openLinker({ kb: kbPath, linker: "hybrid" })],
    ];
    for (const [code, f] of cases) expect(await thrown(f), code).toEqual({ code, flag: undefined });
  });

  it("CLI_USAGE is thrown by the CLI only", () => {
    const offenders: string[] = [];
    const walk = (d: string): void => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) {
          if (p !== join("src", "cli")) walk(p);
        } else if (p.endsWith(".ts") && readFileSync(p, "utf8").includes('"CLI_USAGE"')) offenders.push(p);
      }
    };
    walk("src");
    expect(offenders.filter((p) => p !== join("src", "errors.ts"))).toEqual([]);
  });
});

describe("the CLI maps library option errors to usage errors", () => {
  it("exit 2 with the usage text and the library's code; its own flags where they help", async () => {
    const xrefs = captureIO();
    expect(await main(["link", "--kb", oboKb, "--map-to", "UMLS_CUI", "[fiebre]{SINTOMA}"], xrefs.io)).toBe(2);
    expect(xrefs.err()).toMatch(/known vocabularies: MESH[\s\S]*usage: syncabel link[\s\S]*\[KB_UNKNOWN_VOCABULARY\]/);
    const c = captureIO();
    expect(await main(["link-docs", "--kb", kbPath, "--format", "spaccc", "in.tsv", "-o", join(dir, "o.jsonl"), "--linker", "generative"], c.io)).toBe(2);
    expect(c.err()).toContain("--linker generative needs --model DIR");
    const synth = captureIO();
    expect(await main(["synth", "--kb", kbPath, "--endpoint", "not a url", "--model", "m", "--language", "es", "-o", join(dir, "s.jsonl")], synth.io)).toBe(2);
    expect(synth.err()).toMatch(/usage: syncabel synth[\s\S]*\[SYNTH_INVALID_OPTIONS\]/);
  });
});
