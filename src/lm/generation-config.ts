import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";

/**
 * The ids that end generation for a model folder: generation_config.json's `eos_token_id` (one id or a list, as
 * Hugging Face generate() reads it), else config.json's; undefined when neither names one.
 */
export function readEosTokenIds(dir: string): number[] | undefined {
  for (const file of ["generation_config.json", "config.json"]) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    let value: unknown;
    try {
      value = (JSON.parse(readFileSync(path, "utf8")) as { eos_token_id?: unknown }).eos_token_id;
    } catch (e) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `cannot parse ${path}: ${(e as Error).message}`, { path });
    }
    if (Number.isInteger(value)) return [value as number];
    if (Array.isArray(value) && value.length > 0 && value.every(Number.isInteger)) return value as number[];
  }
  return undefined;
}

/** Beam-search settings of a model folder that transformers' generate() reads from its generation config. */
export interface GenerationSettings {
  /** `early_stopping`: true, false or "never". */
  readonly earlyStopping?: boolean | "never";
  readonly lengthPenalty?: number;
}

/**
 * `early_stopping` and `length_penalty` as transformers reads them: from generation_config.json when the folder has
 * one, else from config.json (GenerationConfig.from_model_config); absent keys are left to the defaults (false, 1).
 */
export function readGenerationSettings(dir: string): GenerationSettings {
  const path = ["generation_config.json", "config.json"].map((f) => join(dir, f)).find((p) => existsSync(p));
  if (path === undefined) return {};
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `cannot parse ${path}: ${(e as Error).message}`, { path });
  }
  const early = json.early_stopping;
  const penalty = json.length_penalty;
  if (early !== undefined && early !== null && early !== true && early !== false && early !== "never") {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: early_stopping must be true, false or "never", got ${JSON.stringify(early)}`, { path });
  }
  if (penalty !== undefined && penalty !== null && (typeof penalty !== "number" || !Number.isFinite(penalty))) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: length_penalty must be a number, got ${JSON.stringify(penalty)}`, { path });
  }
  return {
    ...(early === undefined || early === null ? {} : { earlyStopping: early }),
    ...(typeof penalty === "number" ? { lengthPenalty: penalty } : {}),
  };
}
