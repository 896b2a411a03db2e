/**
 * Operations: bearer token (constant-time, every route but /health, cookie for the page), CORS off by default,
 * request ids, JSON logs, Prometheus metrics. Real HTTP on 127.0.0.1 over the TF-IDF linker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve } from "../../src/cli/commands/serve.js";
import { main } from "../../src/cli/main.js";
import { openLinker } from "../../src/linker/open.js";
import type { Linker } from "../../src/linker/types.js";
import { tokensEqual } from "../../src/server/access.js";
import { startLinkServer, type LinkServer } from "../../src/server/index.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";
import { waitFor } from "../support/wait.js";

const ROWS: [string, string, string][] = [
  ["400", "tos", "SINTOMA"],
  ["401", "tos seca", "SINTOMA"],
  ["402", "fiebre", "SINTOMA"],
];
const TOKEN = "s3cret-token-value";
const LINK = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sentences: ["Refiere [tos seca]{SINTOMA}."] }) };

let work: string;
let kbPath: string;
let linker: Linker;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-ops-"));
  kbPath = await buildKbFromRows(work, ROWS);
  linker = await openLinker({ kb: kbPath });
});
afterAll(async () => {
  await linker.close();
  rmSync(work, { recursive: true, force: true });
});

describe("bearer token", () => {
  let server: LinkServer;
  beforeAll(async () => {
    server = await startLinkServer(linker, { port: 0, token: TOKEN });
  });
  afterAll(() => server.close());

  it("is required on every route but /health", async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    for (const [path, init] of [
      ["/v1/link", LINK],
      ["/metrics", {}],
      ["/", {}],
      ["/app.js", {}],
      ["/v1/info", {}],
      ["/v1/concept/400", {}],
      ["/nope", {}],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, init as RequestInit);
      expect(res.status, path).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("REQUEST_UNAUTHORIZED");
    }
    const wrong = await fetch(`${server.url}/v1/link`, { ...LINK, headers: { ...LINK.headers, authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${server.url}/v1/link`, { ...LINK, headers: { ...LINK.headers, authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it("lets the web page in through GET /?token=T, which sets an HTTP-only same-site cookie", async () => {
    expect((await fetch(`${server.url}/?token=wrong-token-value`, { redirect: "manual" })).status).toBe(401);
    const enter = await fetch(`${server.url}/?token=${TOKEN}`, { redirect: "manual" });
    expect(enter.status).toBe(303);
    expect(enter.headers.get("location")).toBe("/");
    const cookie = enter.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const page = await fetch(`${server.url}/`, { headers: { cookie: cookie.split(";")[0] } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    expect(await page.text()).toMatch(/<script type="module" src="\/app.js">/);
  });

  it("compares tokens by content only", () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true);
    expect(tokensEqual(TOKEN, `${TOKEN} `)).toBe(false);
    expect(tokensEqual("", TOKEN)).toBe(false);
  });
});

describe("CORS", () => {
  it("is off by default and allows only the configured origin", async () => {
    const plain = await startLinkServer(linker, { port: 0 });
    const open = await startLinkServer(linker, { port: 0, corsOrigin: "http://tool.example" });
    try {
      const off = await fetch(`${plain.url}/v1/link`, { ...LINK, headers: { ...LINK.headers, origin: "http://tool.example" } });
      expect(off.status).toBe(200);
      expect(off.headers.get("access-control-allow-origin")).toBeNull();
      const preflightOff = await fetch(`${plain.url}/v1/link`, { method: "OPTIONS", headers: { origin: "http://tool.example", "access-control-request-method": "POST" } });
      expect(preflightOff.headers.get("access-control-allow-origin")).toBeNull();
      expect(preflightOff.status).toBe(405);

      const allowed = await fetch(`${open.url}/v1/link`, { method: "OPTIONS", headers: { origin: "http://tool.example", "access-control-request-method": "POST" } });
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get("access-control-allow-origin")).toBe("http://tool.example");
      expect(allowed.headers.get("access-control-allow-headers")).toMatch(/authorization/);
      const other = await fetch(`${open.url}/v1/link`, { ...LINK, headers: { ...LINK.headers, origin: "http://evil.example" } });
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await plain.close();
      await open.close();
    }
  });
});

describe("metrics", () => {
  it("counts requests, sentences, errors by code and latency in the Prometheus text format", async () => {
    const server = await startLinkServer(linker, { port: 0, maxSentences: 3 });
    try {
      const sentences = ["Refiere [tos seca]{SINTOMA}.", "Tiene [fiebre]{SINTOMA}.", "Sin [grupo]."];
      for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/v1/link`, { ...LINK, body: JSON.stringify({ sentences }) })).status).toBe(200);
      expect((await fetch(`${server.url}/v1/link`, { ...LINK, body: JSON.stringify({ sentences: [...sentences, ...sentences] }) })).status).toBe(413);
      expect((await fetch(`${server.url}/v1/link`, { ...LINK, body: "{" })).status).toBe(400);
      const res = await fetch(`${server.url}/metrics`);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const value = (line: string): number => {
        const m = new RegExp(`^${line.replace(/[{}"/+.]/g, "\\$&")} (\\S+)$`, "m").exec(text);
        if (m === null) throw new Error(`no metric line ${line}`);
        return Number(m[1]);
      };
      expect(value('syncabel_http_requests_total{route="/v1/link",status="200"}')).toBe(3);
      expect(value('syncabel_http_requests_total{route="/v1/link",status="413"}')).toBe(1);
      expect(value('syncabel_http_requests_total{route="/v1/link",status="400"}')).toBe(1);
      expect(value("syncabel_sentences_total")).toBe(6);
      expect(value('syncabel_errors_total{code="MARKUP_NO_GROUP"}')).toBe(3);
      expect(value('syncabel_errors_total{code="REQUEST_TOO_LARGE"}')).toBe(1);
      expect(value('syncabel_errors_total{code="REQUEST_INVALID"}')).toBe(1);
      expect(value("syncabel_queue_sentences")).toBe(0);
      // Histogram: cumulative buckets ending in +Inf = _count = the 5 link requests.
      const buckets = [...text.matchAll(/^syncabel_request_duration_seconds_bucket\{route="\/v1\/link",le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
      expect(buckets.length).toBeGreaterThan(5);
      buckets.slice(1).forEach((b, i) => expect(b).toBeGreaterThanOrEqual(buckets[i]));
      expect(buckets[buckets.length - 1]).toBe(5);
      expect(value('syncabel_request_duration_seconds_count{route="/v1/link"}')).toBe(5);
      for (const name of ["syncabel_http_requests_total", "syncabel_batch_sentences", "syncabel_requests_in_flight"]) expect(text).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    } finally {
      await server.close();
    }
  });
});

describe("syncabel serve operations flags", () => {
  it("refuses a non-loopback host without --token (usage error, exit 2)", async () => {
    const c = captureIO();
    expect(await main(["serve", "--kb", kbPath, "--host", "0.0.0.0", "--port", "0"], c.io)).toBe(2);
    expect(c.err()).toMatch(/--token/);
    const bad = captureIO();
    expect(await main(["serve", "--kb", kbPath, "--log-format", "xml"], bad.io)).toBe(2);
  });

  it("with --token on 0.0.0.0: JSON log lines with request ids, 401 without the token, --open prints the page URL", async () => {
    const { io, out, err } = captureIO();
    const stop = new AbortController();
    const exit = serve(["--kb", kbPath, "--host", "0.0.0.0", "--port", "0", "--token", TOKEN, "--log-format", "json", "--open"], io, { signal: stop.signal, handleSignals: false, env: {} });
    const port = await waitFor(() => /listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(out())?.[1]);
    expect(out()).toContain(`open http://0.0.0.0:${port}/?token=${TOKEN}`);
    const url = `http://127.0.0.1:${port}`;
    expect((await fetch(`${url}/v1/link`, LINK)).status).toBe(401);
    const ok = await fetch(`${url}/v1/link`, { ...LINK, headers: { ...LINK.headers, authorization: `Bearer ${TOKEN}`, "x-request-id": "abc-123" } });
    expect(ok.status).toBe(200);
    stop.abort();
    expect(await exit).toBe(0);
    const records = err()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ method: "POST", path: "/v1/link", status: "401" });
    expect(records[1]).toMatchObject({ request_id: "abc-123", method: "POST", path: "/v1/link", status: "200", sentences: 1 });
    for (const r of records) expect(typeof r.request_id).toBe("string");
  });
});
