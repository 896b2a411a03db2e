import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { beamSearch } from "../../src/decode/beam-search.js";
import { trieConstraint } from "../../src/decode/token-constraints.js";
import { scoreCandidates, scoreTopCandidates, type CandidateScoringInput } from "../../src/decode/candidate-scoring.js";
import type { CausalLM } from "../../src/lm/types.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { buildPrompt, parseMarkedSentence } from "../../src/markup/index.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";
import { nameTokenSequence } from "../../src/trie/kb-tries.js";
import { TokenTrie } from "../../src/trie/token-trie.js";
import { makeTinyModel } from "../support/tiny-model.js";
import { referenceRows, referenceScore } from "../support/reference-decoding.js";

// Names sharing prefixes ("diabetes", "diabetes mellitus", ...), of different lengths, one repeated.
const NAMES = ["diabetes", "diabetes mellitus", "diabetes mellitus tipo 2", "diabetes insípida", "hipertensión arterial", "hipertensión pulmonar", "neumonía", "asma", "embolia pulmonar masiva aguda bilateral", "diabetes"];
const SENTENCES = [
  "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó signos de dificultad respiratoria.",
  "Antecedentes de [diabetes]{ENFERMEDAD} mal controlada.",
  "Se diagnosticó [neumonía]{ENFERMEDAD} basal derecha tras varios días de fiebre y tos persistente en domicilio.",
];

describe("teacher-forced candidate scoring on a random-weight Llama", () => {
  let model: { dir: string; cleanup: () => void };
  let lm: OnnxCausalLM;
  let tok: HfTokenizer;
  let ref: ReferenceLlama;

  beforeAll(async () => {
    model = await makeTinyModel({ seed: 31 });
    lm = await loadOnnxCausalLM(model.dir, { threads: 2 });
    tok = await loadTokenizer(model.dir);
    ref = loadReferenceLlama(model.dir);
  });
  afterAll(async () => {
    await lm?.dispose();
    model?.cleanup();
  });

  const promptOf = (s: string): number[] => tok.encode(buildPrompt(parseMarkedSentence(s), "es"));
  /** The trie sequence of a name without its root (verb) token: what decoding generates. */
  const continuation = (name: string): number[] => nameTokenSequence(tok, "es", name).slice(1);

  /**
   * Brute force: each sequence through the float64 reference forward, one position at a time (rows memoised per
   * token prefix: candidates sharing a prefix share its rows).
   */
  function reference(prompt: readonly number[], cont: readonly number[]): number {
    return referenceScore(referenceRows(ref, prompt), cont);
  }

  it("equals brute-force reference scores for every candidate, in one mixed batch and with chunking", async () => {
    const inputs: CandidateScoringInput[] = SENTENCES.map((s, i) => ({ prompt: promptOf(s), continuations: NAMES.slice(3 * i).map(continuation) }));
    const whole = await scoreCandidates(lm, inputs);
    // Three rows at most: every prompt is split into chunks, each re-prefilled, batches hold one or two chunks.
    const chunked = await scoreCandidates(lm, inputs, { maxRows: 3 });
    inputs.forEach((input, i) => {
      expect(whole[i]).toHaveLength(input.continuations.length);
      input.continuations.forEach((cont, j) => {
        const expected = reference(input.prompt, cont);
        expect(Math.abs(whole[i][j].score - expected)).toBeLessThan(1e-4);
        expect(whole[i][j].length).toBe(cont.length);
        expect(Math.abs(whole[i][j].sumLogProbs / cont.length - whole[i][j].score)).toBeLessThan(1e-12);
        expect(Math.abs(chunked[i][j].score - whole[i][j].score)).toBeLessThan(1e-5);
      });
    });
    // The repeated name gets the same score as its first occurrence.
    expect(whole[0][9].score).toBe(whole[0][0].score);
  });

  it("a mixed batch gives each prompt what it gets alone", async () => {
    const inputs: CandidateScoringInput[] = SENTENCES.map((s, i) => ({ prompt: promptOf(s), continuations: NAMES.slice(0, 4 + i).map(continuation) }));
    const batched = await scoreCandidates(lm, inputs);
    for (let i = 0; i < inputs.length; i++) {
      const [alone] = await scoreCandidates(lm, [inputs[i]]);
      alone.forEach((s, j) => expect(Math.abs(s.score - batched[i][j].score)).toBeLessThan(1e-5));
    }
    // A backend that ignores the logit request (whole rows of logits) gives the same numbers.
    const wholeRows: CausalLM = { vocabSize: lm.vocabSize, forwardMs: 0, prefill: (p) => lm.prefill(p), step: (st, pa, to) => lm.step(st, pa, to), dispose: async () => undefined };
    const viaRows = await scoreCandidates(wholeRows, inputs);
    viaRows.forEach((row, i) => row.forEach((s, j) => expect(Math.abs(s.score - batched[i][j].score)).toBeLessThan(1e-5)));
  });

  it("gives each name the score trie-constrained beam search gives it as a finished hypothesis", async () => {
    const names = [...new Set(NAMES)];
    const prompt = promptOf(SENTENCES[0]);
    const trie = TokenTrie.build(names.map((n) => nameTokenSequence(tok, "es", n)));
    // Enough beams for an exhaustive search: every name comes back.
    const [out] = await beamSearch(lm, [{ prompt, constraint: trieConstraint(trie) }], { numBeams: names.length + 2, eosTokenId: tok.eosTokenId });
    const [scores] = await scoreCandidates(lm, [{ prompt, continuations: names.map(continuation) }]);
    expect(out.hypotheses).toHaveLength(names.length);
    for (const h of out.hypotheses!) {
      const name = tok.decode(h.tokens, { skipSpecialTokens: true }).trim();
      const j = names.indexOf(name);
      expect(j).toBeGreaterThanOrEqual(0);
      expect(Math.abs(scores[j].score - h.score)).toBeLessThan(1e-5);
    }
  });

  /** The model, counting the rows it runs in decoding steps. */
  function counting(): { lm: CausalLM; rows: () => number } {
    let rows = 0;
    const wrapped: CausalLM = {
      vocabSize: lm.vocabSize,
      forwardMs: 0,
      prefill: (p, request) => lm.prefill(p, request),
      step: (s, parents, tokens, request) => {
        rows += parents.length;
        return lm.step(s, parents, tokens, request);
      },
      dispose: async () => undefined,
    };
    return { lm: wrapped, rows: () => rows };
  }

  it("top-n scoring returns exactly the n best by score + bonus, and skips prefixes that cannot reach them", async () => {
    const continuations = [...new Set(NAMES)].map(continuation);
    const prompt = promptOf(SENTENCES[2]);
    const [all] = await scoreCandidates(lm, [{ prompt, continuations }]);
    // Bonuses spread wide (a strongly weighted retriever score) let most prefixes be cut early.
    for (const bonuses of [undefined, continuations.map((_, j) => (j % 3) * 5), continuations.map((_, j) => -j * 0.01)]) {
      for (const n of [1, 3]) {
        const counter = counting();
        const [top] = await scoreTopCandidates(counter.lm, [{ prompt, continuations, ...(bonuses ? { bonuses } : {}) }], n);
        const expected = all
          .map((s, j) => ({ j, key: s.score + (bonuses?.[j] ?? 0) }))
          .sort((a, b) => b.key - a.key || a.j - b.j)
          .slice(0, n);
        expect(top.map((r) => r.index)).toEqual(expected.map((e) => e.j));
        top.forEach((r, i) => {
          expect(Math.abs(r.key - expected[i].key)).toBeLessThan(1e-5);
          expect(Math.abs(r.score - all[r.index].score)).toBeLessThan(1e-5);
        });
        if (bonuses && bonuses[1] === 5 && n === 1) {
          const full = counting();
          await scoreCandidates(full.lm, [{ prompt, continuations }]);
          expect(counter.rows()).toBeLessThan(full.rows());
        }
      }
    }
  });

  it("refuses empty continuations and bad row limits; no candidates give no scores", async () => {
    const prompt = promptOf(SENTENCES[1]);
    await expect(scoreCandidates(lm, [{ prompt, continuations: [[]] }])).rejects.toMatchObject({ code: "DECODE_INVALID_OPTIONS" });
    await expect(scoreCandidates(lm, [{ prompt, continuations: [continuation("asma")] }], { maxRows: 0 })).rejects.toMatchObject({ code: "DECODE_INVALID_OPTIONS" });
    expect(await scoreCandidates(lm, [{ prompt, continuations: [] }])).toEqual([[]]);
  });
});
