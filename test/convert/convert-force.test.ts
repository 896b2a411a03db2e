/**
 * Regression test of issue 16: `model convert -o OUT --force` replaces only a model folder syncabel wrote (its
 * marker, or exactly convert's layout); `-o .` in a project folder, or a folder with anything else, is refused
 * and left as it was.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { CONVERTED_MARKER, convertCheckpoint } from "../../src/convert/convert.js";
import { writeRandomCheckpoint } from "../../src/testing/random-checkpoint.js";
import { captureIO } from "../support/cli-io.js";

let root: string;
let ckpt: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "syncabel-convert-force-"));
  ckpt = join(root, "ckpt");
  await writeRandomCheckpoint(ckpt, { shape: { layers: 1, hidden: 32, heads: 2, kvHeads: 1, intermediate: 64, seed: 5 } });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );
}

describe("model convert --force", () => {
  it("refuses a folder it did not write, and leaves it as it was", async () => {
    const project = join(root, "project");
    mkdirSync(join(project, "src"), { recursive: true });
    writeFileSync(join(project, "notes.txt"), "my notes");
    writeFileSync(join(project, "src", "main.ts"), "code");
    expect(await codeOf(convertCheckpoint(ckpt, project, { force: true }))).toBe("CONVERT_OUTPUT_INVALID");
    expect(readFileSync(join(project, "notes.txt"), "utf8")).toBe("my notes");
    expect(existsSync(join(project, "src", "main.ts"))).toBe(true);
    // The CLI, as `-o .` from inside the folder: a usage error (exit 2) naming the problem.
    const c = captureIO();
    const cwd = process.cwd();
    process.chdir(project);
    try {
      expect(await main(["model", "convert", ckpt, "-o", ".", "--force"], c.io)).toBe(2);
    } finally {
      process.chdir(cwd);
    }
    expect(c.err()).toMatch(/is not a model folder 'syncabel model convert' wrote \(it holds "(notes\.txt|src)"\)/);
    expect(readdirSync(project).sort()).toEqual(["notes.txt", "src"]);
  });

  it("replaces an empty folder, one it wrote (marker), and one of convert's layout without the marker", async () => {
    const out = join(root, "out");
    mkdirSync(out);
    await convertCheckpoint(ckpt, out, { force: true });
    expect(existsSync(join(out, CONVERTED_MARKER))).toBe(true);
    await convertCheckpoint(ckpt, out, { force: true });
    rmSync(join(out, CONVERTED_MARKER)); // as converted before the marker existed
    await convertCheckpoint(ckpt, out, { force: true });
    expect(existsSync(join(out, "onnx", "model.onnx"))).toBe(true);
  }, 60_000);

  it("refuses convert's layout with anything more in it", async () => {
    const out = join(root, "layout-plus");
    await convertCheckpoint(ckpt, out);
    rmSync(join(out, CONVERTED_MARKER));
    writeFileSync(join(out, "onnx", "model_q4.onnx"), "someone else's export");
    expect(await codeOf(convertCheckpoint(ckpt, out, { force: true }))).toBe("CONVERT_OUTPUT_INVALID");
    expect(readFileSync(join(out, "onnx", "model_q4.onnx"), "utf8")).toBe("someone else's export");
  }, 60_000);
});
