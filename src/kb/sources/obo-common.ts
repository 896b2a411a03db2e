/** What the OBO flat-file and OBO Graphs JSON readers share: synonym scopes and how a term gets its group. */
import type { GroupMap } from "./group-map.js";

export const SYNONYM_SCOPES = ["EXACT", "RELATED", "NARROW", "BROAD"] as const;
export type SynonymScope = (typeof SYNONYM_SCOPES)[number];
/** Default scopes kept: EXACT and RELATED name the concept itself; NARROW and BROAD name other concepts. */
export const DEFAULT_SCOPES: readonly SynonymScope[] = ["EXACT", "RELATED"];

export interface OboOptions {
  /** One group for every term (overrides namespace/subset). */
  readonly group?: string;
  /** Where a term's group comes from when `group` is not given (default namespace). */
  readonly groupFrom?: "namespace" | "subset";
  /** namespace/subset value -> group; terms with no mapped value are skipped. Without it the value itself is the group. */
  readonly groupMap?: GroupMap;
  /** Synonym scopes kept (default EXACT, RELATED). */
  readonly scopes?: readonly SynonymScope[];
}

export function parseScopes(text: string): SynonymScope[] {
  const scopes = text.split(",").map((s) => s.trim().toUpperCase()).filter((s) => s !== "");
  for (const s of scopes) if (!(SYNONYM_SCOPES as readonly string[]).includes(s)) throw new RangeError(`unknown synonym scope ${JSON.stringify(s)} (known: ${SYNONYM_SCOPES.join(", ")})`);
  return scopes as SynonymScope[];
}

/** The group of a term from its namespace and subsets, or the reason it has none. */
export function termGroup(options: OboOptions, namespace: string | undefined, subsets: readonly string[]): { group: string } | { reason: string; detail: string } {
  if (options.group !== undefined) return { group: options.group };
  const values = options.groupFrom === "subset" ? subsets : namespace !== undefined ? [namespace] : [];
  if (options.groupMap === undefined) {
    return values.length > 0 ? { group: values[0] } : { reason: `no ${options.groupFrom ?? "namespace"}`, detail: "give a group" };
  }
  for (const v of values) {
    const g = options.groupMap.get(v.toLowerCase());
    if (g !== undefined) return { group: g };
  }
  return { reason: `${options.groupFrom ?? "namespace"} not mapped to a group`, detail: values.join(",") || "(none)" };
}
