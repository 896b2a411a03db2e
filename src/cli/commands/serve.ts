import { once } from "node:events";
import { parseArgs } from "node:util";
import { SyncabelError } from "../../errors.js";
import { openLinker } from "../../linker/open.js";
import { LINKER_ARGS, linkerOptionsFromArgs } from "../linker-args.js";
import { isLoopbackHost, startLinkServer } from "../../server/link-server.js";
import type { CliIO } from "../io.js";
import { positiveInt } from "../args.js";

export const usage = `usage: syncabel serve --kb KB.sqlite [--model DIR] [--language es|fr|en] [--multiple-answers]
                      [--host H] [--port P] [--max-body-bytes N] [--max-sentences N]
                      [--max-concurrent N] [--max-beams N] [--threads N] [--verb V] [--device cpu|cuda] [--linker generative|tfidf]

HTTP linking service. POST /v1/link with {"sentences": ["... [mention]{GROUP} ..."], "num_beams"?: N,
"constrained"?: bool, "max_new_tokens"?: N} (Content-Type: application/json) answers {"results": [...]}, one
result per sentence in order, as \`syncabel link\` writes them; GET /health answers {"status": "ok", "linker"}.
Errors are JSON {"error": {"code", "message"}}: 400 malformed, 413 over a limit, 415 not JSON, 503 busy.
Without --model the TF-IDF lexical linker is used.
Defaults: --host 127.0.0.1 (loopback only: there is no authentication), --port 8080 (0 = any free port),
--max-body-bytes 1048576, --max-sentences 256, --max-concurrent 4, --max-beams 20.
Prints the URL once listening, one line per request on stderr; SIGINT/SIGTERM stop it gracefully.
`;

export interface ServeControl {
  /** Aborting it stops the server as SIGINT would (for tests and embedding). */
  readonly signal?: AbortSignal;
  /** Listen for SIGINT/SIGTERM (default true). */
  readonly handleSignals?: boolean;
}

/** Runs the service until SIGINT/SIGTERM or `control.signal` aborts; resolves with the exit code once shut down. */
export async function serve(args: string[], io: CliIO, control: ServeControl = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...LINKER_ARGS,
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "max-body-bytes": { type: "string" },
      "max-sentences": { type: "string" },
      "max-concurrent": { type: "string" },
      "max-beams": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length > 0) throw new SyncabelError("CLI_USAGE", `unexpected argument ${JSON.stringify(positionals[0])}\n\n${usage}`);
  const linkerOptions = linkerOptionsFromArgs(values, usage);
  const port = positiveInt(values.port, "port", 8080, true);
  if (port > 65535) throw new SyncabelError("CLI_USAGE", `--port must be at most 65535, got ${port}`);
  const serverOptions = {
    host: values.host,
    port,
    maxBodyBytes: positiveInt(values["max-body-bytes"], "max-body-bytes", 1024 * 1024),
    maxSentences: positiveInt(values["max-sentences"], "max-sentences", 256),
    maxConcurrent: positiveInt(values["max-concurrent"], "max-concurrent", 4),
    maxBeams: positiveInt(values["max-beams"], "max-beams", 20),
    log: (line: string) => void io.stderr.write(`${line}\n`),
  };

  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  if (control.signal?.aborted) return 0;
  control.signal?.addEventListener("abort", onSignal, { once: true });
  const handleSignals = control.handleSignals ?? true;
  if (handleSignals) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  try {
    const linker = await openLinker(linkerOptions);
    try {
      if (!isLoopbackHost(values.host)) {
        io.stderr.write(`warning: listening on ${values.host}, not loopback: anyone who can reach it can use the service (no authentication)\n`);
      }
      const server = await startLinkServer(linker, serverOptions);
      io.stdout.write(`syncabel serve: ${linker.kind} linker listening on ${server.url} (POST /v1/link, GET /health)\n`);
      if (!stop.signal.aborted) await once(stop.signal, "abort");
      io.stderr.write("shutting down: finishing requests in flight\n");
      await server.close();
      return 0;
    } finally {
      await linker.close();
    }
  } finally {
    control.signal?.removeEventListener("abort", onSignal);
    if (handleSignals) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
}

export async function run(args: string[], io: CliIO): Promise<number> {
  return serve(args, io);
}
