import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { SyncabelError } from "../errors.js";
import { isSameFile } from "../io/atomic-write.js";

/** `--name` as a positive integer (or >= 0 with allowZero), `fallback` when absent; a clear usage error otherwise. */
export function positiveInt(value: string | undefined, name: string, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || (n === 0 && !allowZero)) {
    throw new SyncabelError("CLI_USAGE", `--${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `--name` as a number in [0, max], `fallback` when absent. */
export function fraction(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > max) {
    throw new SyncabelError("CLI_USAGE", `--${name} must be a number in [0, ${max}], got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Whether `e` is one of node:util parseArgs' errors (unknown option, missing value, unexpected positional). */
export function isParseArgsError(e: unknown): e is TypeError & { code: string } {
  const code = e instanceof TypeError ? (e as unknown as { code?: unknown }).code : undefined;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

/** node:util parseArgs, with its errors turned into CLI_USAGE errors carrying the command's usage text. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    if (isParseArgsError(e)) throw new SyncabelError("CLI_USAGE", `${e.message}\n\n${usage}`);
    throw e;
  }
}

/**
 * Check an output path before any work: its folder must exist and it must not be a folder itself. `inputs`
 * are paths the command reads: writing over one of them would destroy it.
 */
export function checkOutputPath(path: string, flag: string, inputs: readonly string[] = []): string {
  const target = resolve(path);
  if (existsSync(target) && statSync(target).isDirectory()) {
    throw new SyncabelError("CLI_USAGE", `${flag} ${path} is a folder: give a file path such as ${join(path, "out")}...`, { path });
  }
  const folder = dirname(target);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new SyncabelError("CLI_USAGE", `${flag} ${path}: the folder ${folder} does not exist: create it first (mkdir -p) or choose another path`, { path });
  }
  for (const input of inputs) {
    if (isSameFile(target, input)) {
      throw new SyncabelError("CLI_USAGE", `${flag} ${path} is also the input ${input}: writing it would destroy the input; choose another output path`, { path });
    }
  }
  return target;
}

/** A warning for a flag given where it changes nothing (so a typo or a wrong assumption does not go unnoticed). */
export function warnUnused(io: { stderr: { write(s: string): unknown } }, command: string, flag: string, why: string): void {
  io.stderr.write(`syncabel ${command}: warning: ${flag} has no effect ${why}\n`);
}

/**
 * The exit code of a command that processed `total` items of which `failed` failed: 0 when all succeeded, 1
 * otherwise, with the count on stderr. Zero items is also a failure: the command did nothing useful.
 */
export function exitForItems(io: { stderr: { write(s: string): unknown } }, command: string, failed: number, total: number, unit: string): number {
  if (total === 0) {
    io.stderr.write(`syncabel ${command}: no ${unit} processed: check the input\n`);
    return 1;
  }
  if (failed === 0) return 0;
  io.stderr.write(`syncabel ${command}: ${failed} of ${total} ${unit} failed (see their errors in the output)\n`);
  return 1;
}
