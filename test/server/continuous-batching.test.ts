/**
 * Continuous batching behind the HTTP service: concurrent clients' sentences join the running decode between
 * steps (the model's `extend` is called), every result equals the sentence linked alone through the library, and
 * a client that hangs up mid-decode has its search dropped while the others finish. Real HTTP on 127.0.0.1, a
 * real tiny Llama on ONNX Runtime.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { GenerativeLinker } from "../../src/linker/generative-linker.js";
import type { SampleResult } from "../../src/linker/types.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer } from "../../src/lm/tokenizer.js";
import type { CausalLM } from "../../src/lm/types.js";
import { SentenceBatcher, startLinkServer } from "../../src/server/index.js";
import { queryOfSentence } from "../../src/data/mention-queries.js";
import { SyncabelError } from "../../src/errors.js";
import type { ContinuousLinker } from "../../src/linker/query-feed.js";
import { buildKbFromRows } from "../support/kb.js";
import { makeTinyModel } from "../support/tiny-model.js";

const ROWS: [string, string, string][] = [
  ["100", "embolia pulmonar", "ENFERMEDAD"],
  ["200", "edema pulmonar", "ENFERMEDAD"],
  ["300", "neumonía", "ENFERMEDAD"],
  ["301", "neumonía basal derecha", "ENFERMEDAD"],
  ["400", "tos", "SINTOMA"],
  ["401", "tos seca", "SINTOMA"],
  ["402", "fiebre", "SINTOMA"],
];

const SENTENCES = [
  "Caso 1: paciente con [embolia pulmonar]{ENFERMEDAD} y tos.",
  "Refiere [tos seca]{SINTOMA} desde ayer.",
  "Se diagnosticó [neumonía]{ENFERMEDAD} basal derecha tras varios días de fiebre y tos persistente en su domicilio habitual.",
  "[Fiebre]{SINTOMA}.",
  "Ingresa por [edema pulmonar]{ENFERMEDAD} agudo.",
  "Sin [tos]{SINTOMA}.",
];
const DECODE = { num_beams: 3, max_new_tokens: 12 };

/** The ONNX model with its calls counted (extend = a sentence joined a running decode). */
function counted(lm: OnnxCausalLM): { lm: CausalLM; calls: { prefill: number; extend: number; step: number } } {
  const calls = { prefill: 0, extend: 0, step: 0 };
  return {
    calls,
    lm: {
      vocabSize: lm.vocabSize,
      get forwardMs() {
        return lm.forwardMs;
      },
      prefill: (p, r) => (calls.prefill++, lm.prefill(p, r)),
      extend: (s, p, r) => (calls.extend++, lm.extend(s, p, r)),
      step: (s, pa, t, r) => (calls.step++, lm.step(s, pa, t, r)),
      dispose: () => lm.dispose(),
    },
  };
}

let work: string;
let model: { dir: string; cleanup: () => void };
let onnx: OnnxCausalLM;
let linker: GenerativeLinker;
let calls: { prefill: number; extend: number; step: number };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-continuous-"));
  const kbPath = await buildKbFromRows(work, ROWS);
  model = await makeTinyModel({ seed: 3 });
  onnx = await loadOnnxCausalLM(model.dir, { threads: 1 });
  const wrapped = counted(onnx);
  calls = wrapped.calls;
  linker = new GenerativeLinker({ kb: openKnowledgeBase(kbPath), lm: wrapped.lm, tokenizer: await loadTokenizer(model.dir), verb: "es" });
});
afterAll(async () => {
  await linker?.close();
  model?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const post = (url: string, body: unknown, init: RequestInit = {}): Promise<Response> =>
  fetch(`${url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init });

describe("continuous batching", () => {
  it("clients that keep sending join the running decode, and each gets what the sentence gets alone", async () => {
    const alone = new Map<string, SampleResult>();
    for (const s of SENTENCES) alone.set(s, (await linker.sample([s], DECODE))[0]);
    const server = await startLinkServer(linker, { port: 0, batching: "continuous", batchSize: 3, batchWaitMs: 0 });
    try {
      calls.extend = 0;
      // Four clients, each sending three sentences one after another: rows free up at different steps.
      const clients = [0, 1, 2, 3].map(async (c) => {
        const got: [string, SampleResult][] = [];
        for (let i = 0; i < 3; i++) {
          const s = SENTENCES[(c * 3 + i * 5) % SENTENCES.length];
          const res = await post(server.url, { sentences: [s], ...DECODE });
          expect(res.status).toBe(200);
          got.push([s, ((await res.json()) as { results: SampleResult[] }).results[0]]);
        }
        return got;
      });
      const replies = (await Promise.all(clients)).flat();
      expect(replies).toHaveLength(12);
      for (const [s, r] of replies) {
        const expected = alone.get(s)!;
        expect(r.sentence).toBe(s);
        expect(r.beams!.map((b) => [b.pred_concept_name, b.pred_concept_code])).toEqual(expected.beams!.map((b) => [b.pred_concept_name, b.pred_concept_code]));
        r.beams!.forEach((b, k) => expect(b.beam_score).toBeCloseTo(expected.beams![k].beam_score, 4));
      }
      expect(calls.extend).toBeGreaterThan(0);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const count = Number(/^syncabel_batch_sentences_count (\d+)$/m.exec(metrics)?.[1]);
      const sum = Number(/^syncabel_batch_sentences_sum (\d+)$/m.exec(metrics)?.[1]);
      expect(sum / count).toBeGreaterThan(1);
    } finally {
      await server.close();
    }
  });

  it("a bad sentence gets its own error, and a client that hangs up mid-decode does not disturb the others", async () => {
    const server = await startLinkServer(linker, { port: 0, batching: "continuous", batchSize: 4, batchWaitMs: 0 });
    try {
      const gone = new AbortController();
      const long = post(server.url, { sentences: [SENTENCES[2], SENTENCES[0], SENTENCES[4]], ...DECODE }, { signal: gone.signal }).catch(() => "aborted");
      const mixed = post(server.url, { sentences: ["no mention here", SENTENCES[1]], ...DECODE });
      const stepsBefore = calls.step;
      // Hang up once the model has started on the long request.
      while (calls.step === stepsBefore) await new Promise((r) => setTimeout(r, 2));
      gone.abort();
      expect(await long).toBe("aborted");
      const res = await mixed;
      expect(res.status).toBe(200);
      const results = ((await res.json()) as { results: SampleResult[] }).results;
      expect(results[0].error?.code).toMatch(/^MARKUP_/);
      expect(results[1].beams![0].pred_concept_code).toBe((await linker.sample([SENTENCES[1]], DECODE))[0].beams![0].pred_concept_code);
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe("continuous batcher failures", () => {
  it("a decode that fails before taking a sentence fails its head request, and the queue moves on", async () => {
    let runs = 0;
    const broken: ContinuousLinker = {
      kind: "generative",
      link: () => Promise.reject(new Error("not used")),
      sample: () => Promise.reject(new Error("not used")),
      linkContinuously: async () => {
        runs++;
        throw new SyncabelError("MODEL_RUNTIME", "the model cannot run");
      },
      close: async () => undefined,
    };
    const batcher = new SentenceBatcher(broken, { batchSize: 4, continuous: true, maxWaitMs: 0 });
    const outcomes = await Promise.allSettled([batcher.submit([queryOfSentence("a [x]{G}")], {}), batcher.submit([queryOfSentence("b [y]{G}")], {})]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected"]);
    for (const o of outcomes) expect((o as PromiseRejectedResult).reason.code).toBe("MODEL_RUNTIME");
    expect(runs).toBe(2);
    expect(batcher.queuedSentences).toBe(0);
  });
});
