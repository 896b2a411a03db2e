import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { SyncabelError } from "../errors.js";
import type { TrainingMention } from "./sft-pairs.js";

export interface SyntheticRead {
  readonly mentions: TrainingMention[];
  /** Sentences dropped because their concept never got its closing marker (an interrupted write). */
  readonly unfinished: number;
  readonly problems: string[];
}

/** Sentence records of a `syncabel synth` output, kept only for concepts closed with status "done". */
export async function readSyntheticJsonl(path: string): Promise<SyntheticRead> {
  if (!existsSync(path)) throw new SyncabelError("DATA_FILE_MISSING", `synthetic file ${path} does not exist`, { file: path });
  const mentions: TrainingMention[] = [];
  const problems: string[] = [];
  let pending: { code: string; items: TrainingMention[] } | undefined;
  let unfinished = 0;
  let lineNo = 0;
  for await (const line of createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity })) {
    lineNo++;
    if (line.trim() === "") continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      problems.push(`${path}:${lineNo}: not valid JSON`);
      continue;
    }
    if (r.type === "concept") {
      if (pending && pending.code === r.code && r.status === "done") mentions.push(...pending.items);
      else if (pending) unfinished += pending.items.length;
      pending = undefined;
    } else if (r.type === "sentence") {
      const { code, group, marked, mention } = r;
      if (typeof code !== "string" || typeof group !== "string" || typeof marked !== "string" || typeof mention !== "string") {
        problems.push(`${path}:${lineNo}: a sentence record needs string code, group, marked and mention`);
        continue;
      }
      if (pending && pending.code !== code) {
        unfinished += pending.items.length;
        pending = undefined;
      }
      pending ??= { code, items: [] };
      pending.items.push({ marked, mention, group, codes: [code] });
    } else {
      problems.push(`${path}:${lineNo}: unknown record type`);
    }
  }
  if (pending) unfinished += pending.items.length;
  return { mentions, unfinished, problems };
}
