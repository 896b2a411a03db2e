/**
 * Regression tests of issue 11 (linking side): cut beams are flagged (and, since issue 23, ranked by score among
 * the finished ones, as transformers ranks them), options are validated,
 * long runs report progress per mention and stop promptly on a signal, whatever the linker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Progress } from "../../src/io/progress.js";
import type { Dataset, Document } from "../../src/data/types.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { GenerativeLinker } from "../../src/linker/generative-linker.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { sampleSentences } from "../../src/linker/sample.js";
import { NO_CODE, type Linker, type LinkOptions, type LinkResult, type MentionQuery, type SampleOptions, type SampleResult } from "../../src/linker/types.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { buildKbFromRows } from "../support/kb.js";
import { makeTinyModel, openTinyModelKb, type TinyModelKb } from "../support/tiny-model.js";

const NAMES = ["diabetes", "diabetes mellitus", "diabetes mellitus tipo 2", "hipertensión arterial", "embolia pulmonar", "neumonía bacteriana", "insuficiencia cardiaca", "pancreatitis"];
const SENTENCES = [
  "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó disnea.",
  "Antecedentes de [diabetes]{ENFERMEDAD} mal controlada.",
  "Se diagnosticó [neumonía]{ENFERMEDAD} basal derecha.",
  "Ingresa por [insuficiencia cardiaca descompensada]{ENFERMEDAD}.",
];

describe("generative linker: cut beams, options, progress and interruption", () => {
  let setup: TinyModelKb;
  let kb: KnowledgeBase;
  let lm: OnnxCausalLM;
  let linker: GenerativeLinker;

  beforeAll(async () => {
    setup = await openTinyModelKb(5, NAMES.map((n, i) => `${300 + i}\t${n}\tENFERMEDAD`), 1);
    ({ kb, lm } = setup);
    linker = new GenerativeLinker({ kb, lm, tokenizer: setup.tokenizer, verb: "es", owns: false });
  });
  afterAll(async () => {
    await setup?.dispose();
  });

  it("beams cut by max_new_tokens say finished: false and rank among finished beams by score", async () => {
    for (const maxNew of [1, 2, 3, 128]) {
      const results = await linker.sample(SENTENCES, { num_beams: 6, max_new_tokens: maxNew });
      let cut = 0;
      for (const r of results) {
        const beams = r.beams ?? [];
        expect(beams.length).toBeGreaterThan(0);
        for (let i = 1; i < beams.length; i++) expect(beams[i].beam_score, `max_new_tokens ${maxNew}`).toBeLessThanOrEqual(beams[i - 1].beam_score);
        for (const b of beams) {
          // A finished beam is a complete KB name with its code; only a cut one may be a partial name.
          if (b.finished === undefined) expect(NAMES).toContain(b.pred_concept_name);
          if (b.pred_concept_code === NO_CODE) expect(b.finished).toBe(false);
          if (b.finished === false) cut++;
        }
      }
      if (maxNew === 1) expect(cut).toBeGreaterThan(0); // one token cannot end a name and its EOS
    }
  });

  it("max_prompt_tokens NaN (or a fraction) is an invalid option, not 'no limit'", async () => {
    await expect(linker.sample(SENTENCES, { max_prompt_tokens: Number.NaN })).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
    await expect(linker.sample(SENTENCES, { max_prompt_tokens: 2.5 })).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
  });

  it("reports each sentence as it ends, before the batch resolves", async () => {
    let done = 0;
    const results = await linker.sample([...SENTENCES, "sin marcas"], { num_beams: 2, batch_size: 8, onSentenceDone: () => done++ });
    expect(results).toHaveLength(5);
    expect(done).toBe(5);
  });

  it("an aborted signal stops decoding with INTERRUPTED", async () => {
    const controller = new AbortController();
    let done = 0;
    const run = linker.sample(SENTENCES, {
      num_beams: 4,
      batch_size: 1,
      signal: controller.signal,
      onSentenceDone: () => {
        if (++done === 1) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: "INTERRUPTED" });
    expect(done).toBe(1);
  });
});

/** A linker that works synchronously, like the TF-IDF one: it never awaits, so timers and signals wait. */
class BusyLinker implements Linker {
  readonly kind = "tfidf";
  readonly seen: LinkOptions[] = [];
  onFirstCall: (() => void) | undefined;
  async link(queries: readonly MentionQuery[], options: LinkOptions = {}): Promise<LinkResult[]> {
    if (this.seen.length === 0) this.onFirstCall?.();
    this.seen.push(options);
    const until = Date.now() + 4;
    while (Date.now() < until) {
      // busy
    }
    return queries.map((q) => ({ beams: [{ mention: q.mention, semantic_group: q.group, pred_concept_name: q.mention, pred_concept_code: "1", beam_score: 1, pred_concept_codes: ["1"] }] }));
  }
  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }
  async close(): Promise<void> {}
}

function manyDocuments(n: number): Dataset {
  const documents: Document[] = [];
  for (let d = 0; d < n; d++) {
    const text = `Presenta fiebre alta y tos.`;
    documents.push({ id: `doc${d}`, text, language: "es", mentions: [{ id: "m", label: "SINTOMA", fragments: [{ start: 9, end: 15 }], text: "fiebre", codes: ["1"] }] });
  }
  return { format: "spaccc", documents, problems: [] };
}

describe("link-docs with a linker that never yields", () => {
  it("a signal raised by a timer (as SIGINT/SIGTERM handlers are) stops the run between batches", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-busy-"));
    try {
      const controller = new AbortController();
      const linker = new BusyLinker();
      // The timer starts with the first call (a loaded machine may take longer than 50 ms to get there).
      linker.onFirstCall = () => setTimeout(() => controller.abort(), 50);
      const r = await linkDocuments(manyDocuments(400), linker, { outPath: join(dir, "out.jsonl"), format: "jsonl", batchSize: 1, signal: controller.signal });
      expect(r.aborted).toBe(true);
      expect(r.linkedDocuments).toBeLessThan(400);
      // The linker is given the signal and a per-mention progress callback.
      expect(linker.seen[0].signal).toBe(controller.signal);
      expect(typeof linker.seen[0].onMentionDone).toBe("function");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("progress after a resume", () => {
  it("counts the mentions of earlier runs in the bar but not in the rate", () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (b: Buffer) => (text += b.toString()));
    const p = new Progress({ total: 30_000, label: "link-docs", stream, tty: false, intervalMs: 0 });
    p.skip(27_000);
    p.tick(1);
    const last = text.trim().split("\n").at(-1) ?? "";
    expect(last).toContain("27001/30000");
    const rate = Number(/ ([\d.]+)\/s /.exec(last)?.[1]);
    expect(rate).toBeLessThan(27_000 / 10);
  });
});
