import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/model.js";
import { main } from "../../src/cli/main.js";
import { writeRandomCheckpoint } from "../../src/testing/random-checkpoint.js";
import { loadLlamaConfig } from "../../src/convert/llama-config.js";
import { openSafetensors } from "../../src/convert/safetensors.js";
import { captureIO } from "../support/cli-io.js";


describe("syncabel model random", () => {
  it("writes the model folder with the requested shape and reports it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-model-cli-"));
    try {
      const out = join(dir, "m");
      const cap = captureIO();
      const args = ["random", "-o", out, "--layers", "1", "--hidden", "32", "--heads", "4", "--kv-heads", "2", "--intermediate", "40", "--seed", "5"];
      expect(await run(args, cap.io)).toBe(0);
      const config = loadLlamaConfig(out);
      expect(config).toMatchObject({ numHiddenLayers: 1, hiddenSize: 32, numAttentionHeads: 4, numKeyValueHeads: 2, intermediateSize: 40 });
      for (const f of ["tokenizer.json", "model.safetensors", "onnx/model.onnx"]) expect(existsSync(join(out, f)), f).toBe(true);
      // Independent parameter count: sum of tensor sizes in the written safetensors file.
      const st = openSafetensors(join(out, "model.safetensors"));
      const count = [...st.entries.values()].reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
      st.close();
      expect(cap.out()).toContain(`parameters: ${count.toLocaleString("en-US")}`);
      expect(cap.out()).toMatch(/onnx\/model\.onnx/);
      expect(cap.out()).toMatch(/time: \d+\.\d+ s/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.each([
    [["random"], /missing -o DIR/],
    [["nonsense", "-o", "x"], /expected the subcommand 'convert' or 'random'/],
    [["random", "-o", "x", "--layers", "0"], /--layers must be a positive integer/],
    [["random", "-o", "x", "--hidden", "30", "--heads", "4"], /multiple of --heads/],
    [["random", "-o", "x", "--heads", "4", "--kv-heads", "3"], /multiple of --kv-heads/],
    [["random", "-o", "x", "--bogus"], /Unknown option/],
  ])("rejects %j with a usage error", async (args, message) => {
    const cap = captureIO();
    await expect(run(args, cap.io)).rejects.toMatchObject({ code: "CLI_USAGE", message: expect.stringMatching(message) });
  });

  it("prints help", async () => {
    const cap = captureIO();
    expect(await run(["--help"], cap.io)).toBe(0);
    expect(cap.out()).toContain("syncabel model random -o DIR");
  });
});

describe("syncabel model convert", () => {
  let dir: string;
  let source: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-convert-cli-"));
    source = join(dir, "hf");
    await writeRandomCheckpoint(source, { shape: { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 2 }, maxShardBytes: 4e6 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("converts, reports sizes and shows progress by megabytes", async () => {
    const out = join(dir, "int4");
    const cap = captureIO();
    expect(await run(["convert", source, "-o", out, "--dtype", "int4", "--block-size", "64"], cap.io)).toBe(0);
    expect(cap.out()).toContain(`converted ${source} -> ${out}`);
    expect(cap.out()).toContain("dtype: int4 (block size 64)");
    expect(cap.out()).toMatch(/files: config\.json, tokenizer\.json, .*onnx\/model\.onnx, onnx\/model\.onnx_data/);
    expect(cap.err()).toMatch(/convert \d+\/\d+ MB \(100\.0%\)/);
    expect(readdirSync(join(out, "onnx")).sort()).toEqual(["model.onnx", "model.onnx_data"]);
  }, 60_000);

  it.each([
    [["convert", "-o", "x"], /expected one checkpoint folder/],
    [["convert", "hf"], /missing -o OUT/],
    [["convert", "hf", "-o", "x", "--dtype", "int3"], /--dtype must be one of fp32, fp16, int8, int4/],
    [["convert", "hf", "-o", "x", "--block-size", "48"], /--block-size must be a power of two >= 16/],
  ])("rejects %j with a usage error", async (args, message) => {
    const cap = captureIO();
    await expect(run(args, cap.io)).rejects.toMatchObject({ code: "CLI_USAGE", message: expect.stringMatching(message) });
  });

  it("exits 2 with the usage text when OUT exists or is the input, 1 naming the problem for a bad checkpoint", async () => {
    const exists = join(dir, "exists");
    mkdirSync(exists);
    for (const out of [exists, source, join(source, "onnx")]) {
      const cap = captureIO();
      expect(await main(["model", "convert", source, "-o", out], cap.io)).toBe(2);
      expect(cap.err()).toMatch(/usage: syncabel model convert/);
      expect(cap.err()).toMatch(/\[CLI_USAGE\]/);
    }
    expect(readdirSync(exists)).toEqual([]);
    const cap = captureIO();
    expect(await main(["model", "convert", join(dir, "nowhere"), "-o", join(dir, "o")], cap.io)).toBe(1);
    expect(cap.err()).toMatch(/nowhere: checkpoint folder not found \[MODEL_FILE_MISSING\]/);
  });

  it("documents convert in --help", async () => {
    const cap = captureIO();
    expect(await run(["--help"], cap.io)).toBe(0);
    expect(cap.out()).toContain("syncabel model convert HF_DIR -o OUT");
    expect(cap.out()).toMatch(/--dtype T .*fp32 \(default, exact\), fp16, int8, int4/);
  });
});
