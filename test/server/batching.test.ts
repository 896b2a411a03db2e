/**
 * Dynamic batching and the server's protection against one client: merged batches routed back in order, a big
 * request that cannot hold the model from a small one, a per-request work bound, cancelled work of clients that
 * hang up, bodies read before a linking slot is taken. Real HTTP on 127.0.0.1, a real tiny Llama behind a
 * recorder that only notes what reaches the linker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLinker } from "../../src/linker/open.js";
import { sampleSentences } from "../../src/linker/sample.js";
import type { Linker, LinkerKind, LinkOptions, LinkResult, MentionQuery, SampleOptions, SampleResult } from "../../src/linker/types.js";
import { startLinkServer, type LinkServer } from "../../src/server/index.js";
import { buildKbFromRows } from "../support/kb.js";
import { makeTinyModel } from "../support/tiny-model.js";
import { waitFor } from "../support/wait.js";

const ROWS: [string, string, string][] = [
  ["100", "embolia pulmonar", "ENFERMEDAD"],
  ["200", "edema pulmonar", "ENFERMEDAD"],
  ["300", "neumonía", "ENFERMEDAD"],
  ["400", "tos", "SINTOMA"],
  ["401", "tos seca", "SINTOMA"],
  ["402", "fiebre", "SINTOMA"],
];

/** Distinct one-mention sentences. */
function sentence(i: number): string {
  return i % 2 === 0 ? `Caso ${i}: paciente con [embolia pulmonar]{ENFERMEDAD} y tos.` : `Caso ${i}: refiere [tos seca]{SINTOMA} desde ayer.`;
}

/** Passes every call to the real linker and records which sentences reached it, per call. */
class RecordingLinker implements Linker {
  readonly kind: LinkerKind;
  readonly calls: string[][] = [];
  /** How each call ended: "ok" or the error code it rejected with. */
  readonly outcomes: string[] = [];
  private waiters: (() => boolean)[] = [];
  constructor(private readonly inner: Linker) {
    this.kind = inner.kind;
  }
  /** Resolves once `n` calls have started. */
  callsStarted(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) =>
      this.waiters.push(() => {
        if (this.calls.length < n) return false;
        resolve();
        return true;
      }),
    );
  }
  get sentences(): number {
    return this.calls.reduce((n, c) => n + c.length, 0);
  }
  link(queries: readonly MentionQuery[], options?: LinkOptions): Promise<LinkResult[]> {
    this.calls.push(queries.map((q) => q.marked));
    this.waiters = this.waiters.filter((w) => !w());
    const run = this.inner.link(queries, options);
    run.then(
      () => this.outcomes.push("ok"),
      (e: { code?: string }) => this.outcomes.push(e.code ?? "error"),
    );
    return run;
  }
  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const post = (url: string, body: unknown, init: RequestInit = {}): Promise<Response> =>
  fetch(`${url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init });

let work: string;
let kbPath: string;
let model: { dir: string; cleanup: () => void };
let generative: Linker;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-batching-"));
  kbPath = await buildKbFromRows(work, ROWS);
  model = await makeTinyModel({ seed: 3 });
  generative = await openLinker({ kb: kbPath, model: model.dir, language: "es", threads: 1 });
});
afterAll(async () => {
  await generative?.close();
  model?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

async function withServer(options: Parameters<typeof startLinkServer>[1], fn: (server: LinkServer, linker: RecordingLinker) => Promise<void>): Promise<void> {
  const linker = new RecordingLinker(generative);
  const server = await startLinkServer(linker, { port: 0, ...options });
  try {
    await fn(server, linker);
  } finally {
    await server.close();
  }
}

const DECODE = { num_beams: 2, max_new_tokens: 12 };

describe("dynamic batching", () => {
  it("merges sentences of concurrent one-sentence requests into batches and routes each result back", async () => {
    const inputs = Array.from({ length: 8 }, (_, i) => sentence(i));
    // Reference: each sentence linked alone, straight through the library.
    const alone: SampleResult[] = [];
    for (const s of inputs) alone.push((await generative.sample([s], DECODE))[0]);

    await withServer({ batchSize: 4, batchWaitMs: 20 }, async (server, linker) => {
      const replies = await Promise.all(inputs.map((s) => post(server.url, { sentences: [s], ...DECODE })));
      const results = await Promise.all(replies.map(async (r) => ((await r.json()) as { results: SampleResult[] }).results));
      results.forEach((r, i) => {
        expect(r).toHaveLength(1);
        expect(r[0].sentence).toBe(inputs[i]);
        expect(r[0].beams!.map((b) => [b.pred_concept_name, b.pred_concept_code])).toEqual(alone[i].beams!.map((b) => [b.pred_concept_name, b.pred_concept_code]));
        r[0].beams!.forEach((b, k) => expect(b.beam_score).toBeCloseTo(alone[i].beams![k].beam_score, 4));
      });
      // 8 requests reached the model in fewer, fuller calls, never above the batch size.
      expect(linker.sentences).toBe(8);
      expect(Math.max(...linker.calls.map((c) => c.length))).toBeGreaterThan(1);
      expect(Math.max(...linker.calls.map((c) => c.length))).toBeLessThanOrEqual(4);
      expect(linker.calls.length).toBeLessThan(8);
      // The batch-size histogram counts exactly those calls.
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain(`syncabel_batch_sentences_count ${linker.calls.length}`);
      expect(metrics).toContain(`syncabel_batch_sentences_sum 8`);
    });
  });

  it("with batching off, requests take turns: one request's sentences per call", async () => {
    await withServer({ batchSize: 4, batching: false }, async (server, linker) => {
      await Promise.all(Array.from({ length: 6 }, (_, i) => post(server.url, { sentences: [sentence(i)], ...DECODE })));
      expect(linker.calls.map((c) => c.length)).toEqual([1, 1, 1, 1, 1, 1]);
    });
  });

  it("a one-sentence request is answered while a big request is still being linked (round-robin batches)", async () => {
    await withServer({ batchSize: 2 }, async (server, linker) => {
      const big = Array.from({ length: 20 }, (_, i) => sentence(i));
      const order: string[] = [];
      const bigDone = post(server.url, { sentences: big, ...DECODE }).then((r) => (order.push("big"), r));
      await linker.callsStarted(1);
      const small = await post(server.url, { sentences: [sentence(99)], ...DECODE });
      order.push("small");
      expect(small.status).toBe(200);
      expect((await bigDone).status).toBe(200);
      expect(order).toEqual(["small", "big"]);
      // The small request's sentence shared a batch soon after it arrived, long before the big request's end.
      const at = linker.calls.findIndex((c) => c.includes(sentence(99)));
      expect(at).toBeLessThanOrEqual(3);
      expect(linker.calls.length).toBeGreaterThan(at + 5);
    });
  });

  it("rejects a request whose sentences x beams x tokens exceed maxRequestWork with 413, before the model", async () => {
    await withServer({ maxRequestWork: 256 * 5 * 128 }, async (server, linker) => {
      // The case of the issue: 256 sentences x 20 beams x 256 tokens held the model for 130 s.
      const res = await post(server.url, { sentences: Array.from({ length: 256 }, (_, i) => sentence(i)), num_beams: 20, max_new_tokens: 256 });
      expect(res.status).toBe(413);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe("REQUEST_TOO_LARGE");
      expect(error.message).toMatch(/256 sentences x 20 beams x 256 new tokens = 1310720.*at most 163840/);
      expect(linker.calls).toHaveLength(0);
      // Within the bound: answered.
      expect((await post(server.url, { sentences: [sentence(1)], ...DECODE })).status).toBe(200);
    });
  });

  it("drops the queued sentences of a client that disconnects", async () => {
    const lines: string[] = [];
    await withServer({ batchSize: 1, log: (l) => lines.push(l) }, async (server, linker) => {
      const big = Array.from({ length: 40 }, (_, i) => sentence(i));
      const abort = new AbortController();
      const request = post(server.url, { sentences: big, ...DECODE }, { signal: abort.signal }).catch((e: Error) => e);
      await linker.callsStarted(1);
      abort.abort();
      expect(await request).toBeInstanceOf(Error);
      await waitFor(() => lines.find((l) => / POST \/v1\/link aborted 40 sentences /.test(l)), 10_000);
      // Let a batch already on the model finish; nothing else may follow.
      const metricsText = async (): Promise<string> => (await fetch(`${server.url}/metrics`)).text();
      expect(await metricsText()).toMatch(/^syncabel_queue_sentences 0$/m);
      const reached = linker.sentences;
      await new Promise((r) => setTimeout(r, 300));
      expect(linker.sentences).toBe(reached);
      expect(reached).toBeLessThan(10);
      const dropped = Number(/syncabel_sentences_dropped_total (\d+)/.exec(await metricsText())![1]);
      expect(dropped + reached).toBe(40);
      // The server still serves.
      expect((await post(server.url, { sentences: [sentence(2)], ...DECODE })).status).toBe(200);
    });
  });

  it("stops a batch on the model between decoding steps once every request in it has hung up", async () => {
    await withServer({ batchSize: 16 }, async (server, linker) => {
      const abort = new AbortController();
      // Unconstrained, long answers: the random model decodes for many steps.
      const body = { sentences: Array.from({ length: 8 }, (_, i) => sentence(i)), num_beams: 2, constrained: false, max_new_tokens: 200 };
      const request = post(server.url, body, { signal: abort.signal }).catch((e: Error) => e);
      await linker.callsStarted(1);
      abort.abort();
      expect(await request).toBeInstanceOf(Error);
      await waitFor(() => linker.outcomes[0], 30_000);
      expect(linker.outcomes).toEqual(["INTERRUPTED"]);
      expect(linker.calls).toHaveLength(1);
    });
  });
});

/** Opens a connection, sends the headers of a POST /v1/link and part of its body, then stalls. */
function stalledUpload(port: number): { socket: Socket; reply: Promise<string> } {
  const socket = connect(port, "127.0.0.1");
  socket.write("POST /v1/link HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + '{"sentences": ["a');
  let data = "";
  const reply = new Promise<string>((resolve) => {
    socket.on("data", (d) => (data += d.toString()));
    socket.on("close", () => resolve(data));
    socket.on("error", () => resolve(data));
  });
  return { socket, reply };
}

describe("slow uploads", () => {
  it("four uploads that stop mid-body do not take the linking slots; they get 408 after the body timeout", async () => {
    const linker = await openLinker({ kb: kbPath });
    const server = await startLinkServer(linker, { port: 0, maxConcurrent: 4, bodyTimeoutMs: 800 });
    const uploads = Array.from({ length: 4 }, () => stalledUpload(server.port));
    try {
      await new Promise((r) => setTimeout(r, 100));
      const res = await post(server.url, { sentences: [sentence(1)] });
      expect(res.status).toBe(200);
      const replies = await Promise.all(uploads.map((u) => u.reply));
      for (const r of replies) {
        expect(r).toMatch(/^HTTP\/1\.1 408 /);
        expect(r).toContain('"code":"REQUEST_TIMEOUT"');
      }
    } finally {
      for (const u of uploads) u.socket.destroy();
      await server.close();
      await linker.close();
    }
  });
});
