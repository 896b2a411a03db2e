import type { Readable, Writable } from "node:stream";

/** What a CLI command may touch: injected so tests can run commands in-process. */
export interface CliIO {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Whether stderr is a terminal (progress bars) or not (plain progress lines). */
  readonly isTTY: boolean;
  /** Whether stdin is a terminal: a command reading stdin then says so instead of waiting silently. */
  readonly stdinIsTTY?: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A subcommand: `src/cli/commands/<name>.ts` exports `run` and `usage`. Returns the exit code. */
export type CommandRun = (args: string[], io: CliIO) => Promise<number>;

export function processIO(): CliIO {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: Boolean(process.stderr.isTTY),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    env: process.env,
  };
}
