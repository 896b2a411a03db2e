/**
 * Hierarchy queries over the `relations` table of a KB index: parents, ancestors with their path length, and how
 * two concepts relate (one an ancestor of the other, siblings, a common ancestor within some distance).
 *
 * The graph is read once into integer arrays (CSR: each concept's parents; codes sorted, found by binary search),
 * from the compact copy `kb build` stores as an artifact (src/kb/hierarchy-csr.ts). Ancestor sets come from a transitive
 * closure with distances: a concept's ancestors are the merge of its parents' ancestor sets one step further, so
 * each set is computed once, from sets already computed, and stored in one growing pair of typed arrays (ancestor
 * ids sorted, minimum distances). The closure is filled lazily (only the concepts asked about and their
 * ancestors) or whole (`materialize`, measured by `npm run bench:kb`). A terminology should be acyclic; edges that
 * close a cycle are found by a depth-first pass at load, left out and counted.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import Database from "better-sqlite3";
import { SyncabelError } from "../errors.js";
import { artifactChecksum, kbInvalid } from "./integrity.js";
import { csrFromEdges, decodeHierarchy, hierarchyArtifactKey, type HierarchyCsr } from "./hierarchy-csr.js";
import { RELATIONS_META, relationsDigest } from "./relations-build.js";
import { RELATION_KINDS, type RelationKind } from "./sources/types.js";

export interface RelationCounts {
  readonly total: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly bySource: Readonly<Record<string, number>>;
}

function hasRelationsTable(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'relations'").get() !== undefined;
}

function metaValue(db: Database.Database, key: string): string | undefined {
  return (db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
}

function openReadOnly(kbPath: string): Database.Database {
  const path = resolve(kbPath);
  if (!existsSync(path)) throw kbInvalid(path, "KB index file not found");
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw kbInvalid(path, `cannot open the KB index: ${(e as Error).message}`, e);
  }
}

/** The recorded count against the table (cheap, on every load); a mismatch is a damaged file. */
function checkRelationCount(db: Database.Database, path: string): number {
  const n = (db.prepare("SELECT COUNT(*) AS n FROM relations").get() as { n: number }).n;
  const recorded = metaValue(db, RELATIONS_META.count);
  if (recorded !== undefined && Number(recorded) !== n) throw kbInvalid(path, `the index records ${recorded} relations but holds ${n}: the file is damaged`);
  return n;
}

/** The graph of one kind stored at build, when present and intact (a damaged one is rebuilt from the table). */
function storedGraph(db: Database.Database, kind: string): HierarchyCsr | undefined {
  const row = db.prepare("SELECT bytes, sha256 FROM artifacts WHERE key = ?").get(hierarchyArtifactKey(kind)) as { bytes: Buffer; sha256: string } | undefined;
  if (row === undefined || artifactChecksum(row.bytes) !== row.sha256) return undefined;
  try {
    return decodeHierarchy(row.bytes);
  } catch {
    return undefined;
  }
}

/** Relation counts of a KB index; undefined when the index was built before relations were stored. */
export function readRelationCounts(kbPath: string): RelationCounts | undefined {
  const db = openReadOnly(kbPath);
  try {
    if (!hasRelationsTable(db)) return undefined;
    const total = checkRelationCount(db, resolve(kbPath));
    const byKind: Record<string, number> = {};
    for (const r of db.prepare("SELECT kind, COUNT(*) AS n FROM relations GROUP BY kind ORDER BY kind").all() as { kind: string; n: number }[]) byKind[r.kind] = r.n;
    const bySource: Record<string, number> = {};
    for (const r of db.prepare("SELECT source, COUNT(*) AS n FROM relations GROUP BY source ORDER BY source").all() as { source: string; n: number }[]) bySource[r.source] = r.n;
    return { total, byKind, bySource };
  } finally {
    db.close();
  }
}

/** Problems of the relations table for the full check (`kb info`): its content against the digest recorded at build. */
export function relationIntegrityProblems(kbPath: string): string[] {
  const db = openReadOnly(kbPath);
  try {
    if (!hasRelationsTable(db)) return [];
    const recorded = metaValue(db, RELATIONS_META.digest);
    if (recorded === undefined) return [];
    return relationsDigest(db) === recorded ? [] : ["the relations table does not match the digest recorded at build"];
  } finally {
    db.close();
  }
}

export interface Ancestor {
  readonly code: string;
  /** Edges on the shortest upward path (1: a parent). */
  readonly distance: number;
}

/** How concept `b` stands to concept `a` in the hierarchy. */
export interface PairRelation {
  /** `b` is an ancestor of `a`: the path length from `a` up to `b`. */
  readonly ancestor?: number;
  /** `b` is a descendant of `a`: the path length from `b` up to `a`. */
  readonly descendant?: number;
  /** Shortest path `a` -> common ancestor <- `b` (when neither is an ancestor of the other and they have one). */
  readonly viaCommonAncestor?: number;
  /** The common ancestor of that path (the lowest code among the ties). */
  readonly commonAncestor?: string;
  /** `a` and `b` have a parent in common. */
  readonly sharesParent: boolean;
}

export interface ClosureStats {
  /** Concepts whose ancestor set is computed. */
  readonly computed: number;
  /** (concept, ancestor) pairs stored. */
  readonly entries: number;
  /** Bytes of the closure arrays in use (ids 4 bytes + distance 1 byte per entry, plus the per-concept index). */
  readonly bytes: number;
}

const MAX_DISTANCE = 255;

export interface HierarchyOptions {
  /** Relation kinds followed (default is_a only: part_of is a different hierarchy). */
  readonly kinds?: readonly RelationKind[];
}

export class Hierarchy {
  /** Codes sorted (JavaScript order): a code's id is its index, found by binary search. */
  private readonly codeOf: readonly string[];
  /** CSR of parents: parents of node v are parentIds[parentStart[v] .. parentStart[v + 1]); -1 marks a cycle edge left out. */
  private readonly parentStart: Int32Array;
  private readonly parentIds: Int32Array;
  /** Edges left out because they closed a cycle. */
  readonly cycleEdgesIgnored: number;
  readonly edgeCount: number;
  // The closure: node v's ancestors are ancIds/ancDist[closureStart[v] .. + closureLength[v]), ids ascending.
  private readonly closureStart: Int32Array;
  private readonly closureLength: Int32Array;
  private ancIds = new Int32Array(1 << 16);
  private ancDist = new Uint8Array(1 << 16);
  private used = 0;
  private computed = 0;
  // Scratch of the merge: a stamp per node says "seen for the node being computed".
  private readonly stamp: Int32Array;
  private readonly best: Uint8Array;
  private readonly touched: Int32Array;
  private currentStamp = 0;

  /** From (child, parent) code pairs, or from the compact graph a KB index stores (src/kb/hierarchy-csr.ts). */
  constructor(input: Iterable<readonly [string, string]> | HierarchyCsr) {
    const csr = "parentStart" in input ? input : csrFromEdges(input);
    this.codeOf = csr.codes;
    this.parentStart = csr.parentStart;
    this.parentIds = csr.parentIds.slice();
    const n = this.codeOf.length;
    this.edgeCount = this.parentIds.length;
    this.cycleEdgesIgnored = this.cutCycles();
    this.closureStart = new Int32Array(n).fill(-1);
    this.closureLength = new Int32Array(n);
    this.stamp = new Int32Array(n);
    this.best = new Uint8Array(n);
    this.touched = new Int32Array(n);
  }

  /**
   * The `kinds` edges of a KB index: one kind from the graph stored at build (its checksum checked), else (an index
   * built before it, several kinds, a damaged blob) from the relations table. Throws KB_NO_RELATIONS when the index
   * has none (e.g. built before relations existed).
   */
  static load(kbPath: string, options: HierarchyOptions = {}): Hierarchy {
    const kinds = options.kinds ?? ["is_a"];
    for (const k of kinds) if (!(RELATION_KINDS as readonly string[]).includes(k)) throw new SyncabelError("KB_INVALID_OPTIONS", `unknown relation kind ${JSON.stringify(k)} (known: ${RELATION_KINDS.join(", ")})`);
    const path = resolve(kbPath);
    const db = openReadOnly(path);
    try {
      const none = (why: string) =>
        new SyncabelError("KB_NO_RELATIONS", `${path}: ${why}; rebuild it with 'syncabel kb build' from a release that carries its hierarchy (RF2 relationships, OBO is_a, OBO Graphs edges, UMLS MRREL, a gazetteer 'parents' column)`, { path });
      if (!hasRelationsTable(db)) throw none("the KB index holds no relations (it was built before syncabel stored them)");
      checkRelationCount(db, path);
      let hierarchy: Hierarchy;
      try {
        const stored = kinds.length === 1 ? storedGraph(db, kinds[0]) : undefined;
        if (stored !== undefined) hierarchy = new Hierarchy(stored);
        else {
          const placeholders = kinds.map(() => "?").join(", ");
          hierarchy = new Hierarchy(db.prepare(`SELECT child, parent FROM relations WHERE kind IN (${placeholders})`).raw().iterate(...kinds) as Iterable<[string, string]>);
        }
      } catch (e) {
        throw kbInvalid(path, `cannot read the relations: ${(e as Error).message}`, e);
      }
      if (hierarchy.edgeCount === 0) throw none(`the KB index holds no ${kinds.join("/")} relation`);
      return hierarchy;
    } finally {
      db.close();
    }
  }

  /** Concepts that appear in some edge. */
  get size(): number {
    return this.codeOf.length;
  }

  has(code: string): boolean {
    return this.idOf(code) !== undefined;
  }

  /** Binary search of the sorted codes. */
  private idOf(code: string): number | undefined {
    let lo = 0;
    let hi = this.codeOf.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = this.codeOf[mid];
      if (c === code) return mid;
      if (c < code) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  parentsOf(code: string): string[] {
    const v = this.idOf(code);
    if (v === undefined) return [];
    const out: string[] = [];
    for (let e = this.parentStart[v]; e < this.parentStart[v + 1]; e++) if (this.parentIds[e] >= 0) out.push(this.codeOf[this.parentIds[e]]);
    return out;
  }

  /** Every ancestor with its shortest distance, nearest first (ties by code). */
  ancestors(code: string): Ancestor[] {
    const v = this.idOf(code);
    if (v === undefined) return [];
    this.ensure(v);
    const out: Ancestor[] = [];
    const start = this.closureStart[v];
    for (let k = start; k < start + this.closureLength[v]; k++) out.push({ code: this.codeOf[this.ancIds[k]], distance: this.ancDist[k] });
    return out.sort((a, b) => a.distance - b.distance || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  }

  /** The shortest upward path from `code` to `ancestor`; undefined when it is not an ancestor (or the same code). */
  distanceUp(code: string, ancestor: string): number | undefined {
    const v = this.idOf(code);
    const a = this.idOf(ancestor);
    if (v === undefined || a === undefined || v === a) return undefined;
    this.ensure(v);
    return this.lookup(v, a);
  }

  /** How `b` stands to `a`. */
  relate(a: string, b: string): PairRelation {
    const u = this.idOf(a);
    const w = this.idOf(b);
    if (u === undefined || w === undefined || u === w) return { sharesParent: false };
    this.ensure(u);
    this.ensure(w);
    const up = this.lookup(u, w);
    if (up !== undefined) return { ancestor: up, sharesParent: false };
    const down = this.lookup(w, u);
    if (down !== undefined) return { descendant: down, sharesParent: false };
    // Merge the two sorted ancestor lists.
    let i = this.closureStart[u];
    let j = this.closureStart[w];
    const iEnd = i + this.closureLength[u];
    const jEnd = j + this.closureLength[w];
    let best = Number.POSITIVE_INFINITY;
    let via = -1;
    let sharesParent = false;
    while (i < iEnd && j < jEnd) {
      const x = this.ancIds[i];
      const y = this.ancIds[j];
      if (x < y) i++;
      else if (y < x) j++;
      else {
        const d = this.ancDist[i] + this.ancDist[j];
        if (this.ancDist[i] === 1 && this.ancDist[j] === 1) sharesParent = true;
        if (d < best || (d === best && this.codeOf[x] < this.codeOf[via])) {
          best = d;
          via = x;
        }
        i++;
        j++;
      }
    }
    return via < 0 ? { sharesParent } : { viaCommonAncestor: best, commonAncestor: this.codeOf[via], sharesParent };
  }

  /** Compute every concept's ancestor set (the whole closure). */
  materialize(): ClosureStats {
    for (let v = 0; v < this.codeOf.length; v++) this.ensure(v);
    return this.closureStats();
  }

  closureStats(): ClosureStats {
    return { computed: this.computed, entries: this.used, bytes: this.used * 5 + this.codeOf.length * 8 };
  }

  // ---------------------------------------------------------------------------------------------------------------

  private lookup(v: number, a: number): number | undefined {
    let lo = this.closureStart[v];
    let hi = lo + this.closureLength[v] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const x = this.ancIds[mid];
      if (x === a) return this.ancDist[mid];
      if (x < a) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Depth-first over parent edges from every node; an edge to a node on the current path closes a cycle: cut it. */
  private cutCycles(): number {
    const n = this.codeOf.length;
    const state = new Uint8Array(n); // 0 new, 1 on the path, 2 done
    const stack = new Int32Array(n);
    const nextEdge = new Int32Array(n);
    let cut = 0;
    for (let root = 0; root < n; root++) {
      if (state[root] !== 0) continue;
      let top = 0;
      stack[0] = root;
      state[root] = 1;
      nextEdge[root] = this.parentStart[root];
      while (top >= 0) {
        const v = stack[top];
        if (nextEdge[v] < this.parentStart[v + 1]) {
          const e = nextEdge[v]++;
          const p = this.parentIds[e];
          if (p < 0) continue;
          if (state[p] === 1) {
            this.parentIds[e] = -1;
            cut++;
          } else if (state[p] === 0) {
            state[p] = 1;
            nextEdge[p] = this.parentStart[p];
            stack[++top] = p;
          }
        } else {
          state[v] = 2;
          top--;
        }
      }
    }
    return cut;
  }

  /** Compute the ancestor sets of `v` and of every ancestor not yet computed, parents first. */
  private ensure(v: number): void {
    if (this.closureStart[v] >= 0) return;
    const stack: number[] = [v];
    while (stack.length > 0) {
      const u = stack[stack.length - 1];
      if (this.closureStart[u] >= 0) {
        stack.pop();
        continue;
      }
      let pending = false;
      for (let e = this.parentStart[u]; e < this.parentStart[u + 1]; e++) {
        const p = this.parentIds[e];
        if (p >= 0 && this.closureStart[p] < 0) {
          stack.push(p);
          pending = true;
        }
      }
      if (!pending) {
        this.computeNode(u);
        stack.pop();
      }
    }
  }

  /** Ancestors of `u` = its parents (distance 1) and their ancestors one step further, minimum distance kept. */
  private computeNode(u: number): void {
    const stampValue = ++this.currentStamp;
    let count = 0;
    const relax = (a: number, d: number): void => {
      if (this.stamp[a] !== stampValue) {
        this.stamp[a] = stampValue;
        this.best[a] = d;
        this.touched[count++] = a;
      } else if (d < this.best[a]) this.best[a] = d;
    };
    for (let e = this.parentStart[u]; e < this.parentStart[u + 1]; e++) {
      const p = this.parentIds[e];
      if (p < 0) continue;
      relax(p, 1);
      const start = this.closureStart[p];
      for (let k = start; k < start + this.closureLength[p]; k++) relax(this.ancIds[k], Math.min(MAX_DISTANCE, this.ancDist[k] + 1));
    }
    const ids = this.touched.subarray(0, count).sort();
    this.reserve(count);
    for (let k = 0; k < count; k++) {
      this.ancIds[this.used + k] = ids[k];
      this.ancDist[this.used + k] = this.best[ids[k]];
    }
    this.closureStart[u] = this.used;
    this.closureLength[u] = count;
    this.used += count;
    this.computed++;
  }

  private reserve(extra: number): void {
    if (this.used + extra <= this.ancIds.length) return;
    let size = this.ancIds.length;
    while (size < this.used + extra) size *= 2;
    const ids = new Int32Array(size);
    ids.set(this.ancIds.subarray(0, this.used));
    const dist = new Uint8Array(size);
    dist.set(this.ancDist.subarray(0, this.used));
    this.ancIds = ids;
    this.ancDist = dist;
  }
}

/** Open the is-a hierarchy (or other kinds) of a KB index. */
export function openHierarchy(kbPath: string, options: HierarchyOptions = {}): Hierarchy {
  return Hierarchy.load(kbPath, options);
}
