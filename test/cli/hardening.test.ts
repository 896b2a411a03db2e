/**
 * Regression tests of issue 11 (CLI side): exit status 0 only when the command did what was asked, 1 when items
 * failed (count on stderr), 2 for usage errors with the usage text; messages name the input and the fix.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";
import { runCliChild } from "../support/cli-child.js";
import { makeTinyModel } from "../support/tiny-model.js";

const TERMS = ["386661006\tfiebre\tSINTOMA", "49727002\ttos\tSINTOMA", "25064002\tcefalea\tSINTOMA"];
const TEXT = "Acude por fiebre. Refiere tos seca y cefalea.";

let dir: string;
let kb: string;
let gold: string;

/** A SPACCC gold file (+ texts/) of the mentions `[word, code, label]`. */
function writeGold(path: string, mentions: readonly (readonly [string, string, string])[], extraRows: readonly string[] = []): string {
  const rows = mentions.map(([w, c, label]) => {
    const s = TEXT.indexOf(w);
    return `d1\t${label}\t${s}\t${s + w.length}\t${w}\t${c}`;
  });
  writeFileSync(path, `filename\tlabel\tstart_span\tend_span\tspan\tcode\n${[...rows, ...extraRows].join("\n")}\n`);
  return path;
}

async function cli(args: string[], input = "", stdinIsTTY = false): Promise<{ code: number; out: string; err: string }> {
  const c = captureIO(input);
  const code = await main(args, { ...c.io, stdinIsTTY });
  return { code, out: c.out(), err: c.err() };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-hardening-"));
  kb = await buildKbFromRows(dir, TERMS);
  mkdirSync(join(dir, "texts"));
  writeFileSync(join(dir, "texts", "d1.txt"), TEXT);
  gold = writeGold(join(dir, "gold.tsv"), [["fiebre", "386661006", "SINTOMA"], ["tos", "49727002", "SINTOMA"], ["cefalea", "25064002", "SINTOMA"]]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("usage errors (exit 2, with the usage text)", () => {
  it.each([
    ["link", ["link", "--kb", "k", "--bogus"]],
    ["eval", ["eval", "--gold", "g", "--predictions", "p", "--bogus"]],
    ["serve", ["serve", "--kb", "k", "--bogus"]],
    ["link-docs", ["link-docs", "--bogus"]],
    ["synth", ["synth", "--bogus"]],
    ["sft-data", ["sft-data", "--bogus"]],
    ["kb", ["kb", "build", "--bogus"]],
  ])("an unknown flag of %s", async (name, args) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--bogus");
    expect(r.err).toContain("usage:");
    expect(r.err).toContain("[CLI_USAGE]");
    expect(r.err).not.toMatch(/ERR_PARSE_ARGS|at parseArgs/);
  });

  it("--version prints the package version; no command is a usage error", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    const v = await cli(["--version"]);
    expect(v.code).toBe(0);
    expect(v.out.trim()).toBe(`syncabel ${pkg.version}`);
    expect((await cli([])).code).toBe(2);
  });

  it("outputs into a missing folder or onto a folder name what to fix, never an internal temp file", async () => {
    const pred = join(dir, "p.tsv");
    const missing = join(dir, "no-such-dir", "plot.svg");
    const e = await cli(["eval", "--gold", gold, "--predictions", pred, "--plot", missing]);
    expect(e.code).toBe(2);
    expect(e.err).toContain(missing);
    expect(e.err).toContain("does not exist");
    expect(e.err).not.toMatch(/\.tmp|ENOENT/);
    const l = await cli(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", join(dir, "nope", "out.tsv")]);
    expect(l.code).toBe(2);
    expect(l.err).toContain("does not exist");
    expect(l.err).not.toMatch(/\.tmp|ENOENT/);
    const k = await cli(["kb", "build", join(dir, "terms.tsv"), "-o", dir]);
    expect(k.code).toBe(2);
    expect(k.err).toContain("is a folder");
    expect(k.err).not.toMatch(/\.tmp|EISDIR/);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("a folder given as --kb is named as a folder, not 'not found'", async () => {
    const r = await cli(["link", "--kb", dir, "x [fiebre]{SINTOMA}"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("is a folder");
    expect(r.err).toContain("KB_INDEX_INVALID");
  });

  it("swapped --gold and --predictions are named as such", async () => {
    const pred = join(dir, "swap-pred.tsv");
    expect((await cli(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", pred])).code).toBe(0);
    const r = await cli(["eval", "--gold", pred, "--predictions", gold]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("swap --gold and --predictions");
    expect(r.err).not.toContain("texts folder");
  });

  it("kb build -o onto its own input is refused and the input is untouched", async () => {
    const terms = join(dir, "self.tsv");
    const content = "code\tterm\tgroup\n1\tuno\tA\n";
    writeFileSync(terms, content);
    const r = await cli(["kb", "build", terms, "-o", terms]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("destroy the input");
    expect(readFileSync(terms, "utf8")).toBe(content);
  });
});

describe("exit 1 when the command did not do what was asked", () => {
  it("link-docs with the wrong --format (no mention read)", async () => {
    const r = await cli(["link-docs", "--kb", kb, "--format", "pubtator", gold, "-o", join(dir, "wrong-format.tsv")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/format/);
  });

  it("link-docs where no KB group matches the dataset's labels", async () => {
    const other = writeGold(join(dir, "other-labels.tsv"), [["fiebre", "386661006", "ENFERMEDAD"], ["tos", "49727002", "ENFERMEDAD"]]);
    const r = await cli(["link-docs", "--kb", kb, "--format", "spaccc", other, "-o", join(dir, "labels.tsv")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("MARKUP_UNKNOWN_GROUP");
    expect(r.err).toContain('"ENFERMEDAD"');
  });

  it("link-docs where some mentions fail: exit 1 with the count", async () => {
    const mixed = writeGold(join(dir, "mixed.tsv"), [["fiebre", "386661006", "SINTOMA"], ["tos", "49727002", "ENFERMEDAD"]]);
    const r = await cli(["link-docs", "--kb", kb, "--format", "spaccc", mixed, "-o", join(dir, "mixed-out.tsv")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("1 of 2 mentions");
  });

  it("eval with nothing to score (n = 0) is an error, not R@1 0.0", async () => {
    const noCode = writeGold(join(dir, "nocode.tsv"), [["fiebre", "NO_CODE", "SINTOMA"]]);
    const pred = join(dir, "nocode-pred.tsv");
    await cli(["link-docs", "--kb", kb, "--format", "spaccc", noCode, "-o", pred]);
    const r = await cli(["eval", "--gold", noCode, "--predictions", pred, "--resamples", "0"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("EVAL_INVALID_INPUT");
    expect(r.out).not.toContain("R@1");
  });

  it("eval states skipped gold rows in the Markdown and the JSON report", async () => {
    const pred = join(dir, "skip-pred.tsv");
    expect((await cli(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", pred])).code).toBe(0);
    const withBad = writeGold(join(dir, "gold-bad.tsv"), [["fiebre", "386661006", "SINTOMA"], ["tos", "49727002", "SINTOMA"]], ["d1\tSINTOMA\tx\ty\ttos\t1"]);
    const json = join(dir, "report.json");
    const r = await cli(["eval", "--gold", withBad, "--predictions", pred, "--resamples", "0", "--json", json]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Gold rows skipped while reading: 1 \(33\.3 %/);
    expect((JSON.parse(readFileSync(json, "utf8")) as { counts: { gold_rows_skipped: number } }).counts.gold_rows_skipped).toBe(1);
  });
});

describe("messages and hints", () => {
  it("link on a terminal says it reads stdin instead of waiting silently", async () => {
    const r = await cli(["link", "--kb", kb], "Refiere [fiebre]{SINTOMA}.\n", true);
    expect(r.code).toBe(0);
    expect(r.err).toContain("reading marked sentences from the terminal");
    expect(r.out).toContain("386661006");
  });

  it("--device, --language, --threads without a model (TF-IDF linker) are not accepted silently", async () => {
    const r = await cli(["link", "--kb", kb, "--device", "cuda", "--language", "fr", "Refiere [fiebre]{SINTOMA}."]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("--device has no effect");
    expect(r.err).toContain("--language has no effect");
  });

  it("--device cuda without a GPU: one message of ours, not ONNX Runtime's raw log line first", async () => {
    const model = await makeTinyModel({ layers: 1 });
    try {
      const r = runCliChild(["link", "--kb", kb, "--model", model.dir, "--device", "cuda", "Refiere [fiebre]{SINTOMA}."]);
      if (r.status === 0) return; // a machine with CUDA links
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("[MODEL_RUNTIME]");
      expect(r.stderr).not.toMatch(/\[E:onnxruntime|provider_bridge_ort/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      model.cleanup();
    }
  });

  it("npm does not warn about the project's .npmrc on every call", () => {
    const r = spawnSync("npm", ["config", "get", "registry"], { cwd: new URL("../..", import.meta.url).pathname, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/Unknown project config/);
  });
});

describe("link-docs resume", () => {
  it("refuses to resume an output written with other options; --force starts over", async () => {
    const out = join(dir, "resume.jsonl");
    expect((await cli(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", out, "--beams", "2"])).code).toBe(0);
    const first = readFileSync(out, "utf8");
    const r = await cli(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", out, "--beams", "3"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("beams=2");
    expect(r.err).toContain("--force");
    expect(readFileSync(out, "utf8")).toBe(first);
    expect((await cli(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", out, "--beams", "3", "--force"])).code).toBe(0);
    const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { beams: unknown[] });
    expect(rows).toHaveLength(3);
    expect(existsSync(`${out}.partial`)).toBe(false);
    // Same options again: a plain resume of a finished output, unchanged.
    const again = readFileSync(out, "utf8");
    expect((await cli(["link-docs", "--kb", kb, "--format", "spaccc", gold, "-o", out, "--beams", "3"])).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(again);
  });
});
