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
