/**
 * The hierarchy index (src/kb/relations.ts) against brute force: breadth-first searches over the edge list written
 * here, on seeded random DAGs with several parents per node; cycles, old index files and damaged tables.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { run as runKb } from "../../src/cli/commands/kb.js";
import { run as runLink } from "../../src/cli/commands/link.js";
import { buildKnowledgeBase, Hierarchy, openHierarchy, openKnowledgeBase, readRelationCounts } from "../../src/kb/index.js";
import { decodeHierarchy } from "../../src/kb/hierarchy-csr.js";
import { mulberry32 } from "../../src/util/random.js";
import { captureIO } from "../support/cli-io.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-relations-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A random DAG: node i's parents are drawn among nodes 0..i-1 (1 to 3 of them), so there is no cycle. */
function randomDag(n: number, seed: number): [string, string][] {
  const rand = mulberry32(seed);
  const edges: [string, string][] = [];
  for (let i = 1; i < n; i++) {
    const k = rand() < 0.6 ? 1 : rand() < 0.7 ? 2 : 3;
    for (let j = 0; j < k; j++) edges.push([`C${i}`, `C${Math.floor(rand() * i)}`]);
  }
  return edges;
}

/** Minimum upward distances from `start` by breadth-first search over the edge list. */
const parentMaps = new WeakMap<object, Map<string, string[]>>();
function bfsUp(edges: readonly (readonly [string, string])[], start: string): Map<string, number> {
  let parents = parentMaps.get(edges);
  if (parents === undefined) {
    parents = new Map<string, string[]>();
    for (const [c, p] of edges) {
      const list = parents.get(c);
      if (list) list.push(p);
      else parents.set(c, [p]);
    }
    parentMaps.set(edges, parents);
  }
  const dist = new Map<string, number>([[start, 0]]);
  let frontier = [start];
  for (let d = 1; frontier.length > 0; d++) {
    const next: string[] = [];
    for (const v of frontier) for (const p of parents.get(v) ?? []) if (!dist.has(p)) {
      dist.set(p, d);
      next.push(p);
    }
    frontier = next;
  }
  dist.delete(start);
  return dist;
}

describe("hierarchy closure", () => {
  it("ancestors and their shortest distances match a breadth-first search on random DAGs", () => {
    for (const seed of [1, 2, 3]) {
      const edges = randomDag(300, seed);
      const h = new Hierarchy(edges);
      expect(h.cycleEdgesIgnored).toBe(0);
      for (let i = 0; i < 300; i += 7) {
        const code = `C${i}`;
        const expected = [...bfsUp(edges, code).entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
        expect(h.ancestors(code).map((a) => [a.code, a.distance])).toEqual(expected);
      }
      const full = h.materialize();
      let total = 0;
      for (let i = 0; i < 300; i++) total += bfsUp(edges, `C${i}`).size;
      expect(full.entries).toBe(total);
      expect(full.computed).toBe(300);
    }
  });

  it("relate: ancestor, descendant, common ancestor path and shared parents match brute force", () => {
    const edges = randomDag(200, 9);
    const h = new Hierarchy(edges);
    const parentsOf = (c: string) => new Set(edges.filter(([x]) => x === c).map(([, p]) => p));
    const rand = mulberry32(5);
    let seen = { ancestor: 0, descendant: 0, common: 0, sibling: 0 };
    for (let t = 0; t < 400; t++) {
      const a = `C${Math.floor(rand() * 200)}`;
      const b = `C${Math.floor(rand() * 200)}`;
      if (a === b) continue;
      const upA = bfsUp(edges, a);
      const upB = bfsUp(edges, b);
      const r = h.relate(a, b);
      if (upA.has(b)) {
        expect(r).toEqual({ ancestor: upA.get(b), sharesParent: false });
        seen.ancestor++;
      } else if (upB.has(a)) {
        expect(r).toEqual({ descendant: upB.get(a), sharesParent: false });
        seen.descendant++;
      } else {
        let best = Infinity;
        for (const [c, d] of upA) if (upB.has(c)) best = Math.min(best, d + (upB.get(c) as number));
        const shares = [...parentsOf(a)].some((p) => parentsOf(b).has(p));
        expect(r.sharesParent).toBe(shares);
        expect(r.viaCommonAncestor ?? Infinity).toBe(best);
        if (r.commonAncestor !== undefined) expect((upA.get(r.commonAncestor) as number) + (upB.get(r.commonAncestor) as number)).toBe(best);
        if (best < Infinity) seen.common++;
        if (shares) seen.sibling++;
      }
    }
    // The random pairs exercised every branch.
    for (const n of Object.values(seen)) expect(n).toBeGreaterThan(3);
  });

  it("a cycle is cut once and every query still ends; repeated edges count once", () => {
    const h = new Hierarchy([["A", "B"], ["B", "C"], ["C", "A"], ["D", "C"], ["D", "C"]]);
    expect(h.cycleEdgesIgnored).toBe(1);
    expect(h.edgeCount).toBe(4);
    for (const c of ["A", "B", "C", "D"]) expect(h.ancestors(c).length).toBeLessThanOrEqual(3);
    // Depth-first from A (the first code): A -> B -> C -> A closes the cycle, so C -> A is the edge cut.
    expect(h.ancestors("A")).toEqual([{ code: "B", distance: 1 }, { code: "C", distance: 2 }]);
    expect(h.ancestors("D").map((a) => a.code)).toEqual(["C"]);
  });
});

describe("relations in the KB index", () => {
  const tsv = join(dir, "terms.tsv");
  writeFileSync(tsv, ["code\tterm\tgroup\tparents", "R\troot\tG\t", "A\talpha\tG\tR", "B\tbeta\tG\tR|X", "C\tgamma\tG\tA|B", "C\tgamma syn\tG\tA", "D\tdelta\tG\tC|D"].join("\n") + "\n");
  const kbPath = join(dir, "kb.sqlite");

  it("a gazetteer parents column becomes is_a edges; kb info counts them; ends outside the KB are kept and counted", async () => {
    const report = await buildKnowledgeBase(tsv, kbPath);
    // C's A edge is given twice; D's self edge is dropped by the reader.
    expect(report.relations).toEqual({ read: 7, stored: 6, byKind: { is_a: 6, part_of: 0 }, bySource: { tsv: 6 }, outsideKb: 1, selfLoops: 0 });
    expect(readRelationCounts(kbPath)).toEqual({ total: 6, byKind: { is_a: 6 }, bySource: { tsv: 6 } });
    const h = openHierarchy(kbPath);
    expect(h.ancestors("D")).toEqual([{ code: "C", distance: 1 }, { code: "A", distance: 2 }, { code: "B", distance: 2 }, { code: "R", distance: 3 }, { code: "X", distance: 3 }]);
    const cli = captureIO();
    expect(await runKb(["info", kbPath], cli.io)).toBe(0);
    expect(cli.out()).toContain("relations: 6 (is_a 6; from tsv 6)");
  });

  it("link --ancestors: each beam's ancestors with names and distances, nearest first", async () => {
    const cli = captureIO();
    expect(await runLink(["--kb", kbPath, "--linker", "tfidf", "--beams", "1", "--ancestors", "con [delta]{G} hoy"], cli.io)).toBe(0);
    const beam = JSON.parse(cli.out()).beams[0];
    expect(beam.pred_concept_code).toBe("D");
    expect(beam.ancestors).toEqual([
      { code: "C", name: "gamma", distance: 1 },
      { code: "A", name: "alpha", distance: 2 },
      { code: "B", name: "beta", distance: 2 },
      { code: "R", name: "root", distance: 3 },
      { code: "X", distance: 3 }, // not a concept of the KB: no name
    ]);
  });

  it("an index built before relations existed opens; the hierarchy says it has none", async () => {
    const old = join(dir, "old.sqlite");
    await buildKnowledgeBase(tsv, old);
    const db = new Database(old);
    db.exec("DROP TABLE relations; DELETE FROM meta WHERE key IN ('relations', 'relations_sha256');");
    db.close();
    const kb = openKnowledgeBase(old, { verify: "full" });
    expect(kb.lookup("gamma", "G")?.code).toBe("C");
    kb.close();
    expect(readRelationCounts(old)).toBeUndefined();
    expect(() => openHierarchy(old)).toThrow(expect.objectContaining({ code: "KB_NO_RELATIONS" }));
    await expect(runLink(["--kb", old, "--linker", "tfidf", "--ancestors", "con [delta]{G} hoy"], captureIO().io)).rejects.toMatchObject({ code: "KB_NO_RELATIONS" });
    const cli = captureIO();
    expect(await runKb(["info", old], cli.io)).toBe(0);
    expect(cli.out()).toContain("relations: none stored");
  });

  it("the graph stored at build is what opening reads; a damaged copy falls back to the table", async () => {
    const stored = join(dir, "stored.sqlite");
    await buildKnowledgeBase(tsv, stored);
    const fromTable = new Hierarchy((() => {
      const db = new Database(stored, { readonly: true });
      const rows = db.prepare("SELECT child, parent FROM relations WHERE kind = 'is_a'").raw().all() as [string, string][];
      db.close();
      return rows;
    })());
    let db = new Database(stored);
    const blob = (db.prepare("SELECT bytes FROM artifacts WHERE key = 'relations-csr:is_a:v1'").get() as { bytes: Buffer }).bytes;
    expect(decodeHierarchy(blob).codes).toEqual(["A", "B", "C", "D", "R", "X"]);
    // Rewire an edge in the table only (same row count): the stored graph still answers.
    db.exec("UPDATE relations SET parent = 'X' WHERE child = 'D' AND parent = 'C'");
    db.close();
    for (const c of ["A", "B", "C", "D"]) expect(openHierarchy(stored).ancestors(c)).toEqual(fromTable.ancestors(c));
    // A flipped bit in the stored graph (D's parent C, id 2, becomes A, id 0: still a well-formed graph): its
    // checksum fails and the (rewired) table is read instead.
    db = new Database(stored);
    const bad = Buffer.from(blob);
    bad[bad.length - 4] ^= 2;
    db.prepare("UPDATE artifacts SET bytes = ? WHERE key = 'relations-csr:is_a:v1'").run(bad);
    db.close();
    expect(openHierarchy(stored).parentsOf("D")).toEqual(["X"]);
    expect(() => decodeHierarchy(bad.subarray(0, bad.length - 4))).toThrow(/wrong size/);
  });

  it("a relations table that lost rows or changed is reported as damaged", async () => {
    const damaged = join(dir, "damaged.sqlite");
    await buildKnowledgeBase(tsv, damaged);
    let db = new Database(damaged);
    db.exec("UPDATE relations SET parent = 'R' WHERE child = 'D'");
    db.close();
    const cli = captureIO();
    await expect(runKb(["info", damaged], cli.io)).rejects.toMatchObject({ code: "KB_INDEX_INVALID", message: expect.stringContaining("relations table does not match") });
    db = new Database(damaged);
    db.exec("DELETE FROM relations WHERE child = 'D'");
    db.close();
    expect(() => openHierarchy(damaged)).toThrow(expect.objectContaining({ code: "KB_INDEX_INVALID" }));
  });
});
