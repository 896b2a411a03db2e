import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { SyncabelError } from "../errors.js";
import type { Linker, SampleResult } from "../linker/types.js";
import { sendError, sendJson, wireErrorOf } from "./http-json.js";
import { parseLinkRequest, type LinkRequestLimits } from "./link-request.js";
import { checkDeclaredLength, readBody } from "./read-body.js";

export interface ServerOptions {
  /** Interface to bind (default 127.0.0.1: loopback only; the service has no authentication). */
  readonly host?: string;
  /** TCP port (default 8080; 0 = an ephemeral port, see `LinkServer.port`). */
  readonly port?: number;
  /** Largest request body read (default 1 MiB); past it the server stops reading and answers 413. */
  readonly maxBodyBytes?: number;
  /** Sentences per request (default 256). */
  readonly maxSentences?: number;
  /** `/v1/link` requests in flight at once (default 4); more get 503 SERVER_BUSY with Retry-After. */
  readonly maxConcurrent?: number;
  /** Time to receive a whole request, headers and body (default 30 s; Node answers 408 past it). */
  readonly requestTimeoutMs?: number;
  /** Largest `num_beams` a request may ask for (default 20). */
  readonly maxBeams?: number;
  /** Largest `max_new_tokens` a request may ask for (default 256). */
  readonly maxNewTokens?: number;
  /** Longer sentences get a per-sentence REQUEST_TOO_LARGE error instead of reaching the model (default 10,000 chars). */
  readonly maxSentenceChars?: number;
  /** Sentences per model batch, passed to `Linker.sample` (default 8). */
  readonly batchSize?: number;
  /** Retry-After seconds sent with 503 (default 1). */
  readonly retryAfterSeconds?: number;
  /** One line per request (method, path, status, sentences, ms) and server-side failures; silent by default. */
  readonly log?: (line: string) => void;
}

type Settings = Required<Omit<ServerOptions, "log">> & Pick<ServerOptions, "log">;

const MIB = 1024 * 1024;

function settingsOf(options: ServerOptions): Settings {
  const s: Settings = {
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 8080,
    maxBodyBytes: options.maxBodyBytes ?? MIB,
    maxSentences: options.maxSentences ?? 256,
    maxConcurrent: options.maxConcurrent ?? 4,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    maxBeams: options.maxBeams ?? 20,
    maxNewTokens: options.maxNewTokens ?? 256,
    maxSentenceChars: options.maxSentenceChars ?? 10_000,
    batchSize: options.batchSize ?? 8,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
    log: options.log,
  };
  const positive: (keyof Settings)[] = ["maxBodyBytes", "maxSentences", "maxConcurrent", "requestTimeoutMs", "maxBeams", "maxNewTokens", "maxSentenceChars", "batchSize", "retryAfterSeconds"];
  for (const key of positive) {
    const v = s[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `server option ${key} must be a positive integer, got ${String(v)}`);
  }
  if (!Number.isInteger(s.port) || s.port < 0 || s.port > 65535) throw new SyncabelError("LINKER_INVALID_OPTIONS", `server option port must be in [0, 65535], got ${s.port}`);
  return s;
}

/** What graceful shutdown needs to know about a server made here. */
interface ServerState {
  inFlight: number;
  closing: boolean;
  readonly idle: (() => void)[];
}
const STATES = new WeakMap<Server, ServerState>();

/** `application/json`, optionally with `charset=utf-8`; anything else is 415. */
function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [type, ...params] = header.split(";").map((p) => p.trim().toLowerCase());
  if (type !== "application/json") return false;
  return params.every((p) => !p.startsWith("charset=") || p === "charset=utf-8" || p === 'charset="utf-8"');
}

function pathOf(req: IncomingMessage): string {
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  return q < 0 ? raw : raw.slice(0, q);
}

/** Links what fits, and gives over-long sentences their own error, keeping the input order. */
async function sampleWithinLimits(linker: Linker, sentences: readonly string[], s: Settings, options: Parameters<Linker["sample"]>[1]): Promise<SampleResult[]> {
  const results: SampleResult[] = new Array(sentences.length);
  const kept: number[] = [];
  sentences.forEach((sentence, i) => {
    if (sentence.length <= s.maxSentenceChars) kept.push(i);
    else {
      const error = new SyncabelError("REQUEST_TOO_LARGE", `the sentence has ${sentence.length} characters, the server allows at most ${s.maxSentenceChars}`, { max: s.maxSentenceChars });
      results[i] = { sentence, error: error.toJSON() };
    }
  });
  if (kept.length > 0) {
    const linked = await linker.sample(kept.map((i) => sentences[i]), options);
    kept.forEach((i, j) => (results[i] = linked[j]));
  }
  return results;
}

/**
 * An HTTP server over a linker: `POST /v1/link` {"sentences": [...], "num_beams"?, "constrained"?, "max_new_tokens"?}
 * -> {"results": SampleResult[]} in input order, `GET /health`. Errors are JSON {"error": {code, message}}.
 * Not listening yet: call `listen` (or use `startLinkServer`). The caller keeps ownership of the linker.
 */
export function createLinkServer(linker: Linker, options: ServerOptions = {}): Server {
  const s = settingsOf(options);
  const limits: LinkRequestLimits = { maxSentences: s.maxSentences, maxBeams: s.maxBeams, maxNewTokens: s.maxNewTokens };
  const state: ServerState = { inFlight: 0, closing: false, idle: [] };

  const handleLink = async (req: IncomingMessage, res: ServerResponse, noteSentences: (n: number) => void): Promise<void> => {
    if (state.inFlight >= s.maxConcurrent) {
      sendError(res, 503, { code: "SERVER_BUSY", message: `${state.inFlight} requests in flight, the server allows ${s.maxConcurrent}; retry later` }, {
        close: true,
        headers: { "retry-after": String(s.retryAfterSeconds) },
      });
      return;
    }
    state.inFlight++;
    let bodyRead = false;
    try {
      if (!isJsonContentType(req.headers["content-type"])) {
        sendError(res, 415, { code: "REQUEST_INVALID", message: `Content-Type must be application/json, got ${JSON.stringify(req.headers["content-type"] ?? null)}` }, { close: true });
        return;
      }
      checkDeclaredLength(req, s.maxBodyBytes);
      const raw = await readBody(req, s.maxBodyBytes);
      bodyRead = true;
      const request = parseLinkRequest(raw, limits);
      noteSentences(request.sentences.length);
      const results = await sampleWithinLimits(linker, request.sentences, s, { ...request.options, batch_size: s.batchSize });
      sendJson(res, 200, { results }, { close: state.closing });
    } catch (e) {
      const { status, error } = wireErrorOf(e);
      if (status === 500) s.log?.(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      sendError(res, status, error, { close: !bodyRead || state.closing });
    } finally {
      state.inFlight--;
      if (state.inFlight === 0) for (const done of state.idle.splice(0)) done();
    }
  };

  const server = createServer(
    {
      requestTimeout: s.requestTimeoutMs,
      headersTimeout: Math.min(s.requestTimeoutMs, 60_000),
      // Node checks the two timeouts on this period: keep it well under the timeout itself.
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(s.requestTimeoutMs / 4))),
    },
    (req, res) => {
      const started = performance.now();
      const path = pathOf(req);
      let sentences: number | undefined;
      if (s.log) {
        const log = s.log;
        res.on("close", () => {
          const status = res.writableFinished ? String(res.statusCode) : "aborted";
          const n = sentences === undefined ? "" : ` ${sentences} sentences`;
          log(`${req.method} ${path.slice(0, 200)} ${status}${n} ${Math.round(performance.now() - started)} ms`);
        });
      }
      if (path === "/v1/link") {
        if (req.method !== "POST") {
          sendError(res, 405, { code: "REQUEST_INVALID", message: `use POST for /v1/link, not ${req.method}` }, { headers: { allow: "POST" }, close: state.closing });
          return;
        }
        void handleLink(req, res, (n) => (sentences = n));
        return;
      }
      if (path === "/health") {
        if (req.method !== "GET" && req.method !== "HEAD") {
          sendError(res, 405, { code: "REQUEST_INVALID", message: `use GET for /health, not ${req.method}` }, { headers: { allow: "GET, HEAD" }, close: state.closing });
          return;
        }
        sendJson(res, 200, { status: "ok", linker: linker.kind }, { close: state.closing });
        return;
      }
      sendError(res, 404, { code: "REQUEST_INVALID", message: `no such endpoint: ${path.slice(0, 200)} (endpoints: POST /v1/link, GET /health)` }, { close: state.closing });
    },
  );
  STATES.set(server, state);
  return server;
}

/**
 * Graceful stop: no new connections, in-flight requests finish (their replies close the connection), then the
 * server closes. After `graceMs` the remaining connections are cut. Does not close the linker.
 */
export async function closeLinkServer(server: Server, graceMs = 30_000): Promise<void> {
  const state = STATES.get(server);
  if (state) state.closing = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const drained = new Promise<void>((resolve) => {
    if (!state || state.inFlight === 0) resolve();
    else state.idle.push(resolve);
  });
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
    timer.unref();
  });
  await Promise.race([drained.then(() => server.closeIdleConnections()), grace]);
  await closed;
  clearTimeout(timer);
}

/** A listening link server. */
export interface LinkServer {
  readonly server: Server;
  /** The address actually bound (the port is the real one when 0 was asked). */
  readonly host: string;
  readonly port: number;
  /** `http://host:port` (IPv6 hosts in brackets). */
  readonly url: string;
  /** See `closeLinkServer`. The linker stays open: its owner closes it. */
  close(graceMs?: number): Promise<void>;
}

/** `createLinkServer` + listen on `options.host`/`options.port`; resolves once listening. */
export async function startLinkServer(linker: Linker, options: ServerOptions = {}): Promise<LinkServer> {
  const s = settingsOf(options);
  const server = createLinkServer(linker, options);
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(new SyncabelError("IO_ERROR", `cannot listen on ${s.host}:${s.port}: ${e.code ?? e.message}`, { host: s.host, port: s.port }, { cause: e }));
    };
    server.once("error", onError);
    server.listen(s.port, s.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostInUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    server,
    host: address.address,
    port: address.port,
    url: `http://${hostInUrl}:${address.port}`,
    close: (graceMs?: number) => closeLinkServer(server, graceMs),
  };
}

/** Whether `host` only reaches this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}
