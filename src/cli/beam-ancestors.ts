/** `link --ancestors`: every beam's concept with its is-a ancestors (code, preferred name, distance) from the KB. */
import { NO_CODE } from "../constants.js";
import { codeSet } from "../eval/codes.js";
import { openHierarchy } from "../kb/relations.js";
import { openKnowledgeBase } from "../kb/sqlite-kb.js";
import type { SampleResult } from "../linker/types.js";

export interface BeamAncestor {
  readonly code: string;
  /** The ancestor's preferred name when it is a concept of the KB. */
  readonly name?: string;
  readonly distance: number;
}

export interface AncestorAnnotator {
  annotate(result: SampleResult): SampleResult;
  close(): void;
}

/** Opens the KB's hierarchy at once, so a KB without relations fails before any linking. */
export function openAncestorAnnotator(kbPath: string): AncestorAnnotator {
  const hierarchy = openHierarchy(kbPath);
  const kb = openKnowledgeBase(kbPath);
  const ancestorsOf = (code: string): BeamAncestor[] => {
    // A composite code: the ancestors of each part, each at its shortest distance.
    const best = new Map<string, number>();
    for (const part of codeSet(code)) {
      if (part === NO_CODE) continue;
      for (const a of hierarchy.ancestors(part)) if ((best.get(a.code) ?? Infinity) > a.distance) best.set(a.code, a.distance);
    }
    return [...best]
      .sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
      .map(([c, distance]) => {
        const name = kb.concept(c)?.title;
        return name === undefined ? { code: c, distance } : { code: c, name, distance };
      });
  };
  return {
    annotate: (r) => (r.beams === undefined ? r : { ...r, beams: r.beams.map((b) => ({ ...b, ancestors: ancestorsOf(b.pred_concept_code) })) }),
    close: () => kb.close(),
  };
}
