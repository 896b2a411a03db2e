import { readFileSync } from "node:fs";
import { isSyncabelError, type ErrorCode } from "../errors.js";
import { isParseArgsError } from "./args.js";
import { processIO, type CliIO, type CommandRun } from "./io.js";

type CommandModule = { run: CommandRun; usage?: string };

/** Subcommands, loaded lazily so `syncabel --help` stays fast (static paths, so bundlers and Vite see them). */
const COMMANDS: Readonly<Record<string, { load: () => Promise<CommandModule>; summary: string }>> = {
  kb: { load: () => import("./commands/kb.js"), summary: "kb build TERMS -o KB.sqlite | kb info KB.sqlite" },
  link: { load: () => import("./commands/link.js"), summary: "link marked sentences (args, or lines/JSONL on stdin) -> JSONL" },
  "link-docs": { load: () => import("./commands/link-docs.js"), summary: "link every gold mention of a dataset" },
  "merge-predictions": { load: () => import("./commands/merge-predictions.js"), summary: "merge the outputs of link-docs --shard K/N into one run's output" },
  eval: { load: () => import("./commands/eval.js"), summary: "score predictions against gold (Recall@k, CIs)" },
  model: { load: () => import("./commands/model.js"), summary: "model convert HF_DIR -o OUT: checkpoint -> ONNX model folder; model random -o DIR: test model" },
  synth: { load: () => import("./commands/synth.js"), summary: "generate synthetic training sentences for KB concepts" },
  "sft-data": { load: () => import("./commands/sft-data.js"), summary: "build fine-tuning prompt/completion data" },
  serve: { load: () => import("./commands/serve.js"), summary: "HTTP linking service on localhost" },
  "train-linker": { load: () => import("./commands/train-linker.js"), summary: "train the hybrid linker (no model) on annotated files; stored in the KB index" },
  calibrate: { load: () => import("./commands/calibrate.js"), summary: "fit a linker's calibrated confidence on a held-back slice of training files" },
  judge: { load: () => import("./commands/judge.js"), summary: "LLM-as-judge labels (EXACT/BROAD/NARROW/NO_RELATION) of predictions via a chat endpoint" },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: syncabel <command> [options]\n\ncommands:\n${rows.join("\n")}\n\nRun 'syncabel <command> --help' for a command's options; 'syncabel --version' for the version.\n`;
}

/** The package version (package.json sits two folders above both src/cli and dist/cli). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "unknown";
}

/** Messages longer than this are cut in the middle (a bad input line can be megabytes long). */
const MAX_MESSAGE = 2000;

function clip(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE / 2)} [... ${message.length - MAX_MESSAGE} characters cut ...] ${message.slice(-MAX_MESSAGE / 2)}`;
}

/** Node's own file-system errors (ENOENT, EISDIR, ENOSPC ...): an I/O failure, not a bug. */
function isSystemError(e: unknown): e is Error & { code: string } {
  const code = e instanceof Error ? (e as unknown as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^E[A-Z]+$/.test(code);
}

/**
 * Library errors that mean an invalid option: from the command line they are usage errors (the options came from
 * its flags), reported with the usage text and exit 2, under their own code.
 */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["CLI_USAGE", "DATA_UNKNOWN_FORMAT", "KB_INVALID_OPTIONS", "KB_UNKNOWN_VOCABULARY", "TRAIN_INVALID_OPTIONS", "SYNTH_INVALID_OPTIONS", "SERVER_INVALID_OPTIONS", "RUN_OPTIONS_MISMATCH", "MERGE_INVALID_INPUT", "DATA_INVALID_SHARD", "EVAL_INVALID_OPTIONS", "JUDGE_INVALID_OPTIONS"]);

/**
 * The one place errors become exit codes: 2 for usage errors (with the command's usage text), 1 for every
 * other failure. Each message ends with its error code; anything not a SyncabelError is reported as INTERNAL.
 */
function reportError(name: string, e: unknown, commandUsage: string | undefined, io: CliIO): number {
  const withUsage = (message: string): string => (commandUsage !== undefined && !message.includes("usage:") ? `${message}\n\n${commandUsage}` : message);
  if (isParseArgsError(e)) {
    io.stderr.write(`syncabel ${name}: ${clip(withUsage(e.message))} [CLI_USAGE]\n`);
    return 2;
  }
  if (isSyncabelError(e)) {
    if (USAGE_CODES.has(e.code)) {
      io.stderr.write(`syncabel ${name}: ${withUsage(clip(e.message))} [${e.code}]\n`);
      return 2;
    }
    io.stderr.write(`syncabel ${name}: ${clip(e.message)} [${e.code}]\n`);
    return 1;
  }
  if (isSystemError(e)) {
    io.stderr.write(`syncabel ${name}: ${clip(e.message)}: check the path and its permissions [IO_ERROR]\n`);
    return 1;
  }
  const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
  io.stderr.write(`syncabel ${name}: unexpected error (a bug: please report it with the command line): ${clip(detail)} [INTERNAL]\n`);
  return 1;
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? io.stderr : io.stdout).write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    io.stdout.write(`syncabel ${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr.write(`syncabel: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  try {
    return await mod.run(rest, io);
  } catch (e) {
    return reportError(name, e, mod.usage, io);
  }
}
