import { isSyncabelError } from "../errors.js";
import { processIO, type CliIO, type CommandRun } from "./io.js";

type CommandModule = { run: CommandRun };

/** Subcommands, loaded lazily so `syncabel --help` stays fast (static paths, so bundlers and Vite see them). */
const COMMANDS: Readonly<Record<string, { load: () => Promise<CommandModule>; summary: string }>> = {
  kb: { load: () => import("./commands/kb.js"), summary: "kb build TERMS -o KB.sqlite | kb info KB.sqlite" },
  link: { load: () => import("./commands/link.js"), summary: "link marked sentences (args, or lines/JSONL on stdin) -> JSONL" },
  "link-docs": { load: () => import("./commands/link-docs.js"), summary: "link every gold mention of a dataset" },
  eval: { load: () => import("./commands/eval.js"), summary: "score predictions against gold (Recall@k, CIs)" },
  model: { load: () => import("./commands/model.js"), summary: "model random -o DIR: write a random-weight test model" },
  synth: { load: () => import("./commands/synth.js"), summary: "generate synthetic training sentences for KB concepts" },
  "sft-data": { load: () => import("./commands/sft-data.js"), summary: "build fine-tuning prompt/completion data" },
  serve: { load: () => import("./commands/serve.js"), summary: "HTTP linking service on localhost" },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: syncabel <command> [options]\n\ncommands:\n${rows.join("\n")}\n\nRun 'syncabel <command> --help' for a command's options.\n`;
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
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
    if (isSyncabelError(e)) {
      io.stderr.write(`syncabel ${name}: ${e.message} [${e.code}]\n`);
      return e.code === "CLI_USAGE" ? 2 : 1;
    }
    throw e;
  }
}
