/**
 * Grading the top prediction of each mention by the terminology's hierarchy, as the SynCABEL authors grade misses:
 * STRICT (same code), PARTIAL (the predicted codes a proper subset of a composite gold), BROAD (the prediction is an
 * ancestor of the gold concept: too general), NARROW (a descendant: too specific), RELATED (they share a parent, or
 * a common ancestor joins them within `relatedDistance` edges), NO_RELATION; with the path length.
 * Mentions are matched, de-duplicated and filtered exactly as `evaluate` does (gold NO_CODE excluded).
 */
import { NO_CODE } from "../constants.js";
import { SyncabelError } from "../errors.js";
import { codeSet, compareCodes, hasNoCode } from "./codes.js";
import { mentionKey } from "./evaluate.js";
import { labelTable, type LabelTable } from "./label-tally.js";
import type { GoldMention, Prediction } from "./types.js";

export const GRADES = ["STRICT", "PARTIAL", "BROAD", "NARROW", "RELATED", "NO_RELATION"] as const;
export type Grade = (typeof GRADES)[number];

/** Default RELATED distance: siblings (up one edge to a shared parent, down one). */
export const DEFAULT_RELATED_DISTANCE = 2;

/** What grading needs of the hierarchy (src/kb/relations.ts's Hierarchy). */
export interface HierarchyLookup {
  has(code: string): boolean;
  relate(a: string, b: string): { readonly ancestor?: number; readonly descendant?: number; readonly viaCommonAncestor?: number; readonly sharesParent: boolean };
}

export interface GradeOptions {
  /** Score only gold mentions with a prediction (as `evaluate`'s onlyPredicted). */
  readonly onlyPredicted?: boolean;
  readonly trainCodes?: ReadonlySet<string>;
  /** Grades counted as right by the lenient Recall@1 (default STRICT only: the exact Recall@1). */
  readonly accept?: readonly Grade[];
  readonly relatedDistance?: number;
}

export interface GradedMention {
  readonly doc: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  readonly gold: string;
  /** The top predicted code ("" when the mention has no prediction). */
  readonly predicted: string;
  readonly grade: Grade;
  /** Edges between the two concepts (BROAD, NARROW, RELATED). */
  readonly pathLength?: number;
  readonly seen?: boolean;
}

export interface GradeReport extends LabelTable {
  readonly related_distance: number;
  /** Path lengths of BROAD, NARROW and RELATED mentions: length -> count. */
  readonly path_lengths: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly mean_path_length: Readonly<Record<string, number | null>>;
  readonly counts: {
    readonly scored: number;
    /** Gold mentions without a prediction (graded NO_RELATION, or left out with onlyPredicted). */
    readonly without_prediction: number;
    /** Scored mentions whose gold codes are all absent from the hierarchy (they can only be STRICT, PARTIAL or NO_RELATION). */
    readonly gold_outside_hierarchy: number;
  };
}

/** The grade of one (gold, predicted) pair of code strings (composites `a+b`; `predicted` "" or NO_CODE: none). */
export function gradePair(gold: string, predicted: string, hierarchy: HierarchyLookup, relatedDistance = DEFAULT_RELATED_DISTANCE): { grade: Grade; pathLength?: number } {
  const byCodes = compareCodes(gold, predicted);
  if (byCodes !== undefined) return { grade: byCodes };
  const g = codeSet(gold);
  const p = codeSet(predicted).filter((c) => c !== NO_CODE);
  // The closest (predicted, gold) pair decides; on equal paths BROAD before NARROW before RELATED.
  const order: Record<string, number> = { BROAD: 0, NARROW: 1, RELATED: 2 };
  let best: { grade: Grade; pathLength: number } | undefined;
  for (const pc of p) {
    for (const gc of g) {
      if (pc === gc) continue;
      const r = hierarchy.relate(gc, pc);
      let found: { grade: Grade; pathLength: number } | undefined;
      if (r.ancestor !== undefined) found = { grade: "BROAD", pathLength: r.ancestor };
      else if (r.descendant !== undefined) found = { grade: "NARROW", pathLength: r.descendant };
      else if (r.sharesParent) found = { grade: "RELATED", pathLength: r.viaCommonAncestor ?? 2 };
      else if (r.viaCommonAncestor !== undefined && r.viaCommonAncestor <= relatedDistance) found = { grade: "RELATED", pathLength: r.viaCommonAncestor };
      if (found && (best === undefined || found.pathLength < best.pathLength || (found.pathLength === best.pathLength && order[found.grade] < order[best.grade]))) best = found;
    }
  }
  return best ?? { grade: "NO_RELATION" };
}

export function parseGrades(text: string, known: readonly string[] = GRADES): string[] {
  const out = text.split(",").map((s) => s.trim().toUpperCase().replace(/-/g, "_")).filter((s) => s !== "");
  const bad = out.filter((g) => !known.includes(g));
  if (out.length === 0 || bad.length > 0) {
    throw new SyncabelError("EVAL_INVALID_OPTIONS", `the accepted grades must be a comma-separated list of ${known.join(", ")}${bad.length > 0 ? `; unknown: ${bad.join(", ")}` : ""}`);
  }
  return [...new Set(out)];
}

/** Grade every scored gold mention by its top prediction. */
export function gradeMentions(gold: readonly GoldMention[], predictions: readonly Prediction[], hierarchy: HierarchyLookup, options: GradeOptions = {}): { mentions: GradedMention[]; report: GradeReport } {
  const k = options.relatedDistance ?? DEFAULT_RELATED_DISTANCE;
  if (!Number.isInteger(k) || k < 0) throw new SyncabelError("EVAL_INVALID_INPUT", `the RELATED distance must be a non-negative integer, got ${k}`);
  const byKey = new Map<string, Prediction>();
  for (const p of predictions) if (!byKey.has(mentionKey(p))) byKey.set(mentionKey(p), p);
  const seenKeys = new Set<string>();
  const mentions: GradedMention[] = [];
  let withoutPrediction = 0;
  let outside = 0;
  for (const g of gold) {
    const key = mentionKey(g);
    if (seenKeys.has(key)) continue;
    seenKeys.add(key);
    if (hasNoCode(g.code)) continue;
    const prediction = byKey.get(key);
    if (prediction === undefined) {
      withoutPrediction++;
      if (options.onlyPredicted) continue;
    }
    const predicted = prediction?.codes[0] ?? "";
    const { grade, pathLength } = gradePair(g.code, predicted, hierarchy, k);
    if (!codeSet(g.code).some((c) => hierarchy.has(c))) outside++;
    const seen = options.trainCodes ? codeSet(g.code).every((c) => options.trainCodes!.has(c)) : undefined;
    mentions.push({ doc: g.doc, label: g.label, start: g.start, end: g.end, gold: g.code, predicted, grade, ...(pathLength !== undefined ? { pathLength } : {}), ...(seen !== undefined ? { seen } : {}) });
  }
  const table = labelTable(mentions.map((m) => ({ group: m.label, label: m.grade, ...(m.seen !== undefined ? { seen: m.seen } : {}) })), GRADES, options.accept ?? ["STRICT"]);
  const pathLengths: Record<string, Record<string, number>> = {};
  const meanPath: Record<string, number | null> = {};
  for (const grade of ["BROAD", "NARROW", "RELATED"] as const) {
    const lengths = mentions.filter((m) => m.grade === grade).map((m) => m.pathLength as number);
    const hist: Record<string, number> = {};
    for (const l of lengths.sort((a, b) => a - b)) hist[l] = (hist[l] ?? 0) + 1;
    pathLengths[grade] = hist;
    meanPath[grade] = lengths.length === 0 ? null : lengths.reduce((s, l) => s + l, 0) / lengths.length;
  }
  return {
    mentions,
    report: { ...table, related_distance: k, path_lengths: pathLengths, mean_path_length: meanPath, counts: { scored: mentions.length, without_prediction: withoutPrediction, gold_outside_hierarchy: outside } },
  };
}
