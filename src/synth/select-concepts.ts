import { existsSync, readFileSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import type { KnowledgeBase } from "../kb/types.js";
import type { ConceptJob } from "./run.js";

export interface ConceptSelection {
  readonly groups?: readonly string[];
  /** Restrict to these codes (in this order). */
  readonly codes?: readonly string[];
  readonly limit?: number;
}

/** Codes of a file: one per line, first tab-separated field; blank lines and `#` comments skipped. */
export function readCodesFile(path: string): string[] {
  if (!existsSync(path)) throw new SyncabelError("IO_ERROR", `the codes file ${path} does not exist`, { file: path });
  return readFileSync(path, "utf8")
    .split(/\r?\n/)
    .map((l) => l.split("\t")[0].trim())
    .filter((c) => c !== "" && !c.startsWith("#"));
}

/**
 * The concepts to generate for, each with the group its sentences are marked with: the first of the
 * requested groups the concept belongs to (else its first group).
 */
export function selectConcepts(kb: KnowledgeBase, selection: ConceptSelection): { jobs: ConceptJob[]; unknownCodes: string[] } {
  const wanted = selection.groups && selection.groups.length > 0 ? selection.groups : undefined;
  if (wanted) {
    const unknown = wanted.filter((g) => !kb.hasGroup(g));
    if (unknown.length > 0) throw new SyncabelError("SYNTH_INVALID_OPTIONS", `groups ${unknown.join(", ")} not in the KB (groups: ${kb.groups().join(", ")})`, { groups: unknown.join(",") });
  }
  const jobs: ConceptJob[] = [];
  const unknownCodes: string[] = [];
  const limit = selection.limit ?? Infinity;
  for (const code of selection.codes ?? kb.codes()) {
    if (jobs.length >= limit) break;
    const card = kb.concept(code);
    if (card === undefined) {
      unknownCodes.push(code);
      continue;
    }
    const group = wanted ? wanted.find((g) => card.groups.includes(g)) : card.groups[0];
    if (group !== undefined) jobs.push({ code, group });
  }
  return { jobs, unknownCodes };
}
