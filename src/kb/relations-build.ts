/**
 * The relations step of `kb build`: readers' hierarchy edges are staged in the scratch database (file order kept
 * for the report), then written to the index's `relations` table once per (child, parent, kind).
 */
import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import { csrFromEdges, encodeHierarchy, hierarchyArtifactKey } from "./hierarchy-csr.js";
import { artifactChecksum } from "./integrity.js";
import { nfc } from "./row-checks.js";
import { RELATION_KINDS, type SourceRelation } from "./sources/types.js";

/** Meta keys of the relations table: its row count and a SHA-256 of its content (checked by src/kb/relations.ts). */
export const RELATIONS_META = { count: "relations", digest: "relations_sha256" } as const;

export interface RelationsReport {
  /** Edges the readers gave (repeats included). */
  readonly read: number;
  /** Distinct (child, parent, kind) edges stored. */
  readonly stored: number;
  readonly byKind: Readonly<Record<string, number>>;
  /** Edges given by each reader format (an edge two readers give counts for both). */
  readonly bySource: Readonly<Record<string, number>>;
  /** Stored edges with an end that is not a concept of the KB (kept: ancestors outside the KB's groups still link concepts). */
  readonly outsideKb: number;
  /** Edges dropped because child and parent are the same code. */
  readonly selfLoops: number;
}

const BATCH = 5000;

/** The staging side: `add` per relation item, `flush` at the end. */
export function relationStager(db: Database.Database) {
  db.exec("CREATE TABLE rel (child TEXT NOT NULL, parent TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO rel VALUES (?, ?, ?, ?)");
  const run = db.transaction((rows: readonly [string, string, string, string][]) => {
    for (const r of rows) insert.run(r[0], r[1], r[2], r[3]);
  });
  let pending: [string, string, string, string][] = [];
  let read = 0;
  let selfLoops = 0;
  return {
    add(relation: SourceRelation, source: string): void {
      read++;
      const child = nfc(relation.child.trim());
      const parent = nfc(relation.parent.trim());
      if (child === parent) {
        selfLoops++;
        return;
      }
      if (child === "" || parent === "") return;
      pending.push([child, parent, relation.kind, source]);
      if (pending.length >= BATCH) this.flush();
    },
    flush(): void {
      if (pending.length > 0) run(pending);
      pending = [];
    },
    counts: () => ({ read, selfLoops }),
  };
}

export type RelationStager = ReturnType<typeof relationStager>;

/** Hex SHA-256 of the relations table in key order (the same on build and on check). */
export function relationsDigest(db: Database.Database): string {
  const hash = createHash("sha256");
  for (const row of db.prepare("SELECT child, parent, kind, source FROM relations ORDER BY child, parent, kind").raw().iterate() as Iterable<unknown[]>) {
    hash.update(`${row.join("\u0001")}\n`);
  }
  return hash.digest("hex");
}

/** Write the distinct staged edges into the index (with their meta count and digest) and report them. */
export function writeRelations(staging: Database.Database, out: Database.Database, stager: RelationStager): RelationsReport {
  stager.flush();
  const insert = out.prepare("INSERT INTO relations VALUES (?, ?, ?, ?)");
  const byKind: Record<string, number> = Object.fromEntries(RELATION_KINDS.map((k) => [k, 0]));
  let stored = 0;
  // The first source (by name) of an edge several readers give; every source is counted in bySource.
  const rows = staging.prepare("SELECT child, parent, kind, MIN(source) AS source FROM rel GROUP BY child, parent, kind ORDER BY child, parent, kind");
  for (const r of rows.iterate() as Iterable<{ child: string; parent: string; kind: string; source: string }>) {
    insert.run(r.child, r.parent, r.kind, r.source);
    byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
    stored++;
  }
  const bySource: Record<string, number> = {};
  for (const r of staging.prepare("SELECT source, COUNT(*) AS n FROM (SELECT DISTINCT child, parent, kind, source FROM rel) GROUP BY source ORDER BY source").all() as { source: string; n: number }[]) {
    bySource[r.source] = r.n;
  }
  const outsideKb = (
    out.prepare("SELECT COUNT(*) AS n FROM relations r WHERE NOT EXISTS (SELECT 1 FROM concepts c WHERE c.code = r.child) OR NOT EXISTS (SELECT 1 FROM concepts c WHERE c.code = r.parent)").get() as { n: number }
  ).n;
  writeStoredGraphs(out, byKind);
  const meta = out.prepare("INSERT INTO meta VALUES (?, ?)");
  meta.run(RELATIONS_META.count, String(stored));
  meta.run(RELATIONS_META.digest, relationsDigest(out));
  const { read, selfLoops } = stager.counts();
  return { read, stored, byKind, bySource, outsideKb, selfLoops };
}

/** Each kind's graph in its compact form (src/kb/hierarchy-csr.ts), as an artifact: opening it is then one read. */
function writeStoredGraphs(out: Database.Database, byKind: Readonly<Record<string, number>>): void {
  const insert = out.prepare("INSERT OR REPLACE INTO artifacts (key, bytes, sha256) VALUES (?, ?, ?)");
  for (const [kind, n] of Object.entries(byKind)) {
    if (n === 0) continue;
    const csr = csrFromEdges(out.prepare("SELECT child, parent FROM relations WHERE kind = ?").raw().iterate(kind) as Iterable<[string, string]>);
    // A code holding a line break cannot be stored in the "\n"-joined form: that kind is read from the table.
    if (csr.codes.some((c) => c.includes("\n"))) continue;
    const bytes = encodeHierarchy(csr);
    insert.run(hierarchyArtifactKey(kind), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), artifactChecksum(bytes));
  }
}
