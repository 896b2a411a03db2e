/**
 * Is-a edges of the real Disease Ontology files (../shared/data/doid) against independent parses written here:
 * `is_a:` lines of the live [Term] stanzas of the OBO file, and the `is_a` edges of a whole-file JSON.parse of the
 * OBO Graphs file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { buildKnowledgeBase, Hierarchy } from "../../../src/kb/index.js";
import { oboGraphSource, oboSource } from "../../../src/kb/sources/index.js";

const DOID = fileURLToPath(new URL("../../../../shared/data/doid/", import.meta.url));
const OBO = join(DOID, "DO_rare_slim.obo");
const JSON_GRAPH = join(DOID, "DO_cancer_slim.json");
const present = existsSync(OBO) && existsSync(JSON_GRAPH);
if (!present) console.warn(`skipping the Disease Ontology relation tests: ${DOID} is absent`);

function storedEdges(kbPath: string): string[] {
  const db = new Database(kbPath, { readonly: true });
  try {
    return (db.prepare("SELECT child, parent FROM relations WHERE kind = 'is_a'").all() as { child: string; parent: string }[]).map((r) => `${r.child}>${r.parent}`).sort();
  } finally {
    db.close();
  }
}

describe.skipIf(!present)("Disease Ontology hierarchy (../shared/data/doid)", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-doid-rel-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("OBO flat file: the is_a edges of live terms, as an independent stanza parse finds them", async () => {
    const expected = new Set<string>();
    for (const stanza of readFileSync(OBO, "utf8").split(/\n(?=\[)/)) {
      if (!stanza.startsWith("[Term]") || /^is_obsolete: true$/m.test(stanza)) continue;
      const id = /^id: (\S+)$/m.exec(stanza)?.[1] as string;
      for (const m of stanza.matchAll(/^is_a: (\S+)/gm)) expected.add(`${id}>${m[1]}`);
    }
    expect(expected.size).toBeGreaterThan(1500);
    // The reader's edges (the KB build that stores them is tested on fixtures; building this file takes seconds).
    const edges: [string, string][] = [];
    for await (const item of oboSource(OBO, { group: "ENFERMEDAD" }).items()) if (item.kind === "relation" && item.relation.kind === "is_a") edges.push([item.relation.child, item.relation.parent]);
    expect(edges.map(([c, p]) => `${c}>${p}`).sort()).toEqual([...expected].sort());
    // A term's ancestors are reached through its parents: spot-check parent and grandparent distances.
    const h = new Hierarchy(edges);
    const parents = new Map<string, string[]>();
    for (const [c, p] of edges) parents.set(c, [...(parents.get(c) ?? []), p]);
    let grandparents = 0;
    for (const [child, ps] of parents) {
      for (const p of ps) expect(h.distanceUp(child, p)).toBe(1);
      for (const p of ps) for (const gp of parents.get(p) ?? []) if (!ps.includes(gp)) {
        expect(h.distanceUp(child, gp)).toBe(2);
        grandparents++;
      }
    }
    expect(grandparents).toBeGreaterThan(0);
  });

  it("OBO Graphs JSON: the is_a edges of a whole-file JSON.parse, IRIs as CURIEs", async () => {
    const graph = JSON.parse(readFileSync(JSON_GRAPH, "utf8")) as { graphs: { edges?: { sub: string; pred: string; obj: string }[] }[] };
    const curie = (iri: string) => iri.replace("http://purl.obolibrary.org/obo/", "").replace("_", ":");
    const expected = graph.graphs.flatMap((g) => g.edges ?? []).filter((e) => e.pred === "is_a").map((e) => `${curie(e.sub)}>${curie(e.obj)}`);
    expect(expected).toHaveLength(657);
    const kb = join(dir, "cancer.sqlite");
    await buildKnowledgeBase([oboGraphSource(JSON_GRAPH, { group: "ENFERMEDAD" })], kb);
    expect(storedEdges(kb)).toEqual([...new Set(expected)].sort());
  });
});
