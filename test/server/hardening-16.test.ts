/**
 * Regression tests of issue 16 (server), over real sockets: the Host check of a server without a token (DNS
 * rebinding), idle connections closed after the header timeout, deeply nested JSON answered 400, every export
 * fragment checked, and /health answered while a long document is being linked.
 */
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { serve } from "../../src/cli/commands/serve.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { cleanText } from "../../src/markup/clean.js";
import { segmentSentences } from "../../src/markup/segment.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { openLinker } from "../../src/linker/open.js";
import type { Linker } from "../../src/linker/types.js";
import { startLinkServer, type LinkServer, type ServerOptions } from "../../src/server/index.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";
import { waitFor } from "../support/wait.js";

let work: string;
let kbPath: string;
let kb: KnowledgeBase;
let linker: Linker;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-server-16-"));
  kbPath = await buildKbFromRows(work, [["100", "embolia pulmonar", "ENFERMEDAD"], ["400", "tos", "SINTOMA"], ["402", "fiebre", "SINTOMA"]]);
  linker = await openLinker({ kb: kbPath });
  kb = openKnowledgeBase(kbPath);
});
afterAll(async () => {
  kb.close();
  await linker.close();
  rmSync(work, { recursive: true, force: true });
});

const servers: LinkServer[] = [];
async function start(options: ServerOptions = {}): Promise<LinkServer> {
  const server = await startLinkServer(linker, { port: 0, kb, ...options });
  servers.push(server);
  return server;
}
afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of servers.splice(0)) await s.close(100);
});

/** A request with a chosen Host header (fetch cannot set it). */
function send(server: LinkServer, path: string, options: { host?: string; method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const req = request(
      {
        host: "127.0.0.1",
        port: server.port,
        path,
        method: options.method ?? (body === undefined ? "GET" : "POST"),
        headers: { ...(options.host === undefined ? {} : { host: options.host }), ...(body === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const LINK = { sentences: ["Refiere [tos]{SINTOMA}."] };

describe("Host check without a token", () => {
  it("answers 403 to another site's name (DNS rebinding) on every route but /health, 200 to this server's names", async () => {
    const server = await start();
    const evil = "rebind.attacker.example";
    expect((await send(server, "/health", { host: evil })).status).toBe(200); // probes come with any Host; it tells nothing
    for (const [path, body] of [["/v1/info", undefined], ["/v1/concept/100", undefined], ["/v1/link", LINK], ["/", undefined], ["/metrics", undefined]] as const) {
      const r = await send(server, path, { host: `${evil}:${server.port}`, body });
      expect(r.status, path).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe("REQUEST_HOST_NOT_ALLOWED");
    }
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `[::1]:${server.port}`, "LOCALHOST", `127.0.0.1`]) {
      expect((await send(server, "/v1/info", { host })).status, host).toBe(200);
      expect((await send(server, "/v1/link", { host, body: LINK })).status, host).toBe(200);
    }
    expect((await send(server, "/v1/info", { host: "localhost.attacker.example" })).status).toBe(403);
    expect((await send(server, "/v1/info", { host: "127.0.0.1.nip.io" })).status).toBe(403);
  });

  it("admits the names of allowedHosts (--allowed-host) and skips the check when a token is required", async () => {
    const named = await start({ allowedHosts: ["annotate.lab.example"] });
    expect((await send(named, "/v1/info", { host: `annotate.lab.example:${named.port}` })).status).toBe(200);
    expect((await send(named, "/v1/info", { host: "other.lab.example" })).status).toBe(403);
    const token = "s3cret-token-16";
    const guarded = await start({ token });
    expect((await send(guarded, "/v1/info", { host: "proxy.example", headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await send(guarded, "/v1/info", { host: "proxy.example" })).status).toBe(401);
  });

  it("syncabel serve --allowed-host NAME", async () => {
    const { io, out } = captureIO();
    const stop = new AbortController();
    const exit = serve(["--kb", kbPath, "--port", "0", "--allowed-host", "annotate.lab.example"], io, { signal: stop.signal, handleSignals: false });
    const port = Number(await waitFor(() => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out())?.[1]));
    const at = { port } as LinkServer;
    expect((await send(at, "/v1/info", { host: "annotate.lab.example" })).status).toBe(200);
    expect((await send(at, "/v1/info", { host: "rebind.attacker.example" })).status).toBe(403);
    stop.abort();
    expect(await exit).toBe(0);
  });
});

describe("idle connections", () => {
  it("closes sockets that never send a byte after the header timeout; requests still work", async () => {
    const server = await start({ requestTimeoutMs: 1000 });
    const sockets: Socket[] = [];
    const closed = Array.from({ length: 20 }, () => {
      // Flowing, so that the server's FIN is read and "close" follows (a paused socket may never see it).
      const socket = connect(server.port, "127.0.0.1").resume();
      sockets.push(socket);
      return new Promise<void>((resolve) => socket.on("close", () => resolve()));
    });
    const all = Promise.all(closed).then(() => "closed" as const);
    // Far past the 1 s timeout (and Node's checking interval), on a shared machine.
    const outcome = await Promise.race([all, new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 15_000))]);
    for (const s of sockets) s.destroy();
    expect(outcome).toBe("closed");
    expect((await send(server, "/v1/link", { body: LINK })).status).toBe(200);
  }, 30_000);
});

describe("deeply nested JSON", () => {
  it("answers 400 instead of a stack overflow (500) on /v1/link and /v1/export; brackets inside strings do not count", async () => {
    const server = await start();
    const deep = (n: number): string => `${"[".repeat(n)}${"]".repeat(n)}`;
    const post = (path: string, raw: string): Promise<{ status: number; body: string }> => send(server, path, { raw });
    for (const field of ["num_beams", "constrained"]) {
      const r = await post("/v1/link", `{"sentences": ["Refiere [tos]{SINTOMA}."], "${field}": ${deep(200_000)}}`);
      expect(r.status, field).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe("REQUEST_INVALID");
    }
    const exported = await post("/v1/export", `{"format": "jsonl", "document": {"id": "d", "text": "tos", "mentions": [{"id": "m", "label": "SINTOMA", "fragments": [[0, 3]], "beams": [{"mention": ${deep(200_000)}}]}]}}`);
    expect(exported.status).toBe(400);
    const inString = await post("/v1/link", JSON.stringify({ sentences: [`Refiere ${"[".repeat(100)} [tos]{SINTOMA}.`] }));
    expect(inString.status).toBe(200);
  });
});

describe("POST /v1/export", () => {
  it("checks every fragment against the text, not only the last one", async () => {
    const server = await start();
    const doc = (fragments: number[][]) => ({ format: "brat", document: { id: "d", text: "tos", mentions: [{ id: "m", label: "SINTOMA", fragments }] } });
    for (const fragments of [[[1, 999_999], [0, 1]], [[0, 2], [1, 3]], [[2, 3], [0, 1]]]) {
      const r = await send(server, "/v1/export", { body: doc(fragments) });
      expect(r.status, JSON.stringify(fragments)).toBe(400);
    }
    const ok = await send(server, "/v1/export", { body: doc([[0, 1], [2, 3]]) });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("T1\tSINTOMA 0 1;2 3\tt s");
  });
});

describe("a long document job", () => {
  it("does not hold /health: some /health answers are sent while the document is being segmented", async () => {
    const server = await start({ maxDocumentBytes: 8 * 2 ** 20 });
    const spy = vi.spyOn(Intl.Segmenter.prototype, "segment");
    const text = "Refiere tos y fiebre desde ayer. Se sospecha embolia pulmonar. ".repeat(20_000); // 1.3 MB, one line
    const at = text.lastIndexOf("fiebre");
    let done = false;
    const job = fetch(`${server.url}/v1/link-document`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ document: { id: "long", text, language: "es" }, mentions: [{ id: "m1", label: "SINTOMA", fragments: [[at, at + 6]] }] }),
    }).then(async (r) => {
      done = true;
      return { status: r.status, body: (await r.json()) as { results: { sentence?: string }[] } };
    });
    const seen: number[] = []; // ICU windows segmented when each /health answer came back
    while (!done) {
      const r = await fetch(`${server.url}/health`);
      expect(r.status).toBe(200);
      await r.arrayBuffer();
      seen.push(spy.mock.calls.length);
    }
    const result = await job;
    expect(result.status).toBe(200);
    expect(result.body.results[0]?.sentence).toBe("Refiere tos y [fiebre]{SINTOMA} desde ayer.");
    const total = spy.mock.calls.length;
    expect(total).toBeGreaterThan(100);
    // Answered between two windows of the segmentation: neither before it started nor after it ended.
    expect(seen.some((n) => n > 0 && n < total)).toBe(true);
    // Segmented once: as many ICU windows as one segmentation of the text takes (the marked sentence reuses it).
    spy.mockClear();
    segmentSentences(cleanText(text), "es");
    expect(total).toBe(spy.mock.calls.length);
  }, 120_000);
});
