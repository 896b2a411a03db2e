/**
 * `serve` as a replica: /health and /ready while loading, ready, and draining on SIGTERM. Real HTTP; the SIGTERM
 * test runs the real CLI in a child process and holds requests in flight with `Expect: 100-continue` (the server
 * answers 100 Continue as it hands the request to its handler, so the client knows the request is in flight).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve } from "../../src/cli/commands/serve.js";
import { openLinker } from "../../src/linker/open.js";
import type { SampleResult } from "../../src/linker/types.js";
import { CLI_CHILD } from "../support/cli-child.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";
import { waitFor, waitForAsync } from "../support/wait.js";

const TOKEN = "replica-token-123";
let work: string;
let kbDir: string;
let kbPath: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-replica-"));
  kbDir = mkdtempSync(join(work, "kb-"));
  const rows = ["100\tembolia pulmonar\tENFERMEDAD", "200\tedema pulmonar\tENFERMEDAD", "400\ttos\tSINTOMA", "401\ttos seca\tSINTOMA", "402\tfiebre\tSINTOMA"];
  kbPath = await buildKbFromRows(kbDir, rows, join(kbDir, "kb.sqlite"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SENTENCES = ["Refiere [tos seca]{SINTOMA} y fiebre.", "Presenta [edema pulmonar]{ENFERMEDAD}.", "Acude por [fiebre]{SINTOMA}."];

/** What the library answers for these sentences (the independent path). */
async function expectedResults(sentences: readonly string[]): Promise<unknown> {
  const linker = await openLinker({ kb: kbPath });
  try {
    return JSON.parse(JSON.stringify(await linker.sample(sentences, { num_beams: 2 })));
  } finally {
    await linker.close();
  }
}

function link(url: string, sentences: readonly string[], token?: string): Promise<Response> {
  return fetch(`${url}/v1/link`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ sentences, num_beams: 2 }),
  });
}

describe("serve as a replica: loading and ready", () => {
  it("answers /health at once, /ready 503 and other routes 503 + Retry-After until the KB and linker are loaded", async () => {
    const { io, out } = captureIO();
    const stop = new AbortController();
    let during: Record<string, unknown> | undefined;
    const exit = serve(["--kb", kbPath, "--port", "0", "--token", TOKEN], io, {
      signal: stop.signal,
      handleSignals: false,
      env: {},
      beforeLoad: async (url) => {
        const health = await fetch(`${url}/health`);
        const ready = await fetch(`${url}/ready`);
        const linked = await link(url, SENTENCES, TOKEN);
        during = {
          health: health.status,
          healthBody: await health.json(),
          ready: ready.status,
          readyBody: await ready.json(),
          readyRetry: ready.headers.get("retry-after"),
          link: linked.status,
          linkRetry: linked.headers.get("retry-after"),
          linkError: ((await linked.json()) as { error: { code: string } }).error.code,
        };
      },
    });
    const url = await waitFor(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out())?.[1]);
    expect(during).toEqual({
      health: 200,
      healthBody: { status: "ok", phase: "loading" },
      ready: 503,
      readyBody: { ready: false, phase: "loading" },
      readyRetry: "1",
      link: 503,
      linkRetry: "1",
      linkError: "SERVER_NOT_READY",
    });
    // Loaded: ready (no token needed for the probes), and linking with the token.
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, phase: "ready" });
    expect((await link(url, SENTENCES)).status).toBe(401);
    const ok = await link(url, SENTENCES, TOKEN);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { results: SampleResult[] }).results).toEqual(await expectedResults(SENTENCES));
    stop.abort();
    expect(await exit).toBe(0);
  });

  it("two replicas over one KB file answer alike and leave the file as it was (read-only)", async () => {
    const digest = (): string => createHash("sha256").update(readFileSync(kbPath)).digest("hex");
    const before = { digest: digest(), files: readdirSync(kbDir).sort() };
    const replicas = [0, 1].map(() => {
      const c = captureIO();
      const stop = new AbortController();
      return { c, stop, exit: serve(["--kb", kbPath, "--port", "0"], c.io, { signal: stop.signal, handleSignals: false, env: {} }) };
    });
    const urls = await Promise.all(replicas.map((r) => waitFor(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(r.c.out())?.[1])));
    // Sentence k goes to replica k % 2, as a balancer would spread them: the answers are those of the library.
    const answers = await Promise.all(SENTENCES.map(async (s, k) => ((await (await link(urls[k % 2] as string, [s])).json()) as { results: SampleResult[] }).results[0]));
    expect(answers).toEqual(await expectedResults(SENTENCES));
    for (const r of replicas) r.stop.abort();
    for (const r of replicas) expect(await r.exit).toBe(0);
    expect({ digest: digest(), files: readdirSync(kbDir).sort() }).toEqual(before);
  });
});

/** A POST /v1/link sent up to its body, held in flight: resolves once the server said 100 Continue. */
async function heldRequest(port: number, sentences: readonly string[]): Promise<{ finish(): Promise<{ status: number; body: string }>; socket: Socket }> {
  const body = Buffer.from(JSON.stringify({ sentences, num_beams: 2 }));
  const socket = connect(port, "127.0.0.1");
  let received = "";
  socket.on("data", (b: Buffer) => (received += b.toString("latin1")));
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.write(`POST /v1/link HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  await waitFor(() => (received.includes("100 Continue") ? true : undefined), 60_000);
  socket.write(body.subarray(0, 10)); // part of the body: the handler is reading it
  return {
    socket,
    finish: async () => {
      socket.end(body.subarray(10));
      await closed;
      const reply = received.slice(received.indexOf("\r\n\r\n") + 4);
      const status = Number(/HTTP\/1\.1 (\d{3})/.exec(reply)?.[1]);
      return { status, body: reply.slice(reply.indexOf("\r\n\r\n") + 4) };
    },
  };
}

describe("serve as a replica: SIGTERM drains (real CLI in a child process)", () => {
  it("answers every request in flight, turns /ready to 503 and refuses new requests with 503 + Retry-After, then exits 0", async () => {
    // The library's answers, computed before: the held requests must finish within the body timeout (10 s).
    const expected = await Promise.all([0, 1, 2].map((k) => expectedResults(SENTENCES.slice(k))));
    const expectedHeld = await Promise.all([0, 1, 2].map((k) => expectedResults(SENTENCES.slice(0, 1 + k))));
    const child = spawn(process.execPath, ["--import", "tsx", CLI_CHILD, "serve", "--kb", kbPath, "--port", "0", "--shutdown-grace", "60"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      // Generous bounds: a shared, loaded machine can take long to start a child (they bound waiting, not speed).
      const port = Number(await waitFor(() => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1], 240_000));
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/ready`)).status).toBe(200);
      // Requests in flight: four held mid-body, and a burst of complete ones racing the signal. The held bodies
      // must arrive within the server's body timeout (10 s): they are finished right after the drain checks.
      const held = await Promise.all([0, 1, 2, 3].map((k) => heldRequest(port, SENTENCES.slice(0, 1 + (k % 3)))));
      const burst = Array.from({ length: 12 }, (_, k) => link(url, SENTENCES.slice(k % 3)).then(async (r) => ({ status: r.status, retry: r.headers.get("retry-after"), body: await r.json() })));
      child.kill("SIGTERM");
      // Draining: /ready 503 with Retry-After; a new request 503 SERVER_NOT_READY with Retry-After.
      const notReady = await waitForAsync(async () => {
        const r = await fetch(`${url}/ready`);
        return r.status === 503 ? r : undefined;
      }, 60_000);
      const refused = await link(url, SENTENCES);
      expect((await fetch(`${url}/health`)).status).toBe(200); // alive while draining
      // The held requests finish after the signal: every one answered 200 with the library's results.
      const replies = await Promise.all(held.map((h) => h.finish()));
      expect(notReady.headers.get("retry-after")).toBe("1");
      expect(await notReady.json()).toEqual({ ready: false, phase: "draining" });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("SERVER_NOT_READY");
      for (const [k, reply] of replies.entries()) {
        expect(reply.status).toBe(200);
        expect((JSON.parse(reply.body) as { results: unknown }).results).toEqual(expectedHeld[k % 3]);
      }
      // The burst: each request answered, 200 with the library's results or 503 + Retry-After; none dropped.
      for (const [k, r] of (await Promise.all(burst)).entries()) {
        if (r.status === 200) expect((r.body as { results: unknown }).results).toEqual(expected[k % 3]);
        else expect([r.status, r.retry]).toEqual([503, "1"]);
      }
      expect(await exited).toBe(0);
      expect(err).toMatch(/shutting down: \d+ request\(s\) in flight finish/);
      expect(Number(/shutting down: (\d+) request/.exec(err)?.[1])).toBeGreaterThanOrEqual(4);
    } finally {
      child.kill("SIGKILL");
    }
  }, 400_000);

  it("cuts what is left in flight once --shutdown-grace has passed (exit 1)", async () => {
    const { io, out, err } = captureIO();
    const stop = new AbortController();
    const exit = serve(["--kb", kbPath, "--port", "0", "--shutdown-grace", "1"], io, { signal: stop.signal, handleSignals: false, env: {} });
    const port = Number(await waitFor(() => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out())?.[1]));
    const held = await heldRequest(port, SENTENCES);
    const closed = new Promise<void>((resolve) => held.socket.on("close", () => resolve()));
    const started = Date.now();
    stop.abort();
    expect(await exit).toBe(1);
    await closed;
    const seconds = (Date.now() - started) / 1000;
    expect(seconds).toBeGreaterThanOrEqual(0.9);
    expect(err()).toMatch(/the 1 s bound passed; 1 request\(s\) still in flight were cut/);
  });
});
