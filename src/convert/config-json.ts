import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";

/** Read `<dir>/config.json` and validate it with `parse` (which names the file in its errors). */
export function loadConfigJson<C>(dir: string, parse: (json: unknown, source: string) => C): C {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new SyncabelError("MODEL_FILE_MISSING", `${path}: config.json not found`, { file: path });
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: not valid JSON (${(e as Error).message})`, { file: path });
  }
  return parse(json, path);
}
