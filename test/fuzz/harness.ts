/**
 * Fuzz and fault harness (issue 11): runs the CLI in-process or in a child process on generated and damaged
 * inputs and classifies every outcome. A finding is one of: a crash (an exception escaping the CLI, an INTERNAL
 * error, a child killed by a signal we did not send), a hang (no answer within the time limit), an untyped error
 * (a failure whose message carries no error code), a wrong exit status (0 after a failure, 1 after a success, or
 * anything but 0/1/2/130), or rows lost / duplicated (an output that does not hold each input item exactly once).
 */
import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { main } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { ERROR_CODES } from "../../src/errors.js";

export interface FuzzCounts {
  inputs: number;
  crashes: number;
  hangs: number;
  untypedErrors: number;
  wrongExits: number;
  rowsLost: number;
  rowsDuplicated: number;
  /** Temp files or half-written outputs left behind by a killed or failed command. */
  leftoverFiles: number;
}

export const BAD_KEYS = ["crashes", "hangs", "untypedErrors", "wrongExits", "rowsLost", "rowsDuplicated", "leftoverFiles"] as const;

export function newCounts(): FuzzCounts {
  return { inputs: 0, crashes: 0, hangs: 0, untypedErrors: 0, wrongExits: 0, rowsLost: 0, rowsDuplicated: 0, leftoverFiles: 0 };
}

export function addCounts(into: FuzzCounts, from: FuzzCounts): void {
  for (const k of Object.keys(into) as (keyof FuzzCounts)[]) into[k] += from[k];
}

export function badTotal(c: FuzzCounts): number {
  return BAD_KEYS.reduce((a, k) => a + c[k], 0);
}

/** What one campaign needs: a seeded PRNG, a scratch folder, its counts, a stop condition and a log of findings. */
export interface FuzzContext {
  readonly random: () => number;
  readonly dir: string;
  readonly counts: FuzzCounts;
  /** True when the campaign should stop (time budget or input quota used). */
  readonly stop: () => boolean;
  /** Record a finding (kept short; the first few are printed). */
  readonly finding: (kind: keyof FuzzCounts, what: string) => void;
}

export interface CliOutcome {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  /** The exception that escaped main(), if any (a crash). */
  readonly thrown?: unknown;
  readonly timedOut: boolean;
  /** Child runs: the signal that ended the process. */
  readonly signal?: NodeJS.Signals | null;
}

/** Run `syncabel ARGS` in this process with captured streams; `input` is its stdin. */
export async function runCli(args: readonly string[], input = "", timeoutMs = 60_000): Promise<CliOutcome> {
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on("data", (d: Buffer) => outChunks.push(d));
  stderr.on("data", (d: Buffer) => errChunks.push(d));
  const io: CliIO = { stdin, stdout, stderr, isTTY: false, stdinIsTTY: false, env: {} };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const r = await Promise.race([main([...args], io), timeout]);
    const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString("utf8");
    if (r === "timeout") return { code: null, out: text(outChunks), err: text(errChunks), timedOut: true };
    return { code: r, out: text(outChunks), err: text(errChunks), timedOut: false };
  } catch (e) {
    return { code: null, out: Buffer.concat(outChunks).toString("utf8"), err: Buffer.concat(errChunks).toString("utf8"), thrown: e, timedOut: false };
  } finally {
    clearTimeout(timer);
  }
}

const CLI_CHILD = fileURLToPath(new URL("../cli/fixtures/cli-child.ts", import.meta.url));

export interface ChildRun {
  /** Resolves when the child ends. */
  readonly done: Promise<CliOutcome>;
  kill(signal: NodeJS.Signals): void;
  /** Resolves when stderr contains `text` (or the child ended). */
  waitForStderr(text: string): Promise<void>;
}

/** Start `syncabel ARGS` in a child process (real signals, native faults isolated). */
export function startCliChild(args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ChildRun {
  const child = spawn(process.execPath, ["--import", "tsx", CLI_CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
  let out = "";
  let err = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString("utf8");
    for (const w of waiters.splice(0)) {
      if (err.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 120_000);
  const done = new Promise<CliOutcome>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      for (const w of waiters.splice(0)) w.resolve();
      resolve({ code, out, err, timedOut, signal });
    });
  });
  return {
    done,
    kill: (signal) => child.kill(signal),
    waitForStderr: (text) => (err.includes(text) || child.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ text, resolve }))),
  };
}

/** The error code a failed command printed (`... [CODE]`), if it is one of the catalogue. */
export function errorCodeOf(stderr: string): string | undefined {
  const codes = [...stderr.matchAll(/\[([A-Z_]+)\]\s*$/gm)].map((m) => m[1]);
  return codes.find((c) => c in ERROR_CODES);
}

/**
 * Classify the common part of an outcome: crash, hang, untyped error, exit status outside 0/1/2. Returns false
 * when the outcome is already a finding (the caller should not check its output).
 */
export function checkOutcome(ctx: FuzzContext, what: string, r: CliOutcome, allowed: readonly number[] = [0, 1, 2]): boolean {
  if (r.timedOut) {
    ctx.finding("hangs", `${what}: no answer in time`);
    return false;
  }
  if (r.thrown !== undefined || (r.signal !== undefined && r.signal !== null) || /UNCAUGHT|\[INTERNAL\]/.test(r.err)) {
    const why = r.thrown instanceof Error ? r.thrown.message : r.signal ? `signal ${r.signal}` : r.err.slice(0, 300);
    ctx.finding("crashes", `${what}: ${why}`);
    return false;
  }
  if (r.code === null || !allowed.includes(r.code)) {
    ctx.finding("wrongExits", `${what}: exit ${r.code}`);
    return false;
  }
  if (r.code !== 0 && r.code !== 130 && errorCodeOf(r.err) === undefined && !/\d+ of \d+ [\w ]+ failed|no \w+ processed/.test(r.err)) {
    ctx.finding("untypedErrors", `${what}: exit ${r.code} without an error code: ${r.err.slice(0, 300)}`);
    return false;
  }
  return true;
}

/** Count how often each key occurs: how many are missing from `expected`, and how many extra. */
export function compareMultisets(expected: readonly string[], got: readonly string[]): { lost: number; duplicated: number } {
  const want = new Map<string, number>();
  for (const k of expected) want.set(k, (want.get(k) ?? 0) + 1);
  const have = new Map<string, number>();
  for (const k of got) have.set(k, (have.get(k) ?? 0) + 1);
  let lost = 0;
  let duplicated = 0;
  for (const [k, n] of want) lost += Math.max(0, n - (have.get(k) ?? 0));
  for (const [k, n] of have) duplicated += Math.max(0, n - (want.get(k) ?? 0));
  return { lost, duplicated };
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

export function int(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}
