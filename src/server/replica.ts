/**
 * `serve` as one replica behind a load balancer (Kubernetes Service, any HTTP balancer). A replica keeps no
 * state between requests apart from its read-only KB and model, so any replica can answer any request; what the
 * balancer needs is to know when to send it traffic:
 *   loading  -> GET /health 200 (alive), GET /ready 503, every other route 503 + Retry-After;
 *   ready    -> GET /ready 200; requests go to the link server;
 *   draining -> (SIGTERM) GET /ready 503, new requests 503 + Retry-After + Connection: close, requests in flight
 *               finish; the process stops once none is left or the shutdown bound has passed.
 * /ready and /health need no token: probes carry none, and they tell nothing but the phase.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SyncabelError } from "../errors.js";
import { sendError, sendJson } from "./http-json.js";

export type ReplicaPhase = "loading" | "ready" | "draining";

export class Replica {
  private current: ReplicaPhase = "loading";
  private inFlight = 0;
  private readonly idle: (() => void)[] = [];

  constructor(private readonly retryAfterSeconds = 1) {}

  get phase(): ReplicaPhase {
    return this.current;
  }

  /** Requests let through to the link server whose responses have not closed yet. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** The KB, index and model are loaded and the link server listens. */
  markReady(): void {
    if (this.current === "loading") this.current = "ready";
  }

  /** Stop taking requests (SIGTERM); those in flight go on. */
  drain(): void {
    this.current = "draining";
  }

  /** Resolves once no request let through is in flight (at once when none is). */
  whenIdle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * The first look at every request: answers /ready, and unless the replica is ready every route but /health
   * (and /metrics while draining) with 503. Returns true when it answered; otherwise the request is counted in
   * flight until its response closes.
   */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const method = req.method ?? "GET";
    const ready = this.current === "ready";
    if (path === "/ready") {
      if (method !== "GET" && method !== "HEAD") {
        sendError(res, 405, { code: "REQUEST_INVALID", message: `use GET for /ready, not ${method}` }, { headers: { allow: "GET, HEAD" } });
      } else {
        sendJson(res, ready ? 200 : 503, { ready, phase: this.current }, { headers: ready ? {} : { "retry-after": String(this.retryAfterSeconds) }, close: this.current === "draining" });
      }
      return true;
    }
    const passes = ready || (this.current === "draining" && (path === "/health" || path === "/metrics"));
    if (!passes) {
      if (path === "/health" && (method === "GET" || method === "HEAD")) {
        sendJson(res, 200, { status: "ok", phase: this.current });
        return true;
      }
      const why = this.current === "loading" ? "is loading its knowledge base and model" : "is shutting down";
      const error = new SyncabelError("SERVER_NOT_READY", `this replica ${why}: retry in ${this.retryAfterSeconds} s (another replica may answer)`);
      // A request body may still be arriving: close the connection rather than read it.
      sendError(res, 503, { code: error.code, message: error.message }, { headers: { "retry-after": String(this.retryAfterSeconds) }, close: true });
      return true;
    }
    this.inFlight++;
    res.once("close", () => {
      if (--this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    });
    return false;
  }
}

/** A listener that answers only through `replica` (probes, 503s) while the KB and model load. */
export interface LoadingListener {
  readonly server: Server;
  readonly host: string;
  /** The port bound (the real one when 0 was asked): the link server takes it over. */
  readonly port: number;
  /** Stop listening and cut its connections (its replies all close them), so the link server can bind the port. */
  close(): Promise<void>;
}

/** Listen on host:port while loading; every request is answered by `replica` (probes, 503 + Retry-After). */
export async function listenWhileLoading(replica: Replica, host: string, port: number): Promise<LoadingListener> {
  const server = createServer((req, res) => {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    if (!replica.handle(req, res, q < 0 ? raw : raw.slice(0, q))) {
      // Only a ready replica lets requests through, and this listener is closed before it is marked ready.
      sendError(res, 503, { code: "SERVER_NOT_READY", message: "this replica is not ready" }, { close: true });
    }
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => reject(new SyncabelError("IO_ERROR", `cannot listen on ${host}:${port}: ${e.code ?? e.message}`, { host, port }, { cause: e }));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
