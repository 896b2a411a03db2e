import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLinker } from "../../src/linker/open.js";
import { sampleSentences } from "../../src/linker/sample.js";
import type { Linker, LinkOptions, LinkResult, MentionQuery, SampleOptions, SampleResult } from "../../src/linker/types.js";
import { isLoopbackHost, startLinkServer, type LinkServer, type ServerOptions } from "../../src/server/index.js";
import { makeTinyModel } from "../support/tiny-model.js";
import { buildKbFromRows } from "../support/kb.js";

const ROWS: [string, string, string][] = [
  ["100", "embolia pulmonar", "ENFERMEDAD"],
  ["100", "tromboembolismo pulmonar", "ENFERMEDAD"],
  ["200", "edema pulmonar", "ENFERMEDAD"],
  ["300", "neumonía", "ENFERMEDAD"],
  ["301", "neumonía bacteriana", "ENFERMEDAD"],
  ["400", "tos", "SINTOMA"],
  ["401", "tos seca", "SINTOMA"],
  ["402", "fiebre", "SINTOMA"],
  ["500", "radiografía de tórax", "PROCEDIMIENTO"],
];

const SENTENCES = [
  "Paciente con [embolia pulmonar masiva]{ENFERMEDAD} y tos.",
  "Refiere [tos seca]{SINTOMA} desde ayer.",
  "Presenta [fiebre] sin grupo.", // malformed: no {GROUP}
  "Se solicita [radiografía de tórax]{PROCEDIMIENTO} urgente.",
  "Cuadro de [neumonía]{ENFERMEDAD} basal.",
];

let work: string;
let kbPath: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-server-"));
  kbPath = join(work, "kb.sqlite");
  await buildKbFromRows(work, ROWS, kbPath);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init });
}

async function expectError(res: Response, status: number, code: string): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error.message;
}

describe("link server over the TF-IDF linker", () => {
  let linker: Linker;
  let server: LinkServer;
  const lines: string[] = [];
  beforeAll(async () => {
    linker = await openLinker({ kb: kbPath });
    server = await startLinkServer(linker, { port: 0, maxBodyBytes: 64 * 1024, maxSentences: 6, maxSentenceChars: 500, log: (l) => lines.push(l) });
  });
  afterAll(async () => {
    await server.close();
    await linker.close();
  });

  it("binds to 127.0.0.1 by default and reports the real port", () => {
    const address = server.server.address();
    expect(address).toMatchObject({ address: "127.0.0.1", port: server.port });
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it("answers /health with the linker kind", async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", linker: "tfidf" });
  });

  it("returns what linker.sample returns for the same sentences, in order, a malformed sentence erroring alone", async () => {
    const res = await postJson(server.url, { sentences: SENTENCES, num_beams: 3 });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: SampleResult[] };
    const direct = await linker.sample(SENTENCES, { num_beams: 3 });
    expect(results).toEqual(JSON.parse(JSON.stringify(direct)));
    expect(results.map((r) => r.sentence)).toEqual(SENTENCES);
    expect(results[2].error?.code).toBe("MARKUP_NO_GROUP");
    for (const i of [0, 1, 3, 4]) expect(results[i].beams!.length).toBeGreaterThan(0);
    // An exact KB name comes back first with its own code (independent of the linker: the terminology rows).
    expect(results[1].beams![0]).toMatchObject({ pred_concept_name: "tos seca", pred_concept_code: "401", semantic_group: "SINTOMA" });
    expect(results[3].beams![0].pred_concept_code).toBe("500");

    const reversed = [...SENTENCES].reverse();
    const back = (await (await postJson(server.url, { sentences: reversed, num_beams: 3 })).json()) as { results: SampleResult[] };
    expect(back.results).toEqual([...results].reverse());
  });

  it("gives an over-long sentence its own error and links the rest", async () => {
    const long = `Paciente con [tos]{SINTOMA} ${"y más texto ".repeat(60)}`;
    const res = await postJson(server.url, { sentences: [SENTENCES[0], long] });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: SampleResult[] };
    expect(results[0].beams?.[0].pred_concept_code).toBe("100");
    expect(results[1]).toMatchObject({ sentence: long, error: { code: "REQUEST_TOO_LARGE" } });
  });

  it("rejects a body over maxBodyBytes with 413, declared or streamed without end", async () => {
    const big = { sentences: [`[tos]{SINTOMA} ${"x".repeat(200 * 1024)}`] };
    await expectError(await postJson(server.url, big), 413, "REQUEST_TOO_LARGE");
    // An endless chunked body (no Content-Length): only a server that stops reading can answer at all.
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 16 * 1024;
        controller.enqueue(new TextEncoder().encode(" ".repeat(16 * 1024)));
      },
    });
    const res = await fetch(`${server.url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: endless, duplex: "half" } as RequestInit);
    await expectError(res, 413, "REQUEST_TOO_LARGE");
    expect(sent).toBeGreaterThan(64 * 1024);
    // The server still serves afterwards.
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it("rejects too many sentences and num_beams over the maximum with 413", async () => {
    const seven = Array.from({ length: 7 }, () => SENTENCES[0]);
    expect(await expectError(await postJson(server.url, { sentences: seven }), 413, "REQUEST_TOO_LARGE")).toMatch(/at most 6/);
    expect(await expectError(await postJson(server.url, { sentences: [SENTENCES[0]], num_beams: 21 }), 413, "REQUEST_TOO_LARGE")).toMatch(/num_beams/);
    expect((await postJson(server.url, { sentences: [SENTENCES[0]], num_beams: 20 })).status).toBe(200);
  });

  it("rejects bad JSON and wrong types with 400 REQUEST_INVALID", async () => {
    const raw = (body: string) => fetch(`${server.url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body });
    await expectError(await raw('{"sentences": ["a"'), 400, "REQUEST_INVALID");
    await expectError(await raw(""), 400, "REQUEST_INVALID");
    await expectError(await raw("null"), 400, "REQUEST_INVALID");
    await expectError(await raw('["[tos]{SINTOMA}"]'), 400, "REQUEST_INVALID");
    const bad: unknown[] = [
      { sentences: "[tos]{SINTOMA}" },
      { sentences: [] },
      { sentences: [SENTENCES[0], 5] },
      { sentences: [SENTENCES[0], null] },
      { sentences: [SENTENCES[0]], num_beams: "3" },
      { sentences: [SENTENCES[0]], num_beams: 0 },
      { sentences: [SENTENCES[0]], num_beams: 2.5 },
      { sentences: [SENTENCES[0]], constrained: "yes" },
      { sentences: [SENTENCES[0]], max_new_tokens: -1 },
      { sentences: [SENTENCES[0]], num_beam: 3 },
      {},
    ];
    for (const body of bad) await expectError(await postJson(server.url, body), 400, "REQUEST_INVALID");
    expect(await expectError(await raw('{"sentences": ["[tos]{SINTOMA}"], "__proto__": {"x": 1}}'), 400, "REQUEST_INVALID")).toMatch(/__proto__/);
    // Invalid UTF-8 is not silently replaced.
    const res = await fetch(`${server.url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]) });
    await expectError(res, 400, "REQUEST_INVALID");
  });

  it("answers 415 for a non-JSON content type, 404 for unknown paths, 405 for wrong methods", async () => {
    const text = await fetch(`${server.url}/v1/link`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ sentences: [SENTENCES[0]] }) });
    await expectError(text, 415, "REQUEST_INVALID");
    const latin = await fetch(`${server.url}/v1/link`, { method: "POST", headers: { "content-type": "application/json; charset=latin1" }, body: "{}" });
    await expectError(latin, 415, "REQUEST_INVALID");
    const ok = await fetch(`${server.url}/v1/link?x=1`, { method: "POST", headers: { "content-type": "Application/JSON; charset=UTF-8" }, body: JSON.stringify({ sentences: [SENTENCES[1]] }) });
    expect(ok.status).toBe(200);
    await expectError(await fetch(`${server.url}/v2/link`), 404, "NOT_FOUND");
    await expectError(await fetch(`${server.url}/index.htm`), 404, "NOT_FOUND");
    const get = await fetch(`${server.url}/v1/link`);
    await expectError(get, 405, "REQUEST_INVALID");
    expect(get.headers.get("allow")).toBe("POST");
    await expectError(await fetch(`${server.url}/health`, { method: "POST" }), 405, "REQUEST_INVALID");
  });

  it("logs one terse line per request, led by its request id (the X-Request-Id header)", async () => {
    lines.length = 0;
    const first = await postJson(server.url, { sentences: SENTENCES.slice(0, 2) });
    const second = await fetch(`${server.url}/nope?secret=1`, { headers: { "x-request-id": "client-id-7" } });
    await new Promise((r) => setTimeout(r, 20));
    const id = first.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.headers.get("x-request-id")).toBe("client-id-7");
    expect(lines[0]).toMatch(new RegExp(`^${id} POST /v1/link 200 2 sentences \\d+ ms$`));
    expect(lines[1]).toMatch(/^client-id-7 GET \/nope 404 \d+ ms$/);
    expect(lines).toHaveLength(2);
  });
});

/** A linker whose `sample` waits until the test releases it; it answers with one fixed beam per sentence. */
class GateLinker implements Linker {
  readonly kind = "generative";
  calls = 0;
  private release: (() => void) | undefined;
  private entered: (() => void) | undefined;
  private gate = this.newGate();
  closed = false;
  private newGate(): Promise<void> {
    return new Promise<void>((r) => (this.release = r));
  }
  /** Resolves when the next `sample` call has started. */
  nextCall(): Promise<void> {
    return new Promise<void>((r) => (this.entered = r));
  }
  open(): void {
    this.release?.();
  }
  async link(queries: readonly MentionQuery[], options?: LinkOptions): Promise<LinkResult[]> {
    this.calls++;
    this.entered?.();
    await this.gate;
    return queries.map(() => ({
      beams: [{ mention: "m", semantic_group: "G", pred_concept_name: "n", pred_concept_code: String(options?.numBeams ?? 5), beam_score: 1, pred_concept_codes: [] }],
    }));
  }
  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

describe("link server concurrency and shutdown", () => {
  const body = { sentences: ["[a]{G}"], num_beams: 2 };

  it("answers 503 SERVER_BUSY with Retry-After past maxConcurrent, and serves again once free", async () => {
    const linker = new GateLinker();
    const server = await startLinkServer(linker, { port: 0, maxConcurrent: 1, retryAfterSeconds: 2 });
    try {
      const started = linker.nextCall();
      const first = postJson(server.url, body);
      await started;
      // Bounded wait: a server without the limit would queue this request behind the gate forever.
      const busy = await postJson(server.url, body, { signal: AbortSignal.timeout(3000) });
      await expectError(busy, 503, "SERVER_BUSY");
      expect(busy.headers.get("retry-after")).toBe("2");
      // /health is not a linking request: it still answers.
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      linker.open();
      const done = await first;
      expect(done.status).toBe(200);
      expect(((await done.json()) as { results: SampleResult[] }).results[0].beams?.[0].pred_concept_code).toBe("2");
      const again = await postJson(server.url, body);
      expect(again.status).toBe(200);
      expect(linker.calls).toBe(2);
    } finally {
      linker.open();
      await server.close();
    }
  });

  it("closes gracefully: stops accepting, lets the request in flight finish", async () => {
    const linker = new GateLinker();
    const server = await startLinkServer(linker, { port: 0 });
    const started = linker.nextCall();
    const inFlight = postJson(server.url, body);
    await started;
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    linker.open();
    expect((await inFlight).status).toBe(200);
    await closing;
    expect(closed).toBe(true);
    expect(linker.closed).toBe(false); // the caller owns the linker
  });
});

describe("link server over a generative linker (tiny random Llama)", () => {
  let model: { dir: string; cleanup: () => void };
  let linker: Linker;
  let server: LinkServer;
  beforeAll(async () => {
    model = await makeTinyModel({ seed: 5 });
    linker = await openLinker({ kb: kbPath, model: model.dir, language: "es", threads: 1 });
    server = await startLinkServer(linker, { port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await linker?.close();
    model?.cleanup();
  });

  it("links through HTTP: every beam is a KB name of the mention's group with its code", async () => {
    const sentences = [SENTENCES[0], SENTENCES[1], SENTENCES[2]];
    const res = await postJson(server.url, { sentences, num_beams: 2, max_new_tokens: 16 });
    expect(res.status).toBe(200);
    expect((await (await fetch(`${server.url}/health`)).json()) as unknown).toEqual({ status: "ok", linker: "generative" });
    const { results } = (await res.json()) as { results: SampleResult[] };
    expect(results.map((r) => r.sentence)).toEqual(sentences);
    expect(results[2].error?.code).toBe("MARKUP_NO_GROUP");
    const groups = ["ENFERMEDAD", "SINTOMA"];
    results.slice(0, 2).forEach((r, i) => {
      const beams = r.beams!;
      expect(beams).toHaveLength(2);
      for (const b of beams) {
        const row = ROWS.find(([, name, group]) => name === b.pred_concept_name && group === groups[i]);
        expect(row, `${b.pred_concept_name} is a ${groups[i]} name`).toBeDefined();
        expect(b.pred_concept_code).toBe(row![0]);
        expect(b.beam_score).toBeGreaterThan(0);
        expect(b.beam_score).toBeLessThanOrEqual(1);
      }
    });
  });
});

describe("options", () => {
  it("recognises loopback hosts", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "192.168.1.10", "example.org", "128.0.0.1"]) expect(isLoopbackHost(h)).toBe(false);
  });

  it("rejects nonsense server options before listening", async () => {
    const linker = new GateLinker();
    const bad: ServerOptions[] = [{ maxConcurrent: 0 }, { maxBodyBytes: -1 }, { port: 70000 }, { maxSentences: 1.5 }];
    for (const o of bad) await expect(startLinkServer(linker, o)).rejects.toThrow(/server option/);
  });
});
