/**
 * Regression tests of issue 11 (KB side): rows that cannot be linked are skipped with a reason, a build never
 * destroys its input nor leaves temp files of killed builds behind, and a damaged index fails with
 * KB_INDEX_INVALID instead of answering wrong codes.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSyncabelError } from "../../src/errors.js";
import { writeFileAtomic } from "../../src/io/atomic-write.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../../src/kb/index.js";
import { TFIDF_ARTIFACT_KEY, TfidfLinker } from "../../src/linker/tfidf-linker.js";
import { mulberry32 } from "../../src/util/random.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-kb-hardening-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tsv(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

describe("row validation at kb build", () => {
  it("skips a row whose term holds a tab (it would shift the columns into a new group)", async () => {
    const input = tsv("tab.tsv", "code\tterm\tgroup\n1\tfiebre\tSINTOMA\n2\tdolor\tde cabeza\tSINTOMA\n");
    const r = await buildKnowledgeBase(input, join(dir, "tab.sqlite"));
    expect(Object.keys(r.groups)).toEqual(["SINTOMA"]);
    expect(r.rowsSkipped).toBe(1);
    expect(r.skipped[0]).toMatchObject({ line: 3 });
    expect(r.skipped[0].reason).toContain("tab");
  });

  it("skips groups that cannot be written in markup: SIN{TOMA}, [G]", async () => {
    const input = tsv("groups.tsv", "code\tterm\tgroup\n1\tfiebre\tSINTOMA\n2\ttos\tSIN{TOMA}\n3\tdolor\t[G]\n");
    const r = await buildKnowledgeBase(input, join(dir, "groups.sqlite"));
    expect(Object.keys(r.groups)).toEqual(["SINTOMA"]);
    expect(r.skipped.map((s) => s.line)).toEqual([3, 4]);
    for (const s of r.skipped) expect(s.reason).toContain("markup");
  });

  it("a stray CR inside a term skips that row instead of splitting it into two", async () => {
    const input = tsv("cr.tsv", "code\tterm\tgroup\r\n1\tfiebre\tSINTOMA\r\n2\tdolor\rtorácico\tSINTOMA\r\n3\ttos\tSINTOMA\r\n");
    const r = await buildKnowledgeBase(input, join(dir, "cr.sqlite"));
    expect(r.rowsRead).toBe(3);
    expect(r.rowsKept).toBe(2);
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0].line).toBe(3);
    const kb = openKnowledgeBase(join(dir, "cr.sqlite"));
    expect([...kb.entriesOfGroup("SINTOMA")].map((e) => e.name)).toEqual(["fiebre", "tos"]);
    kb.close();
  });

  it("bounds the term length: a 10 MB 'term' is skipped with its length", async () => {
    const huge = "a".repeat(10_000_000);
    const input = tsv("huge.tsv", `code\tterm\tgroup\n1\tfiebre\tSINTOMA\n2\t${huge}\tSINTOMA\n`);
    const r = await buildKnowledgeBase(input, join(dir, "huge.sqlite"));
    expect(r.rowsKept).toBe(1);
    expect(r.skipped[0].reason).toContain("longer than 1000 characters");
    expect(r.skipped[0].reason.length).toBeLessThan(300);
  });

  it("a huge header line is cut in the error message", async () => {
    const input = tsv("bad-header.tsv", `${"x".repeat(1_000_000)}\n1\tuno\tA\n`);
    const e = await buildKnowledgeBase(input, join(dir, "bad-header.sqlite")).catch((x: unknown) => x);
    expect(isSyncabelError(e) && e.code).toBe("KB_FILE_INVALID");
    expect((e as Error).message.length).toBeLessThan(1000);
  });

  it("stores names in NFC: a decomposed accent finds the composed name", async () => {
    const input = tsv("nfd.tsv", `code\tterm\tgroup\n1\t${"cefale\u0301a".normalize("NFD")}\tSINTOMA\n`);
    await buildKnowledgeBase(input, join(dir, "nfd.sqlite"));
    const kb = openKnowledgeBase(join(dir, "nfd.sqlite"));
    expect(kb.lookup("cefal\u00e9a", "SINTOMA")?.code).toBe("1");
    const linker = TfidfLinker.fromKnowledgeBase(kb);
    const [composed, decomposed] = await linker.sample(["Dolor: [cefal\u00e9a]{SINTOMA}.", "Dolor: [cefale\u0301a]{SINTOMA}."], { num_beams: 1 });
    expect(decomposed.beams?.[0].beam_score).toBeCloseTo(composed.beams?.[0].beam_score ?? NaN, 9);
    expect(composed.beams?.[0].beam_score).toBeCloseTo(1, 6);
    kb.close();
  });
});

describe("kb build protects its input and cleans up after killed builds", () => {
  it("refuses to write the index over its own terminology file (library too)", async () => {
    const input = tsv("self.tsv", "code\tterm\tgroup\n1\tuno\tA\n");
    const e = await buildKnowledgeBase(input, input).catch((x: unknown) => x);
    expect(isSyncabelError(e)).toBe(true);
    expect(readFileSync(input, "utf8")).toBe("code\tterm\tgroup\n1\tuno\tA\n");
  });

  it("removes temp files left by a build that was killed (dead pid), keeps those of live builds", async () => {
    const input = tsv("t.tsv", "code\tterm\tgroup\n1\tuno\tA\n");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    const stale = [`.t.sqlite.${dead}.abc.tmp`, `.t.sqlite.${dead}.abc.tmp.staging`, `.t.sqlite.${dead}.abd.tmp-journal`];
    for (const f of stale) writeFileSync(join(dir, f), "x".repeat(1000));
    const live = `.t.sqlite.${process.pid}.zzz.tmp`;
    writeFileSync(join(dir, live), "live");
    await buildKnowledgeBase(input, join(dir, "t.sqlite"));
    for (const f of stale) expect(existsSync(join(dir, f)), f).toBe(false);
    expect(existsSync(join(dir, live))).toBe(true);
    rmSync(join(dir, live));
    // Every atomic writer does the same for its own file (sft-data, eval --json, ... killed mid-write).
    const staleJson = join(dir, `.report.json.${dead}.abc.tmp`);
    writeFileSync(staleJson, "half");
    writeFileAtomic(join(dir, "report.json"), "{}");
    expect(existsSync(staleJson)).toBe(false);
    expect(readFileSync(join(dir, "report.json"), "utf8")).toBe("{}");
  });
});

describe("a damaged KB index fails with KB_INDEX_INVALID, never with wrong codes", () => {
  let pristine: string;
  const sentences: string[] = [];
  let expected: string;

  /** Link with a fresh copy opened from `path`: the JSON of the results, or the error's code. */
  async function linkWith(path: string): Promise<string> {
    try {
      const kb = openKnowledgeBase(path);
      try {
        const linker = TfidfLinker.fromKnowledgeBase(kb);
        return JSON.stringify(await linker.sample(sentences, { num_beams: 3 }));
      } finally {
        kb.close();
      }
    } catch (e) {
      if (isSyncabelError(e)) return `error:${e.code}`;
      throw e;
    }
  }

  beforeAll(async () => {
    const random = mulberry32(7);
    const rows = ["code\tterm\tgroup"];
    const word = (): string => Array.from({ length: 4 + Math.floor(random() * 6) }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");
    for (let i = 0; i < 1500; i++) rows.push(`${100000 + i}\t${word()} ${word()}\t${i % 3 === 0 ? "ENFERMEDAD" : "SINTOMA"}`);
    pristine = tsv("big.tsv", `${rows.join("\n")}\n`);
    const kbPath = join(dir, "big.sqlite");
    await buildKnowledgeBase(pristine, kbPath);
    pristine = kbPath;
    for (let i = 1; i < 40; i += 3) {
      const [, name, group] = rows[i].split("\t");
      sentences.push(`El paciente refiere [${name}]{${group}} desde ayer.`);
    }
    expected = await linkWith(pristine); // also stores the lexical index artifact
    expect(expected.startsWith("error")).toBe(false);
  });

  function copy(name: string): string {
    const path = join(dir, name);
    copyFileSync(pristine, path);
    return path;
  }

  it("a truncated copy, a zeroed header, a wrong recorded count", async () => {
    const truncated = copy("truncated.sqlite");
    writeFileSync(truncated, readFileSync(truncated).subarray(0, Math.floor(readFileSync(truncated).length / 2)));
    expect(await linkWith(truncated)).toBe("error:KB_INDEX_INVALID");
    const header = copy("header.sqlite");
    const bytes = readFileSync(header);
    bytes.fill(0, 0, 16);
    writeFileSync(header, bytes);
    expect(await linkWith(header)).toBe("error:KB_INDEX_INVALID");
    const counts = copy("counts.sqlite");
    const db = new Database(counts);
    db.prepare("DELETE FROM names WHERE (grp, name) IN (SELECT grp, name FROM names LIMIT 1)").run();
    db.close();
    expect(await linkWith(counts)).toBe("error:KB_INDEX_INVALID");
  });

  it("a damaged stored artifact is detected by its checksum and rebuilt: same answers", async () => {
    const path = copy("artifact.sqlite");
    const db = new Database(path);
    const row = db.prepare("SELECT bytes FROM artifacts WHERE key = ?").get(TFIDF_ARTIFACT_KEY) as { bytes: Buffer };
    // Well-formed but wrong: the IDF weights (the first float array after the JSON header) set to 1e300.
    const damaged = Buffer.from(row.bytes);
    const jsonLength = damaged.readUInt32LE(0);
    const features = (JSON.parse(damaged.subarray(8, 8 + jsonLength).toString("utf8")) as { features: string[] }).features.length;
    const idfAt = 8 + Math.ceil(jsonLength / 8) * 8;
    for (let f = 0; f < features; f++) damaged.writeDoubleLE(1e300, idfAt + 8 * f);
    db.prepare("UPDATE artifacts SET bytes = ? WHERE key = ?").run(damaged, TFIDF_ARTIFACT_KEY);
    db.close();
    expect(await linkWith(path)).toBe(expected);
  });

  it("kb info's full check finds a flipped byte inside a name", async () => {
    const path = copy("flip-name.sqlite");
    const bytes = readFileSync(path);
    const db = new Database(pristine, { readonly: true });
    const name = (db.prepare("SELECT name FROM names LIMIT 1 OFFSET 100").get() as { name: string }).name;
    db.close();
    const at = bytes.indexOf(Buffer.from(name));
    expect(at).toBeGreaterThan(0);
    bytes[at] = bytes[at] === 0x71 ? 0x72 : 0x71;
    writeFileSync(path, bytes);
    expect(() => openKnowledgeBase(path, { verify: "full" }).close()).toThrow(/damaged/);
    expect(() => openKnowledgeBase(pristine, { verify: "full" }).close()).not.toThrow();
  });

  it("40 copies with random bytes overwritten: each fails with KB_INDEX_INVALID or answers exactly as the pristine index", async () => {
    const random = mulberry32(2024);
    const size = readFileSync(pristine).length;
    let failed = 0;
    for (let k = 0; k < 40; k++) {
      const path = copy(`random-${k}.sqlite`);
      const bytes = readFileSync(path);
      const start = 100 + Math.floor(random() * (size - 200));
      for (let i = 0; i < 64; i++) bytes[Math.min(size - 1, start + i)] = Math.floor(random() * 256);
      writeFileSync(path, bytes);
      const got = await linkWith(path);
      if (got.startsWith("error:")) {
        expect(got).toBe("error:KB_INDEX_INVALID");
        failed++;
      } else {
        expect(got, `copy ${k}: damage at ${start}`).toBe(expected);
      }
      rmSync(path);
    }
    expect(failed).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((f) => f.startsWith("random-"))).toEqual([]);
  });
});
