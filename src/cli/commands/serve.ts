import { once } from "node:events";
import { SyncabelError } from "../../errors.js";
import { openKnowledgeBase } from "../../kb/index.js";
import { openLinker } from "../../linker/open.js";
import { LINKER_ARGS, linkerOptionsFromArgs } from "../linker-args.js";
import { isLoopbackHost, startLinkServer, type ServerOptions } from "../../server/link-server.js";
import { listenWhileLoading, Replica } from "../../server/replica.js";
import type { CliIO } from "../io.js";
import { parseCommandArgs, positiveInt } from "../args.js";

export const usage = `usage: syncabel serve --kb KB.sqlite [--model DIR] [--language es|fr|en] [--multiple-answers]
                      [--early-stopping true|false|never] [--host H] [--port P] [--token T] [--allowed-host NAME]... [--cors-origin ORIGIN] [--open]
                      [--max-body-bytes N] [--max-sentences N] [--max-concurrent N] [--max-beams N]
                      [--max-request-work N] [--batch-size N] [--batching static|continuous|off] [--log-format text|json]
                      [--shutdown-grace SECONDS]
                      [--threads N] [--verb V] [--device cpu|cuda] [--dtype fp32|fp16|q8|q4|... | --model-file PATH] [--linker hybrid|tfidf|generative|retrieve-generate [--candidates K]] [--workers N] [--min-confidence P]

HTTP linking service and web page. The page at / links a pasted or opened document (text, BRAT, PubTator,
BigBio) and exports the reviewed links. POST /v1/link with {"sentences": ["... [mention]{GROUP} ..."],
"num_beams"?: N, "constrained"?: bool, "max_new_tokens"?: N} (Content-Type: application/json) answers
{"results": [...]}, one result per sentence in order, as \`syncabel link\` writes them; GET /health answers
{"status": "ok", "linker"}; GET /metrics Prometheus metrics. Errors are JSON {"error": {"code", "message"}}:
400 malformed, 401 no token, 408 body too slow, 413 over a limit, 415 not JSON, 503 busy.
Sentences of concurrent requests share model batches of --batch-size sentences (default 8). --batching static
(default): batches run to their end; continuous: a sentence joins the running decode between steps and is answered
as soon as its search ends; off (or --no-batching): requests take turns.
Without --model the hybrid linker is used when the KB holds one (syncabel train-linker), else TF-IDF; --workers N
links their batches on N worker threads (default 1). A calibrated linker's results carry "confidence";
--min-confidence P makes a result below P answer "code": "NO_CODE" with "abstained": true (beams kept).
Defaults: --host 127.0.0.1 (loopback; another host needs --token, or SYNCABEL_TOKEN in the environment: bearer
auth on every route but /health), --port 8080 (0 = any free port), CORS off (--cors-origin allows one origin),
--max-body-bytes 1048576, --max-sentences 256, --max-concurrent 64, --max-beams 20,
--max-request-work 163840 (sentences x beams x max_new_tokens of one request), --log-format text.
Without a token, requests must name the server in their Host header (localhost, 127.0.0.1, [::1], the --host
address): a page of another site cannot reach it through DNS rebinding; --allowed-host NAME admits more names.
Prints the URL once listening (--open: the web page's URL), one line per request on stderr with its request id
(also in the X-Request-Id header).
As a replica behind a load balancer (docs/deployment.md): the port answers from the start, while the KB, index
and model load: GET /health 200 (liveness), GET /ready 503 until everything is loaded, then 200 (readiness; no
token needed for either), other routes 503 with Retry-After. SIGINT/SIGTERM drain: /ready turns 503, new
requests get 503 with Retry-After, requests in flight finish; the process exits once none is left, or after
--shutdown-grace seconds (default 25, under Kubernetes' 30 s termination grace), cutting what is left (exit 1).
`;

export interface ServeControl {
  /** Aborting it stops the server as SIGINT would (for tests and embedding). */
  readonly signal?: AbortSignal;
  /** Listen for SIGINT/SIGTERM (default true). */
  readonly handleSignals?: boolean;
  /** Environment for SYNCABEL_TOKEN (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Called once the port answers the probes and before the KB and linker load (for tests and embedding: loading
   * waits for the promise).
   */
  readonly beforeLoad?: (url: string) => Promise<void>;
}

/** Runs the service until SIGINT/SIGTERM or `control.signal` aborts; resolves with the exit code once shut down. */
export async function serve(args: string[], io: CliIO, control: ServeControl = {}): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args,
      allowPositionals: true,
      options: {
        ...LINKER_ARGS,
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string" },
        token: { type: "string" },
        "allowed-host": { type: "string", multiple: true },
        "cors-origin": { type: "string" },
        open: { type: "boolean", default: false },
        "max-body-bytes": { type: "string" },
        "max-sentences": { type: "string" },
        "max-concurrent": { type: "string" },
        "max-beams": { type: "string" },
        "max-request-work": { type: "string" },
        "batch-size": { type: "string" },
        batching: { type: "string", default: "static" },
        "no-batching": { type: "boolean", default: false },
        "log-format": { type: "string", default: "text" },
        "shutdown-grace": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    },
    usage,
  );
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length > 0) throw new SyncabelError("CLI_USAGE", `unexpected argument ${JSON.stringify(positionals[0])}\n\n${usage}`);
  const linkerOptions = linkerOptionsFromArgs(values, usage);
  const port = positiveInt(values.port, "port", 8080, true);
  if (port > 65535) throw new SyncabelError("CLI_USAGE", `--port must be at most 65535, got ${port}`);
  const batching = values["no-batching"] ? "off" : values.batching;
  if (batching !== "continuous" && batching !== "static" && batching !== "off") throw new SyncabelError("CLI_USAGE", `--batching must be static, continuous or off, got ${JSON.stringify(batching)}\n\n${usage}`);
  const logFormat = values["log-format"];
  if (logFormat !== "text" && logFormat !== "json") throw new SyncabelError("CLI_USAGE", `--log-format must be text or json, got ${JSON.stringify(logFormat)}`);
  const graceMs = positiveInt(values["shutdown-grace"], "shutdown-grace", 25, true) * 1000;
  const token = values.token ?? (control.env ?? process.env).SYNCABEL_TOKEN;
  if (token !== undefined && token.length < 8) throw new SyncabelError("CLI_USAGE", "--token must have at least 8 characters");
  if (!isLoopbackHost(values.host) && token === undefined) {
    throw new SyncabelError("CLI_USAGE", `--host ${values.host} is reachable from other machines: give --token TOKEN (or SYNCABEL_TOKEN) so every request must carry it\n\n${usage}`);
  }
  const serverOptions: ServerOptions = {
    host: values.host,
    port,
    maxBodyBytes: positiveInt(values["max-body-bytes"], "max-body-bytes", 1024 * 1024),
    maxSentences: positiveInt(values["max-sentences"], "max-sentences", 256),
    maxConcurrent: positiveInt(values["max-concurrent"], "max-concurrent", 64),
    maxBeams: positiveInt(values["max-beams"], "max-beams", 20),
    maxRequestWork: positiveInt(values["max-request-work"], "max-request-work", 256 * 5 * 128),
    batchSize: positiveInt(values["batch-size"], "batch-size", 8),
    batching,
    logFormat,
    ...(token === undefined ? {} : { token }),
    ...(values["allowed-host"] === undefined ? {} : { allowedHosts: values["allowed-host"] }),
    ...(values["cors-origin"] === undefined ? {} : { corsOrigin: values["cors-origin"] }),
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
    const replica = new Replica();
    // The port answers the probes while the KB and model load; the link server takes it over once they are.
    const loading = await listenWhileLoading(replica, values.host, port);
    let linker: Awaited<ReturnType<typeof openLinker>>;
    let kb: ReturnType<typeof openKnowledgeBase>;
    try {
      const hostInUrl = loading.host.includes(":") ? `[${loading.host}]` : loading.host;
      io.stderr.write(`syncabel serve: loading the KB and linker; http://${hostInUrl}:${loading.port}/ready answers 503 until they are loaded\n`);
      await control.beforeLoad?.(`http://${hostInUrl}:${loading.port}`);
      linker = await openLinker({ ...linkerOptions, onWarning: (m) => void io.stderr.write(`warning: ${m}\n`) });
      try {
        // A second read-only handle on the KB: concept names and dictionary suggestions for the web page.
        kb = openKnowledgeBase(linkerOptions.kb);
      } catch (e) {
        await linker.close();
        throw e;
      }
    } finally {
      await loading.close();
    }
    try {
      if (stop.signal.aborted) return 0; // stopped while loading: nothing in flight
      const server = await startLinkServer(linker, { ...serverOptions, port: loading.port, kb, replica });
      replica.markReady();
      io.stdout.write(`syncabel serve: ${linker.kind} linker listening on ${server.url} (POST /v1/link, GET /health, GET /ready, GET /metrics, web page at /)\n`);
      if (values.open) io.stdout.write(`open ${server.url}/${token === undefined ? "" : `?token=${encodeURIComponent(token)}`}\n`);
      if (!stop.signal.aborted) await once(stop.signal, "abort");
      return await drain(replica, server, graceMs, io);
    } finally {
      kb.close();
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

/** SIGTERM: /ready turns false, new requests get 503, those in flight finish within `graceMs`; then the port closes. */
async function drain(replica: Replica, server: { close(graceMs?: number): Promise<void> }, graceMs: number, io: CliIO): Promise<number> {
  replica.drain();
  const deadline = Date.now() + graceMs;
  io.stderr.write(`shutting down: ${replica.requestsInFlight} request(s) in flight finish, new ones get 503; stopping within ${graceMs / 1000} s\n`);
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([replica.whenIdle().then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
  clearTimeout(timer);
  const cut = replica.requestsInFlight;
  await server.close(Math.max(0, deadline - Date.now()));
  if (drained) return 0;
  io.stderr.write(`shutting down: the ${graceMs / 1000} s bound passed; ${cut} request(s) still in flight were cut\n`);
  return 1;
}
