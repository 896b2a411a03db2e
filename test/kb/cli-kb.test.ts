import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/kb.js";
import { captureIO } from "../support/cli-io.js";


describe("syncabel kb", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-cli-kb-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const terms = join(dir, "terms.tsv");
  const rows = ["code\tterm\tgroup", "1\tuno\tA", "2\tdos\tA", "3\tdos\tB"];
  // 25 bad rows (no group) from line 5 on: only the first 20 are listed.
  for (let i = 0; i < 25; i++) rows.push(`${10 + i}\tmal ${i}`);
  writeFileSync(terms, `${rows.join("\n")}\n`);
  const kbPath = join(dir, "kb.sqlite");

  it("build prints counts and the first 20 skipped lines with reasons", async () => {
    const c = captureIO();
    const code = await run(["build", terms, "-o", kbPath], c.io);
    expect(code).toBe(0);
    expect(existsSync(kbPath)).toBe(true);
    expect(c.out()).toMatch(/read 28 rows .*kept 3, skipped 25/);
    const listed = c.err().split("\n").filter((l) => l.includes("terms.tsv:"));
    expect(listed).toHaveLength(20);
    expect(listed[0]).toContain("terms.tsv:5: missing group");
    expect(c.err()).toContain("and 5 more");
  });

  it("info prints concepts, names and groups, as JSON with --json", async () => {
    const c = captureIO();
    expect(await run(["info", kbPath, "--json"], c.io)).toBe(0);
    const info = JSON.parse(c.out()) as { concepts: number; names: number; groups: Record<string, { names: number; concepts: number }> };
    expect(info.concepts).toBe(3);
    expect(info.names).toBe(3);
    expect(info.groups).toEqual({ A: { names: 2, concepts: 2 }, B: { names: 1, concepts: 1 } });
    const t = captureIO();
    expect(await run(["info", kbPath], t.io)).toBe(0);
    expect(t.out()).toMatch(/3 concepts, 3 names, 2 groups/);
  });

  it("throws CLI_USAGE on bad command lines and KB_INDEX_INVALID on a missing index", async () => {
    const usage = expect.objectContaining({ code: "CLI_USAGE" });
    await expect(run(["build", terms], captureIO().io)).rejects.toEqual(usage);
    await expect(run(["frobnicate"], captureIO().io)).rejects.toEqual(usage);
    await expect(run(["build", terms, "-o", kbPath, "--bogus"], captureIO().io)).rejects.toEqual(usage);
    await expect(run(["build", terms, "-o", kbPath, "--format", "xml"], captureIO().io)).rejects.toEqual(usage);
    await expect(run(["info", join(dir, "nope.sqlite")], captureIO().io)).rejects.toEqual(expect.objectContaining({ code: "KB_INDEX_INVALID" }));
    const h = captureIO();
    expect(await run(["build", "--help"], h.io)).toBe(0);
    expect(h.out()).toContain("kb build");
  });
});
