/**
 * Cross-references kept in the KB index (table `xrefs`, one row per (code, vocabulary, id)): report a predicted
 * code in another vocabulary (`--map-to MESH`). A code may map to several ids (one-to-many stays explicit) or
 * to none.
 */
import Database from "better-sqlite3";
import { SyncabelError } from "../errors.js";
import { recoverInterruptedWrite } from "./kb-write.js";

export class XrefMap {
  private readonly db: Database.Database;
  private readonly byCode: Database.Statement;
  private readonly cache = new Map<string, readonly string[]>();

  constructor(readonly kbPath: string, readonly vocab: string) {
    try {
      recoverInterruptedWrite(kbPath);
      this.db = new Database(kbPath, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw new SyncabelError("KB_INDEX_INVALID", `${kbPath}: cannot open the KB index: ${(e as Error).message}`, { path: kbPath }, { cause: e });
    }
    const hasTable = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'xrefs'").get() !== undefined;
    if (!hasTable) {
      this.db.close();
      throw new SyncabelError("KB_INDEX_INVALID", `${kbPath}: this KB index has no cross-references (rebuild it with 'syncabel kb build')`, { path: kbPath });
    }
    const known = (this.db.prepare("SELECT DISTINCT vocab FROM xrefs ORDER BY vocab").all() as { vocab: string }[]).map((r) => r.vocab);
    if (!known.includes(vocab)) {
      this.db.close();
      throw new SyncabelError("KB_UNKNOWN_VOCABULARY", `${kbPath}: no cross-reference to ${JSON.stringify(vocab)} (known vocabularies: ${known.join(", ") || "none"})`, { path: kbPath, vocab });
    }
    this.byCode = this.db.prepare("SELECT id FROM xrefs WHERE code = ? AND vocab = ? ORDER BY id");
  }

  /** Every id of `code` in the target vocabulary (sorted; empty when it has none). Composite `a+b` codes map part by part. */
  map(code: string): readonly string[] {
    let ids = this.cache.get(code);
    if (ids === undefined) {
      ids = code.includes("+") ? mapComposite(code.split("+").map((c) => this.map(c))) : (this.byCode.all(code, this.vocab) as { id: string }[]).map((r) => r.id);
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(code, ids);
    }
    return ids;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** A composite code maps to the `+`-joined ids of its parts when each part maps to exactly one id. */
function mapComposite(parts: readonly (readonly string[])[]): readonly string[] {
  return parts.every((p) => p.length === 1) ? [parts.map((p) => p[0]).join("+")] : [];
}

export function openXrefMap(kbPath: string, vocab: string): XrefMap {
  return new XrefMap(kbPath, vocab);
}

interface MentionKey {
  readonly doc: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
}

const keyOf = (m: MentionKey): string => `${m.doc}\u0000${m.label}\u0000${m.start}\u0000${m.end}`;

/**
 * Gold and predicted codes moved into another vocabulary for scoring (`eval --map-to`). One-to-many mappings
 * are explicit: a gold code stands for the set of its ids, and a predicted code is correct when its ids meet
 * that set (it is then written as the gold's representative id, the lowest). Gold mentions whose code has no id
 * in the vocabulary cannot be scored there and are left out (counted).
 */
export function mapForEvaluation<G extends MentionKey & { readonly code: string }, P extends MentionKey & { readonly codes: readonly string[] }>(
  gold: readonly G[],
  predictions: readonly P[],
  map: (code: string) => readonly string[],
): { gold: G[]; predictions: P[]; goldUnmapped: number } {
  const goldIds = new Map<string, ReadonlySet<string>>();
  const mappedGold: G[] = [];
  let goldUnmapped = 0;
  for (const g of gold) {
    const ids = map(g.code);
    if (ids.length === 0) {
      goldUnmapped++;
      continue;
    }
    goldIds.set(keyOf(g), new Set(ids));
    mappedGold.push({ ...g, code: ids[0] });
  }
  const mappedPredictions = predictions.map((p) => {
    const target = goldIds.get(keyOf(p));
    const representative = target === undefined ? undefined : [...target][0];
    const codes = p.codes.map((c) => {
      const ids = map(c);
      if (representative !== undefined && ids.some((id) => target?.has(id))) return representative;
      return ids[0] ?? `UNMAPPED:${c}`;
    });
    return { ...p, codes };
  });
  return { gold: mappedGold, predictions: mappedPredictions, goldUnmapped };
}
