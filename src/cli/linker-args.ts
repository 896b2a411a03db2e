import { SyncabelError } from "../errors.js";
import type { OpenLinkerOptions } from "../linker/open.js";
import { LINKER_KINDS, type LinkerKind } from "../linker/types.js";
import { isPromptLanguage } from "../markup/prompt.js";
import { DTYPE_SUFFIXES, isModelDtype } from "../lm/model-file.js";
import { fraction, positiveInt, warnUnused } from "./args.js";
import { parseDecoderStart, type DecoderStart } from "../linker/seq2seq-prompt.js";

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
  "model-file": { type: "string" },
  dtype: { type: "string" },
  candidates: { type: "string" },
  workers: { type: "string" },
  "decoder-start": { type: "string" },
  "min-confidence": { type: "string" },
  "early-stopping": { type: "string" },
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
  readonly "model-file"?: string;
  readonly dtype?: string;
  /** retrieve-generate: concepts retrieved per mention. */
  readonly candidates?: string;
  /** hybrid / tfidf: worker threads. */
  readonly workers?: string;
  /** encoder-decoder models: config | lang | token id. */
  readonly "decoder-start"?: string;
  /** Abstain below this calibrated confidence. */
  readonly "min-confidence"?: string;
  /** generative: true | false | never (default: the model's generation_config.json). */
  readonly "early-stopping"?: string;
}

/** OpenLinkerOptions from parsed LINKER_ARGS values, with usage errors for a missing KB or a bad value. */
export function linkerOptionsFromArgs(values: LinkerArgValues, usage: string): OpenLinkerOptions {
  if (!values.kb) throw new SyncabelError("CLI_USAGE", `--kb is required\n\n${usage}`);
  const kind = values.linker;
  if (kind !== undefined && !(LINKER_KINDS as readonly string[]).includes(kind)) {
    throw new SyncabelError("CLI_USAGE", `--linker must be ${LINKER_KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
  }
  if ((kind === "generative" || kind === "retrieve-generate") && !values.model) throw new SyncabelError("CLI_USAGE", `--linker ${kind} needs --model DIR\n\n${usage}`);
  const language = values.language;
  // Without a model, --language only sets the segmentation language (link-docs); with one it chooses the prompt verb.
  if (language !== undefined && values.model && values.verb === undefined && !isPromptLanguage(language)) {
    throw new SyncabelError("CLI_USAGE", `--language must be es, fr or en with a model (it chooses the prompt verb), got ${JSON.stringify(language)}; or give --verb`);
  }
  const device = values.device;
  if (device !== undefined && device !== "cpu" && device !== "cuda") {
    throw new SyncabelError("CLI_USAGE", `--device must be cpu or cuda, got ${JSON.stringify(device)}`);
  }
  const dtype = values.dtype;
  if (dtype !== undefined && !isModelDtype(dtype)) {
    throw new SyncabelError("CLI_USAGE", `--dtype must be one of ${Object.keys(DTYPE_SUFFIXES).join(", ")}, got ${JSON.stringify(dtype)}\n\n${usage}`);
  }
  if (dtype !== undefined && values["model-file"] !== undefined) throw new SyncabelError("CLI_USAGE", `give --dtype or --model-file, not both\n\n${usage}`);
  const early = values["early-stopping"];
  if (early !== undefined && early !== "true" && early !== "false" && early !== "never") {
    throw new SyncabelError("CLI_USAGE", `--early-stopping must be true, false or never, got ${JSON.stringify(early)}\n\n${usage}`);
  }
  const start = values["decoder-start"];
  let decoderStart: DecoderStart | undefined;
  try {
    decoderStart = start === undefined ? undefined : parseDecoderStart(start);
  } catch (e) {
    throw new SyncabelError("CLI_USAGE", `--decoder-start: ${(e as Error).message}\n\n${usage}`);
  }
  return {
    ...(decoderStart === undefined ? {} : { decoderStart }),
    kb: values.kb,
    ...(values.candidates === undefined ? {} : { candidates: positiveInt(values.candidates, "candidates", 64) }),
    ...(dtype === undefined ? {} : { dtype }),
    ...(values["model-file"] === undefined ? {} : { modelFile: values["model-file"] }),
    ...(device === undefined ? {} : { device }),
    ...(values.model === undefined ? {} : { model: values.model }),
    ...(language === undefined || !isPromptLanguage(language) ? {} : { language }),
    ...(values.verb === undefined ? {} : { verb: values.verb }),
    ...(kind === undefined ? {} : { linker: kind as LinkerKind }),
    multipleAnswers: values["multiple-answers"] ?? false,
    ...(early === undefined ? {} : { earlyStopping: early === "never" ? "never" : early === "true" }),
    ...(values.threads === undefined ? {} : { threads: positiveInt(values.threads, "threads", 1) }),
    ...(values.workers === undefined ? {} : { workers: positiveInt(values.workers, "workers", 1) }),
    ...(values["min-confidence"] === undefined ? {} : { minConfidence: fraction(values["min-confidence"], "min-confidence", 0, 1) }),
  };
}

/**
 * Warn about linker flags that change nothing for the linker that runs (`kind`: the opened linker's, as openLinker
 * chose it; the model-free linkers have no model, no prompt verb, no device): silently accepting them hides a wrong
 * assumption. `language` is left out where the command uses it for something else (link-docs segments with it).
 */
export function warnIneffectiveLinkerArgs(values: LinkerArgValues, kind: LinkerKind, command: string, stderr: { write(s: string): unknown }, checkLanguage: boolean): void {
  if (kind !== "tfidf" && kind !== "hybrid") {
    if (values.workers !== undefined) warnUnused({ stderr }, command, "--workers", `with the ${kind} linker (worker threads are for the hybrid and TF-IDF linkers; a model uses --threads)`);
    return;
  }
  const flags: string[] = [];
  if (values.model !== undefined) flags.push("--model");
  if (checkLanguage && values.language !== undefined) flags.push("--language");
  if (values.device !== undefined) flags.push("--device");
  if (values.dtype !== undefined) flags.push("--dtype");
  if (values["model-file"] !== undefined) flags.push("--model-file");
  if (values.threads !== undefined) flags.push("--threads");
  if (values.verb !== undefined) flags.push("--verb");
  if (values["multiple-answers"] === true) flags.push("--multiple-answers");
  if (values["early-stopping"] !== undefined) flags.push("--early-stopping");
  const name = kind === "tfidf" ? "TF-IDF" : "hybrid";
  for (const f of flags) warnUnused({ stderr }, command, f, `with the ${name} linker (it uses no model): give --model DIR for the generative linker`);
}
