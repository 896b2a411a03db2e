import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/model.js";
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
    [["nonsense", "-o", "x"], /expected the subcommand 'random'/],
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
