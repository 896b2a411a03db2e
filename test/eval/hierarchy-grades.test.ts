/**
 * Grading predictions by the hierarchy: hand-checked pairs on a small tree, the lenient Recall@1 against the exact
 * evaluator, and `eval --hierarchy` on the real Disease Ontology graph (../shared/data/doid) with every expected
 * grade derived by breadth-first searches over the edges of an independent JSON.parse of the file.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/eval.js";
import { evaluate } from "../../src/eval/evaluate.js";
import { gradeMentions, gradePair } from "../../src/eval/hierarchy-grades.js";
import type { GoldMention, Prediction } from "../../src/eval/types.js";
import { buildKnowledgeBase, Hierarchy } from "../../src/kb/index.js";
import { oboGraphSource } from "../../src/kb/sources/index.js";
import { mulberry32 } from "../../src/util/random.js";
import { captureIO } from "../support/cli-io.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-grades-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

//          R
//        /   \
//       A     B
//      / \     \
//     A1  A2    B1
//     |
//    A1a
const TREE = new Hierarchy([["A", "R"], ["B", "R"], ["A1", "A"], ["A2", "A"], ["B1", "B"], ["A1a", "A1"]]);

describe("grades of one prediction", () => {
  it("follow the definitions on a hand-drawn tree", () => {
    expect(gradePair("A1", "A1", TREE)).toEqual({ grade: "STRICT" });
    expect(gradePair("A1+B1", "B1+A1", TREE)).toEqual({ grade: "STRICT" });
    expect(gradePair("A1+B1", "B1", TREE)).toEqual({ grade: "PARTIAL" });
    expect(gradePair("A1a", "A1", TREE)).toEqual({ grade: "BROAD", pathLength: 1 });
    expect(gradePair("A1a", "R", TREE)).toEqual({ grade: "BROAD", pathLength: 3 });
    expect(gradePair("A", "A1a", TREE)).toEqual({ grade: "NARROW", pathLength: 2 });
    expect(gradePair("A1", "A2", TREE)).toEqual({ grade: "RELATED", pathLength: 2 });
    expect(gradePair("A1a", "A2", TREE)).toEqual({ grade: "NO_RELATION" }); // 3 edges apart
    expect(gradePair("A1a", "A2", TREE, 3)).toEqual({ grade: "RELATED", pathLength: 3 });
    expect(gradePair("A1", "B1", TREE)).toEqual({ grade: "NO_RELATION" }); // 4 edges apart through the root
    expect(gradePair("A1", "B1", TREE, 4)).toEqual({ grade: "RELATED", pathLength: 4 });
    expect(gradePair("A1", "NO_CODE", TREE)).toEqual({ grade: "NO_RELATION" });
    expect(gradePair("A1", "", TREE)).toEqual({ grade: "NO_RELATION" });
    expect(gradePair("A1", "Z9", TREE)).toEqual({ grade: "NO_RELATION" }); // not in the hierarchy
    // A composite: the closest pair decides (A1a's parent beats B1's grandparent).
    expect(gradePair("A1a+B1", "A1+R", TREE)).toEqual({ grade: "BROAD", pathLength: 1 });
    // More codes than the gold: not PARTIAL; the extra code's relation decides.
    expect(gradePair("A1", "A1+A2", TREE)).toEqual({ grade: "RELATED", pathLength: 2 });
  });

  it("the lenient Recall@1 accepting STRICT only is the evaluator's Recall@1; accepting more adds exactly those grades", () => {
    const rand = mulberry32(3);
    const codes = ["R", "A", "B", "A1", "A2", "B1", "A1a", "NO_CODE"];
    const pick = () => codes[Math.floor(rand() * codes.length)];
    const gold: GoldMention[] = [];
    const predictions: Prediction[] = [];
    for (let i = 0; i < 300; i++) {
      const g = { doc: `d${i % 17}`, label: i % 2 ? "X" : "Y", start: i, end: i + 1, code: pick() };
      gold.push(g);
      if (rand() < 0.9) predictions.push({ ...g, codes: [pick(), pick()] });
    }
    const exact = evaluate(gold, predictions, { resamples: 0, ks: [1] });
    const strict = gradeMentions(gold, predictions, TREE).report;
    expect(strict.overall.n).toBe(exact.overall.n);
    expect(strict.overall.accepted).toBeCloseTo(exact.overall.recall[1], 12);
    for (const l of ["X", "Y"]) expect(strict.by_label[l].accepted).toBeCloseTo(exact.by_label[l].recall[1], 12);
    const lenient = gradeMentions(gold, predictions, TREE, { accept: ["STRICT", "PARTIAL", "BROAD"] }).report;
    const c = lenient.overall.counts;
    expect(lenient.overall.accepted).toBeCloseTo((c.STRICT + c.PARTIAL + c.BROAD) / lenient.overall.n, 12);
    expect(c.BROAD).toBeGreaterThan(0);
    expect(strict.counts.without_prediction).toBe(exact.counts.gold_without_prediction);
  });
});

const DOID_JSON = fileURLToPath(new URL("../../../shared/data/doid/DO_cancer_slim.json", import.meta.url));

describe.skipIf(!existsSync(DOID_JSON))("eval --hierarchy on the Disease Ontology (../shared/data/doid)", () => {
  // Independent reading of the graph: nodes' labels and is_a edges from JSON.parse.
  const graph = JSON.parse(readFileSync(DOID_JSON, "utf8")) as { graphs: { nodes: { id: string; lbl?: string; type?: string; meta?: { deprecated?: boolean } }[]; edges: { sub: string; pred: string; obj: string }[] }[] };
  const curie = (iri: string) => iri.replace("http://purl.obolibrary.org/obo/", "").replace("_", ":");
  const labels = new Map(graph.graphs[0].nodes.filter((n) => n.type === "CLASS" && n.lbl && !n.meta?.deprecated).map((n) => [curie(n.id), n.lbl as string]));
  const parents = new Map<string, string[]>();
  for (const e of graph.graphs[0].edges) if (e.pred === "is_a") parents.set(curie(e.sub), [...(parents.get(curie(e.sub)) ?? []), curie(e.obj)]);
  const up = (c: string): Map<string, number> => {
    const dist = new Map<string, number>();
    let frontier = [c];
    for (let d = 1; frontier.length > 0; d++) {
      frontier = frontier.flatMap((v) => parents.get(v) ?? []).filter((p) => !dist.has(p) && p !== c);
      for (const p of frontier) if (!dist.has(p)) dist.set(p, d);
      frontier = [...new Set(frontier)];
    }
    return dist;
  };
  /** The definition of the grades, by brute force. */
  const expectedGrade = (g: string, p: string, k: number): string => {
    if (g === p) return "STRICT";
    const ug = up(g);
    const upp = up(p);
    if (ug.has(p)) return "BROAD";
    if (upp.has(g)) return "NARROW";
    const sharesParent = (parents.get(g) ?? []).some((x) => (parents.get(p) ?? []).includes(x));
    const common = Math.min(...[...ug].filter(([c]) => upp.has(c)).map(([c, d]) => d + (upp.get(c) as number)));
    return sharesParent || common <= k ? "RELATED" : "NO_RELATION";
  };

  // Pairs of concepts with a label: parents, grandparents, children, siblings, cousins and random ones.
  const named = [...labels.keys()].filter((c) => parents.has(c)).sort();
  const rand = mulberry32(11);
  const pairs: [string, string][] = [];
  for (const c of named.slice(0, 240)) {
    const ps = (parents.get(c) ?? []).filter((p) => labels.has(p));
    const p = ps[0];
    const r = rand();
    if (p === undefined) continue;
    if (r < 0.2) pairs.push([c, p]);
    else if (r < 0.35) pairs.push([p, c]);
    else if (r < 0.5) pairs.push([c, (parents.get(p) ?? []).find((g) => labels.has(g)) ?? p]);
    else if (r < 0.7) pairs.push([c, named.find((s) => s !== c && (parents.get(s) ?? []).includes(p)) ?? c]);
    else if (r < 0.8) pairs.push([c, c]);
    else pairs.push([c, named[Math.floor(rand() * named.length)]]);
  }

  it("grades, rates, path lengths and the lenient Recall@1 match the definitions; plot and JSON written", async () => {
    const kb = join(dir, "doid.sqlite");
    await buildKnowledgeBase([oboGraphSource(DOID_JSON, { group: "ENFERMEDAD" })], kb);
    mkdirSync(join(dir, "texts"), { recursive: true });
    const goldRows = ["filename\tlabel\tstart_span\tend_span\tspan\tcode"];
    const predRows = ["filename\tlabel\tstart_span\tend_span\tPredicted_code"];
    const trainRows = ["filename\tlabel\tstart_span\tend_span\tspan\tcode"];
    pairs.forEach(([g, p], i) => {
      const text = labels.get(g) as string;
      writeFileSync(join(dir, "texts", `doc${i}.txt`), text);
      goldRows.push(`doc${i}\tENFERMEDAD\t0\t${text.length}\t${text}\t${g}`);
      predRows.push(`doc${i}\tENFERMEDAD\t0\t${text.length}\t${p}`);
      if (i % 3 === 0) trainRows.push(`doc${i}\tENFERMEDAD\t0\t${text.length}\t${text}\t${g}`);
    });
    writeFileSync(join(dir, "gold.tsv"), `${goldRows.join("\n")}\n`);
    writeFileSync(join(dir, "pred.tsv"), `${predRows.join("\n")}\n`);
    writeFileSync(join(dir, "train.tsv"), `${trainRows.join("\n")}\n`);
    const expected = (k: number) => {
      const counts: Record<string, number> = { STRICT: 0, PARTIAL: 0, BROAD: 0, NARROW: 0, RELATED: 0, NO_RELATION: 0 };
      for (const [g, p] of pairs) counts[expectedGrade(g, p, k)]++;
      return counts;
    };
    const base = ["--gold", join(dir, "gold.tsv"), "--predictions", join(dir, "pred.tsv"), "--texts", join(dir, "texts"), "--kb", kb, "--hierarchy", "--resamples", "0"];
    const c = captureIO();
    expect(await run([...base, "--accept", "strict,partial,broad", "--train", join(dir, "train.tsv"), "--json", join(dir, "r.json"), "--grades-plot", join(dir, "g.svg")], c.io)).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    const counts = expected(2);
    expect(json.hierarchy.overall.counts).toEqual(counts);
    for (const g of ["STRICT", "BROAD", "NARROW", "RELATED", "NO_RELATION"]) expect(counts[g]).toBeGreaterThan(3);
    expect(json.hierarchy.overall.accepted).toBeCloseTo((counts.STRICT + counts.BROAD) / pairs.length, 12);
    expect(json.hierarchy.seen.n + json.hierarchy.unseen.n).toBe(pairs.length);
    // Path lengths of the BROAD grades: each pair's upward distance.
    const broad: Record<string, number> = {};
    for (const [g, p] of pairs) if (expectedGrade(g, p, 2) === "BROAD") broad[up(g).get(p) as number] = (broad[up(g).get(p) as number] ?? 0) + 1;
    expect(json.hierarchy.path_lengths.BROAD).toEqual(broad);
    expect(c.out()).toContain("## Hierarchy grades");
    expect(c.out()).toMatch(new RegExp(`\\| overall \\| ${pairs.length} \\| ${counts.STRICT} \\(`));
    const svg = readFileSync(join(dir, "g.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain(`overall BROAD: ${counts.BROAD} (`);

    // A wider RELATED distance turns some NO_RELATION into RELATED, as the definition says.
    const wide = captureIO();
    await run([...base, "--related-distance", "4", "--json", join(dir, "w.json")], wide.io);
    expect(JSON.parse(readFileSync(join(dir, "w.json"), "utf8")).hierarchy.overall.counts).toEqual(expected(4));
    expect(expected(4).RELATED).toBeGreaterThan(counts.RELATED);
  });

  it("usage errors: --hierarchy without --kb, --accept with an unknown grade or without a grading mode", async () => {
    const base = ["--gold", join(dir, "gold.tsv"), "--predictions", join(dir, "pred.tsv")];
    await expect(run([...base, "--hierarchy"], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
    await expect(run([...base, "--accept", "strict"], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
    await expect(run([...base, "--hierarchy", "--kb", "x.sqlite", "--accept", "strict,close"], captureIO().io)).rejects.toMatchObject({ code: "EVAL_INVALID_OPTIONS", message: expect.stringContaining("CLOSE") });
  });
});
