import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertCheckpoint } from "../../src/convert/convert.js";
import { loadOnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { writeRandomCheckpoint } from "../../src/testing/random-checkpoint.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./convert-cli-child.ts", import.meta.url));

let dir: string;
let source: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-convert-kill-"));
  source = join(dir, "hf");
  await writeRandomCheckpoint(source, { shape: { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 9 }, maxShardBytes: 4e6 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const partials = (): string[] => readdirSync(dir).filter((f) => f.includes(".partial-"));

/** Start the CLI conversion slowed to ~150 ms per tensor; resolves once its partial folder holds weights. */
async function startSlowConversion(out: string): Promise<{ child: ChildProcess; exited: Promise<number | null>; stderr: () => string }> {
  // `node --import tsx` (not the tsx wrapper, which forks): the signalled pid is the one converting.
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, "model", "convert", source, "-o", out], {
    cwd: ROOT,
    env: { ...process.env, SYNCABEL_CONVERT_THROTTLE_MS: "150" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  const partial = join(dir, `.${"out"}.partial-${child.pid}`);
  while (!(existsSync(join(partial, "onnx")) && readdirSync(join(partial, "onnx")).length > 0)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`conversion did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500)); // a few tensors into the data file
  return { child, exited, stderr: () => stderr };
}

describe("interrupted conversion", () => {
  it("kill -9 mid-way leaves no folder that loads; the next run completes and removes the leftovers", async () => {
    const out = join(dir, "out");
    const { child, exited } = await startSlowConversion(out);
    child.kill("SIGKILL");
    expect(await exited).toBeNull();
    expect(existsSync(out)).toBe(false);
    const [left] = partials();
    expect(left).toBeDefined();
    // The partial folder has weights but no onnx/model.onnx and no config.json: it cannot be loaded by mistake.
    expect(readdirSync(join(dir, left, "onnx")).some((f) => f === "model.onnx")).toBe(false);
    expect(existsSync(join(dir, left, "config.json"))).toBe(false);
    await expect(loadOnnxCausalLM(join(dir, left))).rejects.toMatchObject({ code: expect.stringMatching(/MODEL_FILE_MISSING|MODEL_CONFIG_INVALID/) });

    await convertCheckpoint(source, out);
    expect(partials()).toEqual([]);
    const lm = await loadOnnxCausalLM(out, { threads: 1 });
    await lm.dispose();
    rmSync(out, { recursive: true });
  }, 90_000);

  it.each(["SIGTERM", "SIGINT"] as const)("%s stops the conversion promptly, removes the partial output and exits 128+n", async (signal) => {
    const out = join(dir, "out");
    const { child, exited, stderr } = await startSlowConversion(out);
    child.kill(signal);
    expect(await exited).toBe(signal === "SIGTERM" ? 143 : 130);
    expect(stderr()).toContain(`${signal}: stopping the conversion`);
    expect(existsSync(out)).toBe(false);
    expect(partials()).toEqual([]);
  }, 90_000);
});
