import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, chooseReportedCode, openKnowledgeBase } from "../../src/kb/index.js";
import { mulberry32 as rng } from "../../src/util/random.js";


/**
 * Independent statement of the rule: a name's codes; codes owning a single-code name of the group are dropped
 * unless that drops all; lowest wins, numerically (BigInt) when all of the name's codes are digits.
 */
function bruteForce(rows: readonly { code: string; name: string; group: string }[]): Map<string, { codes: string[]; code: string }> {
  const codesOf = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = `${r.group}|${r.name}`;
    if (!codesOf.has(k)) codesOf.set(k, new Set());
    codesOf.get(k)!.add(r.code);
  }
  const owners = new Set<string>();
  for (const [k, codes] of codesOf) if (codes.size === 1) owners.add(`${k.split("|")[0]}|${[...codes][0]}`);
  const result = new Map<string, { codes: string[]; code: string }>();
  for (const [k, set] of codesOf) {
    const group = k.split("|")[0];
    const codes = [...set];
    const numeric = codes.every((c) => /^\d+$/.test(c));
    const less = (a: string, b: string): boolean => {
      if (numeric && BigInt(a) !== BigInt(b)) return BigInt(a) < BigInt(b);
      return a < b;
    };
    const sorted = [...codes].sort((a, b) => (a === b ? 0 : less(a, b) ? -1 : 1));
    let pool = codes.filter((c) => !owners.has(`${group}|${c}`));
    if (codes.length === 1 || pool.length === 0) pool = codes;
    const lowest = pool.reduce((best, c) => (less(c, best) ? c : best));
    result.set(k, { codes: sorted, code: lowest });
  }
  return result;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("name disambiguation", () => {
  it("follows the rule on a hand-made case", () => {
    // Codes 2 and 10 share a name; 2 already owns an unambiguous name, so 10 is reported although 2 is lower.
    const owners = new Set(["2"]);
    expect(chooseReportedCode(["10", "2"], (c) => owners.has(c))).toBe("10");
    expect(chooseReportedCode(["10", "2"], () => false)).toBe("2"); // numeric, not "10" < "2"
    expect(chooseReportedCode(["10", "2", "x"], () => false)).toBe("10"); // mixed -> lexicographic
    expect(chooseReportedCode(["10", "2"], () => true)).toBe("2"); // every code owns a name: keep all
    expect(chooseReportedCode(["7"], () => true)).toBe("7");
  });

  it("matches a brute-force implementation on random KBs (built through the real index)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-disamb-"));
    dirs.push(dir);
    for (let trial = 0; trial < 12; trial++) {
      const rand = rng(1000 + trial);
      const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
      const mixed = trial % 3 === 2;
      const codePool = Array.from({ length: 4 + Math.floor(rand() * 12) }, (_, i) =>
        mixed && rand() < 0.3 ? `C${i}x` : String(Math.floor(rand() * (rand() < 0.5 ? 20 : 1e12))),
      );
      if (trial % 4 === 0) codePool.push("007", "7"); // numerically equal codes
      const namePool = Array.from({ length: 3 + Math.floor(rand() * 10) }, (_, i) => `nombre ${i}`);
      const groups = ["A", "B", "C"].slice(0, 1 + Math.floor(rand() * 3));
      const rows = Array.from({ length: 5 + Math.floor(rand() * 60) }, () => ({ code: pick(codePool), name: pick(namePool), group: pick(groups) }));
      const path = join(dir, `t${trial}.tsv`);
      writeFileSync(path, `group\tterm\tcode\n${rows.map((r) => `${r.group}\t${r.name}\t${r.code}`).join("\n")}\n`);
      const out = join(dir, `t${trial}.sqlite`);
      const report = await buildKnowledgeBase(path, out);
      const expected = bruteForce(rows);
      expect(report.names).toBe(expected.size);
      const kb = openKnowledgeBase(out);
      try {
        let seen = 0;
        for (const g of kb.groups()) {
          for (const entry of kb.entriesOfGroup(g)) {
            const want = expected.get(`${g}|${entry.name}`);
            expect(want, `trial ${trial} ${g}|${entry.name}`).toBeDefined();
            expect({ codes: entry.codes, code: entry.code }, `trial ${trial} ${g}|${entry.name}`).toEqual(want);
            seen++;
          }
        }
        expect(seen).toBe(expected.size);
      } finally {
        kb.close();
      }
    }
  });
});
