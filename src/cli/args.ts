import { SyncabelError } from "../errors.js";

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
