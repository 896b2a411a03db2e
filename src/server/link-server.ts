import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { SyncabelError } from "../errors.js";
import type { KnowledgeBase } from "../kb/types.js";
import type { MentionQuery } from "../data/mention-queries.js";
import { queriesOfSentences } from "../linker/sample.js";
import type { Linker, LinkResult, SampleResult } from "../linker/types.js";
import { corsHeaders, hostName, isAllowedHost, isAuthorized, requestIdOf, tokenCookie, tokensEqual } from "./access.js";
import { compositeConceptInfo, exportDocument } from "./annotation-export.js";
import { SentenceBatcher, type DecodeOptions } from "./batcher.js";
import { sendError, sendJson, wireErrorOf, type WireError } from "./http-json.js";
import { parseLinkRequest, type LinkRequestLimits } from "./link-request.js";
import { describeLinker } from "../linker/linker-description.js";
import { ServerMetrics } from "./metrics.js";
import { checkDeclaredLength, checkJsonDepth, readBody } from "./read-body.js";
import { loadStaticFiles, PAGE_CSP } from "./static-files.js";
import { prepareSegmentation } from "../markup/sentence-builder.js";
import { conceptInfo, documentOf, LazyMatcher, linkDocumentMentions, readUploadedDocuments } from "./web-api.js";
import { parseDocumentsRequest, parseExportRequest, parseJsonObject, parseLinkDocumentRequest } from "./web-requests.js";
import type { Replica } from "./replica.js";

export interface ServerOptions {
  /** Interface to bind (default 127.0.0.1: loopback only). Beyond loopback, set `token`. */
  readonly host?: string;
  /** TCP port (default 8080; 0 = an ephemeral port, see `LinkServer.port`). */
  readonly port?: number;
  /** Largest request body read (default 1 MiB); past it the server stops reading and answers 413. */
  readonly maxBodyBytes?: number;
  /** Largest upload of dataset files to `POST /v1/documents` (default 8 MiB). */
  readonly maxDocumentBytes?: number;
  /** Sentences per request (default 256); also mentions per document. */
  readonly maxSentences?: number;
  /** Linking requests (bodies read, queued or on the model) at once (default 64); more get 503 SERVER_BUSY. */
  readonly maxConcurrent?: number;
  /** Time to receive a whole request, headers and body (default 30 s; Node answers 408 past it). */
  readonly requestTimeoutMs?: number;
  /** Time to receive a request body once its headers are in (default 10 s): 408 REQUEST_TIMEOUT past it. */
  readonly bodyTimeoutMs?: number;
  /** Largest `num_beams` a request may ask for (default 20). */
  readonly maxBeams?: number;
  /** Largest `max_new_tokens` a request may ask for (default 256). */
  readonly maxNewTokens?: number;
  /**
   * Largest sentences x num_beams x max_new_tokens of one request (default 163,840 = 256 sentences at the default
   * 5 beams and 128 tokens): one client cannot queue minutes of model time.
   */
  readonly maxRequestWork?: number;
  /** Longer sentences get a per-sentence REQUEST_TOO_LARGE error instead of reaching the model (default 10,000 chars). */
  readonly maxSentenceChars?: number;
  /** Sentences per model batch, passed to `Linker.sample` (default 8). */
  readonly batchSize?: number;
  /**
   * How concurrent requests share the model (default "static", or true): "static" = merged into batches that run
   * to their end; "continuous" = sentences join the running decode between steps (a linker that decodes in
   * batches; the others batch statically); "off" (or false) = requests take turns.
   */
  readonly batching?: boolean | "continuous" | "static" | "off";
  /** Wait for a fuller batch (default 5 ms, longer after slow batches, see batcher.ts; 0 for the TF-IDF linker). */
  readonly batchWaitMs?: number;
  /** Retry-After seconds sent with 503 (default 1). */
  readonly retryAfterSeconds?: number;
  /** Bearer token required on every route but /health (compared in constant time). */
  readonly token?: string;
  /**
   * Without a token, requests must name this server in Host: a loopback name, the bound address, or one of these
   * (DNS-rebinding guard: another site's page must not reach a local server through its own name). Ignored with a token.
   */
  readonly allowedHosts?: readonly string[];
  /** An origin allowed to call the API from a browser (CORS; `*` for any); none by default. */
  readonly corsOrigin?: string;
  /** The KB behind the linker: concept names (`/v1/concept/:code`), groups and the dictionary matcher. */
  readonly kb?: KnowledgeBase;
  /** Serve the web page at `/` (default true). */
  readonly web?: boolean;
  /** One line per request (request id, method, path, status, sentences, ms) and server-side failures; silent by default. */
  readonly log?: (line: string) => void;
  /** Log lines as text (default) or one JSON object per line. */
  readonly logFormat?: "text" | "json";
  /** Behind a load balancer: GET /ready, and 503 + Retry-After for new requests while draining (see replica.ts). */
  readonly replica?: Replica;
}

type Settings = Required<Omit<ServerOptions, "log" | "token" | "corsOrigin" | "kb" | "batchWaitMs" | "replica" | "allowedHosts">> & Pick<ServerOptions, "log" | "token" | "corsOrigin" | "kb" | "batchWaitMs"> & { readonly allowedHosts: ReadonlySet<string> };

const MIB = 1024 * 1024;

/**
 * `POST /v1/link-document` carries the whole document's mentions (their texts are the document context of the ones
 * it links) and links at most maxSentences of them: a document may hold this many times more.
 */
const DOCUMENT_MENTIONS_PER_LINKED = 16;

function settingsOf(options: ServerOptions): Settings {
  const s: Settings = {
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 8080,
    maxBodyBytes: options.maxBodyBytes ?? MIB,
    maxDocumentBytes: options.maxDocumentBytes ?? 8 * MIB,
    maxSentences: options.maxSentences ?? 256,
    maxConcurrent: options.maxConcurrent ?? 64,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 10_000,
    maxBeams: options.maxBeams ?? 20,
    maxNewTokens: options.maxNewTokens ?? 256,
    maxRequestWork: options.maxRequestWork ?? 256 * 5 * 128,
    maxSentenceChars: options.maxSentenceChars ?? 10_000,
    batchSize: options.batchSize ?? 8,
    batching: options.batching ?? "static",
    batchWaitMs: options.batchWaitMs,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
    web: options.web ?? true,
    logFormat: options.logFormat ?? "text",
    log: options.log,
    token: options.token,
    allowedHosts: new Set((options.allowedHosts ?? []).map((h) => hostName(h))),
    corsOrigin: options.corsOrigin,
    kb: options.kb,
  };
  const positive = [
    "maxBodyBytes",
    "maxDocumentBytes",
    "maxSentences",
    "maxConcurrent",
    "requestTimeoutMs",
    "bodyTimeoutMs",
    "maxBeams",
    "maxNewTokens",
    "maxRequestWork",
    "maxSentenceChars",
    "batchSize",
    "retryAfterSeconds",
  ] as const;
  for (const key of positive) {
    const v = s[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new SyncabelError("SERVER_INVALID_OPTIONS", `server option ${key} must be a positive integer, got ${String(v)}`, { option: key });
  }
  if (!Number.isInteger(s.port) || s.port < 0 || s.port > 65535) throw new SyncabelError("SERVER_INVALID_OPTIONS", `server option port must be in [0, 65535], got ${s.port}`, { option: "port" });
  if (s.token !== undefined && s.token.length < 8) throw new SyncabelError("SERVER_INVALID_OPTIONS", "server option token must have at least 8 characters", { option: "token" });
  return s;
}

/** What graceful shutdown and the concurrency limit need to know about a server made here. */
interface ServerState {
  /** Requests in the handler (reading a body, queued, on the model): shutdown waits for them. */
  inFlight: number;
  /** Linking requests past their body (queued or on the model): bounded by maxConcurrent. */
  linking: number;
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

function splitUrl(req: IncomingMessage): { path: string; query: URLSearchParams } {
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  return q < 0 ? { path: raw, query: new URLSearchParams() } : { path: raw.slice(0, q), query: new URLSearchParams(raw.slice(q + 1)) };
}

const API_ROUTES = new Set(["/v1/link", "/v1/link-document", "/v1/documents", "/v1/match", "/v1/export", "/v1/info", "/health", "/metrics", "/ready"]);

/** The route label of a path for metrics (bounded set: unknown paths are "other"). */
function routeOf(path: string, isStatic: boolean): string {
  if (API_ROUTES.has(path)) return path;
  if (path.startsWith("/v1/concept/")) return "/v1/concept/:code";
  return isStatic ? "static" : "other";
}

/** sentences x beams x new tokens: the decoding work one request asks for. */
function requestWork(sentences: number, options: DecodeOptions): number {
  return sentences * (options.num_beams ?? 5) * (options.max_new_tokens ?? 128);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: WireError,
    readonly headers: Record<string, string> = {},
  ) {
    super(error.message);
  }
}

/**
 * An HTTP server over a linker: `POST /v1/link` {"sentences": [...], "num_beams"?, "constrained"?, "max_new_tokens"?}
 * -> {"results": SampleResult[]} in input order, the web page at `/` and its endpoints, `GET /health`,
 * `GET /metrics`. Errors are JSON {"error": {code, message}}. Sentences of concurrent requests share model batches
 * (see batcher.ts). Not listening yet: call `listen` (or use `startLinkServer`). The caller keeps ownership of the
 * linker and the KB.
 */
export function createLinkServer(linker: Linker, options: ServerOptions = {}): Server {
  const s = settingsOf(options);
  const limits: LinkRequestLimits = { maxSentences: s.maxSentences, maxBeams: s.maxBeams, maxNewTokens: s.maxNewTokens };
  const state: ServerState = { inFlight: 0, linking: 0, closing: false, idle: [] };
  const batcher = new SentenceBatcher(linker, {
    batchSize: s.batchSize,
    merge: s.batching !== false && s.batching !== "off",
    continuous: s.batching === "continuous",
    maxWaitMs: s.batchWaitMs ?? (linker.kind === "tfidf" ? 0 : 5),
    onBatch: (n) => metrics.batchSizes.observe(n),
    onDropped: (n) => metrics.dropped.inc({}, n),
  });
  const metrics = new ServerMetrics(
    () => batcher.queuedSentences,
    () => state.linking,
  );
  const staticFiles = s.web ? loadStaticFiles() : new Map();
  const matcher = s.kb === undefined ? undefined : new LazyMatcher(s.kb);
  const linkerDescription = describeLinker(linker.kind, s.kb);

  const log = (requestId: string, fields: Record<string, string | number>, text: string): void => {
    if (!s.log) return;
    s.log(s.logFormat === "json" ? JSON.stringify({ time: new Date().toISOString(), request_id: requestId, ...fields }) : `${requestId} ${text}`);
  };

  const tooLong = (chars: number): LinkResult => ({
    error: new SyncabelError("REQUEST_TOO_LARGE", `the sentence has ${chars} characters, the server allows at most ${s.maxSentenceChars}`, { max: s.maxSentenceChars }).toJSON(),
  });

  /** Queries with an over-long sentence get their own error; the rest go through the batcher; input order is kept. */
  const linkQueries = async (queries: readonly MentionQuery[], decode: DecodeOptions, signal: AbortSignal): Promise<LinkResult[]> => {
    const results: LinkResult[] = new Array(queries.length);
    const kept: number[] = [];
    queries.forEach((q, i) => {
      if (q.marked.length <= s.maxSentenceChars) kept.push(i);
      else results[i] = tooLong(q.marked.length);
    });
    const linked = await batcher.submit(
      kept.map((i) => queries[i] as MentionQuery),
      decode,
      signal,
    );
    kept.forEach((i, j) => (results[i] = linked[j] as LinkResult));
    for (const r of results) {
      if (r.error) metrics.errors.inc({ code: r.error.code });
      else metrics.sentences.inc();
    }
    return results;
  };

  /** `POST /v1/link`: marked sentences enter here; each result carries its sentence as given. */
  const linkSentences = async (sentences: readonly string[], decode: DecodeOptions, signal: AbortSignal): Promise<SampleResult[]> => {
    const results: SampleResult[] = new Array(sentences.length);
    const fail = (i: number, failed: LinkResult): void => {
      results[i] = { sentence: sentences[i] as string, ...failed };
      metrics.errors.inc({ code: failed.error!.code });
    };
    // Over-long sentences are refused before they are parsed.
    const kept = sentences.flatMap((sentence, i) => (sentence.length > s.maxSentenceChars ? (fail(i, tooLong(sentence.length)), []) : [i]));
    const { queries, at } = queriesOfSentences(kept.map((i) => sentences[i] as string), (k, error) => fail(kept[k] as number, { error }));
    const linked = await linkQueries(queries, decode, signal);
    at.forEach((k, j) => (results[kept[k] as number] = { sentence: sentences[kept[k] as number] as string, ...(linked[j] as LinkResult) }));
    return results;
  };

  /** Checks the work bound, takes a linking slot (after the body is read: a slow upload holds none), runs `work`. */
  const withLinkSlot = async <T>(sentences: number, decode: DecodeOptions, work: () => Promise<T>): Promise<T> => {
    const asked = requestWork(sentences, decode);
    if (asked > s.maxRequestWork) {
      throw new SyncabelError(
        "REQUEST_TOO_LARGE",
        `the request asks for ${sentences} sentences x ${decode.num_beams ?? 5} beams x ${decode.max_new_tokens ?? 128} new tokens = ${asked}, the server allows at most ${s.maxRequestWork}: split it or ask for fewer beams or tokens`,
        { max_request_work: s.maxRequestWork },
      );
    }
    if (state.linking >= s.maxConcurrent) {
      throw new HttpError(503, { code: "SERVER_BUSY", message: `${state.linking} requests in flight, the server allows ${s.maxConcurrent}; retry later` }, { "retry-after": String(s.retryAfterSeconds) });
    }
    state.linking++;
    try {
      return await work();
    } finally {
      state.linking--;
    }
  };

  /** Reads a JSON body (415 for another type, 413 past `maxBytes`, 408 past the body timeout), then runs `handle`. */
  const handleJsonPost = async (req: IncomingMessage, res: ServerResponse, maxBytes: number, handle: (raw: Buffer, signal: AbortSignal) => Promise<void>): Promise<void> => {
    state.inFlight++;
    let bodyRead = false;
    // The client hung up before its reply: its queued work is dropped.
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    try {
      if (!isJsonContentType(req.headers["content-type"])) {
        throw new HttpError(415, { code: "REQUEST_INVALID", message: `Content-Type must be application/json, got ${JSON.stringify(req.headers["content-type"] ?? null).slice(0, 100)}` });
      }
      checkDeclaredLength(req, maxBytes);
      const raw = await readBody(req, maxBytes, s.bodyTimeoutMs);
      bodyRead = true;
      checkJsonDepth(raw);
      await handle(raw, gone.signal);
    } catch (e) {
      if (gone.signal.aborted) return;
      const { status, error, headers } = e instanceof HttpError ? e : { ...wireErrorOf(e), headers: {} };
      if (status === 500) log(res.getHeader("x-request-id") as string, { level: "error", error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, `error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      metrics.errors.inc({ code: error.code });
      sendError(res, status, error, { close: !bodyRead || state.closing, headers });
    } finally {
      state.inFlight--;
      if (state.inFlight === 0) for (const done of state.idle.splice(0)) done();
    }
  };

  const reply = (res: ServerResponse, value: unknown): void => sendJson(res, 200, value, { close: state.closing });

  const posts: Record<string, { maxBytes: number; handle: (raw: Buffer, res: ServerResponse, signal: AbortSignal, note: (n: number) => void) => Promise<void> }> = {
    "/v1/link": {
      maxBytes: s.maxBodyBytes,
      handle: async (raw, res, signal, note) => {
        const request = parseLinkRequest(raw, limits);
        note(request.sentences.length);
        const results = await withLinkSlot(request.sentences.length, request.options, () => linkSentences(request.sentences, request.options, signal));
        reply(res, { results });
      },
    },
    "/v1/link-document": {
      maxBytes: s.maxDocumentBytes,
      handle: async (raw, res, signal, note) => {
        const request = parseLinkDocumentRequest(parseJsonObject(raw), s.maxSentences, s.maxSentences * DOCUMENT_MENTIONS_PER_LINKED);
        note(request.link.length);
        checkDecodeLimits(request.options, limits);
        const results = await withLinkSlot(request.link.length, request.options, async () => {
          const doc = documentOf(request);
          await prepareSegmentation(doc); // a long document is segmented without holding /health
          return linkDocumentMentions(request, (queries, decode) => linkQueries(queries, decode, signal), doc);
        });
        reply(res, { results });
      },
    },
    "/v1/documents": {
      maxBytes: s.maxDocumentBytes,
      handle: async (raw, res) => {
        const request = parseDocumentsRequest(parseJsonObject(raw));
        reply(res, await readUploadedDocuments(request.format, request.files));
      },
    },
    "/v1/match": {
      maxBytes: s.maxDocumentBytes,
      handle: async (raw, res) => {
        const body = parseJsonObject(raw);
        if (typeof body.text !== "string") throw new SyncabelError("REQUEST_INVALID", "body.text must be a string", { field: "text" });
        if (matcher === undefined) throw new HttpError(404, { code: "NOT_FOUND", message: "dictionary matching needs the server to be started with its KB" });
        reply(res, { matches: matcher.match(body.text) });
      },
    },
    "/v1/export": {
      maxBytes: s.maxDocumentBytes,
      handle: async (raw, res) => {
        const { format, document, all } = parseExportRequest(parseJsonObject(raw), s.maxSentences * 64);
        const text = exportDocument(document, format, { all });
        const ext = format === "brat" ? "ann" : format === "pubtator" ? "pubtator.txt" : "jsonl";
        const name = `${document.id.replace(/[^\w.-]/g, "_").slice(0, 100) || "document"}.${ext}`;
        if (res.headersSent || res.destroyed) return;
        res.writeHead(200, {
          "content-type": "text/plain; charset=utf-8",
          "content-length": Buffer.byteLength(text),
          "content-disposition": `attachment; filename="${name}"`,
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        });
        res.end(text);
      },
    },
  };

  const handleGet = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    if (path === "/metrics") {
      const body = metrics.render();
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
    if (path === "/v1/info") {
      reply(res, { linker: linker.kind, linker_description: linkerDescription, groups: s.kb?.groups() ?? [], concepts: s.kb !== undefined, matcher: matcher !== undefined });
      return;
    }
    if (path.startsWith("/v1/concept/")) {
      let code: string;
      try {
        code = decodeURIComponent(path.slice("/v1/concept/".length));
      } catch {
        throw new SyncabelError("REQUEST_INVALID", "the concept code is not valid percent-encoding");
      }
      const info = s.kb === undefined ? undefined : (conceptInfo(s.kb, code) ?? compositeConceptInfo(s.kb, code));
      if (info === undefined) throw new HttpError(404, { code: "NOT_FOUND", message: `no concept ${JSON.stringify(code.slice(0, 100))} in the knowledge base` });
      reply(res, info);
      return;
    }
    const file = staticFiles.get(path);
    if (file === undefined) throw new HttpError(404, { code: "NOT_FOUND", message: `no such endpoint: ${path.slice(0, 200)} (endpoints: POST /v1/link, POST /v1/link-document, GET /health, GET /metrics, the web page at /)` });
    res.writeHead(200, { "content-type": file.type, "content-length": file.body.length, "content-security-policy": PAGE_CSP, "x-content-type-options": "nosniff", "cache-control": "no-cache", "referrer-policy": "no-referrer" });
    res.end(req.method === "HEAD" ? undefined : file.body);
  };

  const route = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, note: (n: number) => void): void => {
    const method = req.method ?? "GET";
    if (method === "OPTIONS" && s.corsOrigin !== undefined && res.hasHeader("access-control-allow-origin")) {
      res.writeHead(204, { "content-length": 0 });
      res.end();
      return;
    }
    if (path === "/health") {
      if (method !== "GET" && method !== "HEAD") throw new HttpError(405, { code: "REQUEST_INVALID", message: `use GET for /health, not ${method}` }, { allow: "GET, HEAD" });
      reply(res, { status: "ok", linker: linker.kind });
      return;
    }
    // DNS-rebinding guard (probes of /health and /ready, which tell nothing, come with any Host).
    if (s.token === undefined && !isAllowedHost(req, s.host, s.allowedHosts)) {
      throw new HttpError(403, {
        code: "REQUEST_HOST_NOT_ALLOWED",
        message: `Host ${JSON.stringify(String(req.headers.host).slice(0, 100))} is not this server's name: use localhost or its address (the server allows more names with --allowed-host NAME)`,
      });
    }
    if (s.token !== undefined && !isAuthorized(req, s.token)) {
      // The page's way in: GET /?token=T sets the cookie and reloads without the token in the address.
      const given = query.get("token");
      if (path === "/" && method === "GET" && given !== null && tokensEqual(given, s.token)) {
        res.writeHead(303, { location: "/", "set-cookie": tokenCookie(s.token), "content-length": 0, "cache-control": "no-store" });
        res.end();
        return;
      }
      throw new HttpError(401, { code: "REQUEST_UNAUTHORIZED", message: "this server needs its token: send `Authorization: Bearer TOKEN` (the web page: open /?token=TOKEN)" }, { "www-authenticate": 'Bearer realm="syncabel"' });
    }
    const post = posts[path];
    if (post !== undefined) {
      if (method !== "POST") throw new HttpError(405, { code: "REQUEST_INVALID", message: `use POST for ${path}, not ${method}` }, { allow: "POST" });
      void handleJsonPost(req, res, post.maxBytes, (raw, signal) => post.handle(raw, res, signal, note));
      return;
    }
    if (method !== "GET" && method !== "HEAD") throw new HttpError(405, { code: "REQUEST_INVALID", message: `use GET for ${path.slice(0, 200)}, not ${method}` }, { allow: "GET, HEAD" });
    handleGet(req, res, path);
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
      const { path, query } = splitUrl(req);
      const requestId = requestIdOf(req);
      res.setHeader("x-request-id", requestId);
      for (const [k, v] of Object.entries(corsHeaders(req, s.corsOrigin))) res.setHeader(k, v);
      let sentences: number | undefined;
      res.on("close", () => {
        const status = res.writableFinished ? String(res.statusCode) : "aborted";
        const seconds = (performance.now() - started) / 1000;
        const label = routeOf(path, staticFiles.has(path));
        metrics.requests.inc({ route: label, status });
        metrics.latency.observe(seconds, { route: label });
        const n = sentences === undefined ? "" : ` ${sentences} sentences`;
        const ms = Math.round(seconds * 1000);
        log(requestId, { method: req.method ?? "", path: path.slice(0, 200), status, ...(sentences === undefined ? {} : { sentences }), ms }, `${req.method} ${path.slice(0, 200)} ${status}${n} ${ms} ms`);
      });
      if (options.replica?.handle(req, res, path)) return;
      try {
        route(req, res, path, query, (n) => (sentences = n));
      } catch (e) {
        const { status, error, headers } = e instanceof HttpError ? e : { ...wireErrorOf(e), headers: {} };
        metrics.errors.inc({ code: error.code });
        sendError(res, status, error, { close: state.closing || (req.method !== "GET" && req.method !== "HEAD"), headers });
      }
    },
  );
  // Node's header timeout starts at a request's first byte: a connection that never sends one would stay open.
  const headersTimeout = server.headersTimeout;
  server.on("connection", (socket) => {
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, headersTimeout);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  });
  STATES.set(server, state);
  return server;
}

/** The per-request bounds of `/v1/link` applied to another endpoint's decoding options. */
function checkDecodeLimits(decode: DecodeOptions, limits: LinkRequestLimits): void {
  if ((decode.num_beams ?? 0) > limits.maxBeams) throw new SyncabelError("REQUEST_TOO_LARGE", `"num_beams" is ${decode.num_beams}, the server allows at most ${limits.maxBeams}`, { field: "num_beams", max: limits.maxBeams });
  if ((decode.max_new_tokens ?? 0) > limits.maxNewTokens) {
    throw new SyncabelError("REQUEST_TOO_LARGE", `"max_new_tokens" is ${decode.max_new_tokens}, the server allows at most ${limits.maxNewTokens}`, { field: "max_new_tokens", max: limits.maxNewTokens });
  }
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

export { isLoopbackHost } from "./access.js";
