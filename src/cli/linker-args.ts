import { SyncabelError } from "../errors.js";
import type { OpenLinkerOptions } from "../linker/open.js";
import { positiveInt } from "./args.js";

/** The parseArgs options every command that opens a linker shares (link, link-docs, serve). */
export const LINKER_ARGS = {
  kb: { type: "string" },
  model: { type: "string" },
  language: { type: "string" },
  verb: { type: "string" },
  linker: { type: "string" },
  "multiple-answers": { type: "boolean", default: false },
  threads: { type: "string" },
  device: { type: "string" },
} as const;

export interface LinkerArgValues {
  readonly kb?: string;
  readonly model?: string;
  readonly language?: string;
  readonly verb?: string;
  readonly linker?: string;
  readonly "multiple-answers"?: boolean;
  readonly threads?: string;
  readonly device?: string;
}

/** OpenLinkerOptions from parsed LINKER_ARGS values, with usage errors for a missing KB or a bad value. */
export function linkerOptionsFromArgs(values: LinkerArgValues, usage: string): OpenLinkerOptions {
  if (!values.kb) throw new SyncabelError("CLI_USAGE", `--kb is required\n\n${usage}`);
  const kind = values.linker;
  if (kind !== undefined && kind !== "generative" && kind !== "tfidf") {
    throw new SyncabelError("CLI_USAGE", `--linker must be generative or tfidf, got ${JSON.stringify(kind)}`);
  }
  const device = values.device;
  if (device !== undefined && device !== "cpu" && device !== "cuda") {
    throw new SyncabelError("CLI_USAGE", `--device must be cpu or cuda, got ${JSON.stringify(device)}`);
  }
  return {
    kb: values.kb,
    ...(device === undefined ? {} : { device }),
    ...(values.model === undefined ? {} : { model: values.model }),
    ...(values.language === undefined ? {} : { language: values.language }),
    ...(values.verb === undefined ? {} : { verb: values.verb }),
    ...(kind === undefined ? {} : { linker: kind }),
    multipleAnswers: values["multiple-answers"] ?? false,
    ...(values.threads === undefined ? {} : { threads: positiveInt(values.threads, "threads", 1) }),
  };
}
