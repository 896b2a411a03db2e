/**
 * Continuous batching: prompts joining a running batch (`lm.extend`) get the log-probabilities of the independent
 * reference forward, and each prompt's beam search through `streamBeamSearch`, whatever joins or leaves the batch
 * around it, gives the hypotheses of the reference: transformers' beam search restated over the reference forward,
 * constrained by a prefix function written from the names (test/support/reference-decoding.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { beamSearch, streamBeamSearch, type BeamSearchFeed, type BeamSearchInput, type BeamSearchOutput } from "../../src/decode/beam-search.js";
import { trieConstraint } from "../../src/decode/token-constraints.js";
import type { ReferenceHypothesis } from "../../src/testing/reference-beam-search.js";
import type { CausalLM, NextTokenLogProbs } from "../../src/lm/types.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { buildPrompt, parseMarkedSentence } from "../../src/markup/index.js";
import { logProbsOfRow } from "../../src/testing/log-softmax.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";
import { nameTokenSequence } from "../../src/trie/kb-tries.js";
import { TokenTrie } from "../../src/trie/token-trie.js";
import { makeTinyModel, maxAbsDiff } from "../support/tiny-model.js";
import { expectReferenceHypotheses, namesPrefixFn, referenceHypotheses } from "../support/reference-decoding.js";

// head_dim 16: ORT's CPU GroupQueryAttention needs a multiple of 16.
const SHAPE = { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, seed: 23 };
const VARIANTS = [
  { name: "left-padded (Optimum)", onnx: {} },
  { name: "right-padded (GroupQueryAttention)", onnx: { attention: "gqa" as const, gqaRotary: "fused" as const } },
];

const NAMES = ["diabetes", "diabetes mellitus", "diabetes mellitus tipo 2", "diabetes insípida", "hipertensión arterial", "hipertensión pulmonar", "neumonía", "asma", "embolia pulmonar masiva aguda bilateral", "fiebre"];
const SENTENCES = [
  "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó signos de dificultad respiratoria.",
  "Antecedentes de [diabetes]{ENFERMEDAD} mal controlada.",
  "Se diagnosticó [neumonía]{ENFERMEDAD} basal derecha tras varios días de fiebre y tos persistente en domicilio.",
  "[Asma]{ENFERMEDAD}.",
  "Refiere [fiebre]{ENFERMEDAD} de tres días de evolución con escalofríos.",
];

/** Reference hypotheses per (beams, prompt): both variants share the weights (same shape and seed), so one reference serves both. */
const expectations = new Map<string, ReferenceHypothesis[]>();

for (const variant of VARIANTS) {
  describe(`continuous batching, ${variant.name}`, () => {
    let model: { dir: string; cleanup: () => void };
    let lm: OnnxCausalLM;
    let tok: HfTokenizer;
    let ref: ReferenceLlama;
    let trie: TokenTrie;

    beforeAll(async () => {
      model = await makeTinyModel(SHAPE, variant.onnx);
      lm = await loadOnnxCausalLM(model.dir, { threads: 2 });
      tok = await loadTokenizer(model.dir);
      ref = loadReferenceLlama(model.dir);
      trie = TokenTrie.build(NAMES.map((n) => nameTokenSequence(tok, "es", n)));
    });
    afterAll(async () => {
      await lm?.dispose();
      model?.cleanup();
    });

    const promptOf = (s: string): number[] => tok.encode(buildPrompt(parseMarkedSentence(s), "es"));
    const constraint = () => trieConstraint(trie);
    /** transformers' beam search over the reference forward, constrained to NAMES by a prefix function of its own. */
    const expected = (sentence: string, numBeams: number): ReferenceHypothesis[] => {
      const key = `${numBeams}|${sentence}`;
      if (!expectations.has(key)) {
        const verb = tok.encode(" es", { addSpecialTokens: false }).length;
        const names = NAMES.map((n) => tok.encode(` es ${n}`, { addSpecialTokens: false }).slice(verb));
        const options = { numBeams, maxNewTokens: 128, eosTokenIds: [tok.eosTokenId], allowed: namesPrefixFn(names, tok.eosTokenId) };
        expectations.set(key, referenceHypotheses(ref, promptOf(sentence), options));
      }
      return expectations.get(key)!;
    };
    const lastLogProbs = (seq: readonly number[]): Float32Array => ref.logProbs(seq, { from: seq.length - 1 })[0];

    it("rows that join a running batch, and the rows already in it, equal the reference forward", async () => {
      const [a, b, c, d] = [promptOf(SENTENCES[0]), promptOf(SENTENCES[1]), promptOf(SENTENCES[2]), promptOf(SENTENCES[3])];
      const seqs: number[][] = [[...a]];
      let { state, logProbs } = await lm.prefill([a]);
      const check = (p: NextTokenLogProbs, rows: readonly number[][]): void => {
        rows.forEach((seq, r) => expect(maxAbsDiff(logProbsOfRow(p, r), lastLogProbs(seq))).toBeLessThan(1e-4));
      };
      check(logProbs, seqs);
      // Two steps of prompt a's beams (forked), then b and c join.
      ({ state, logProbs } = await lm.step(state, Int32Array.of(0, 0), Int32Array.of(100, 200)));
      seqs.splice(0, 1, [...a, 100], [...a, 200]);
      ({ state, logProbs } = await lm.step(state, Int32Array.of(1, 0), Int32Array.of(7, 8)));
      seqs.splice(0, 2, [...seqs[1], 7], [...seqs[0], 8]);
      check(logProbs, seqs);
      const joined = await lm.extend(state, [b, c]);
      check(joined.logProbs, [b, c]);
      state = joined.state;
      seqs.push([...b], [...c]);
      ({ state, logProbs } = await lm.step(state, Int32Array.of(0, 1, 2, 3, 3), Int32Array.of(11, 12, 13, 14, 15)));
      const afterJoin = [[...seqs[0], 11], [...seqs[1], 12], [...seqs[2], 13], [...seqs[3], 14], [...seqs[3], 15]];
      check(logProbs, afterJoin);
      // a's rows leave (the cache can shrink to c's length), then d joins a batch of b and c rows.
      ({ state, logProbs } = await lm.step(state, Int32Array.of(2, 3, 4), Int32Array.of(21, 22, 23)));
      const rest = [[...afterJoin[2], 21], [...afterJoin[3], 22], [...afterJoin[4], 23]];
      check(logProbs, rest);
      const second = await lm.extend(state, [d]);
      check(second.logProbs, [d]);
      const final = await lm.step(second.state, Int32Array.of(3, 0, 2), Int32Array.of(31, 32, 33));
      check(final.logProbs, [
        [...d, 31],
        [...rest[0], 32],
        [...rest[2], 33],
      ]);
      final.state.dispose();
    });

    it("each prompt fed into a running search gets the reference's hypotheses", async () => {
      const inputs: BeamSearchInput[] = SENTENCES.map((s) => ({ prompt: promptOf(s), constraint: constraint() }));

      let extends_ = 0;
      const counting: CausalLM = {
        vocabSize: lm.vocabSize,
        get forwardMs() {
          return lm.forwardMs;
        },
        prefill: (p, r) => lm.prefill(p, r),
        step: (s, pa, t, r) => lm.step(s, pa, t, r),
        extend: (s, p, r) => (extends_++, lm.extend(s, p, r)),
        dispose: async () => undefined,
      };
      // One prompt per take: they join one by one while others run (at most 2 at a time).
      const queue = [...inputs];
      const got = new Map<BeamSearchInput, BeamSearchOutput>();
      const feed: BeamSearchFeed = { take: (room) => queue.splice(0, Math.min(1, room)), done: (input, out) => got.set(input, out) };
      await streamBeamSearch(counting, feed, { numBeams: 3, eosTokenId: tok.eosTokenId, maxPrompts: 2 });
      expect(extends_).toBeGreaterThan(0);
      inputs.forEach((input, i) => expectReferenceHypotheses(got.get(input)!, expected(SENTENCES[i], 3), 1e-4, SENTENCES[i]));
      // minJoin 2 of 3 slots: prompts join a running batch only when two slots are free; results unchanged.
      const again = [...inputs];
      const rooms: number[] = [];
      const joined = new Map<BeamSearchInput, BeamSearchOutput>();
      await streamBeamSearch(counting, { take: (room) => (rooms.push(room), again.splice(0, 1)), done: (input, out) => joined.set(input, out) }, { numBeams: 3, eosTokenId: tok.eosTokenId, maxPrompts: 3, minJoin: 2 });
      expect(rooms.slice(1).every((r) => r >= 2)).toBe(true);
      inputs.forEach((input, i) => expectReferenceHypotheses(joined.get(input)!, expected(SENTENCES[i], 3), 1e-4, `${SENTENCES[i]} (minJoin 2)`));
    });

    it("a backend without extend takes new prompts only when the batch is empty; a prompt nobody wants is dropped", async () => {
      const inputs: BeamSearchInput[] = SENTENCES.slice(0, 4).map((s) => ({ prompt: promptOf(s), constraint: constraint() }));
      let steps = 0;
      const noExtend: CausalLM = { vocabSize: lm.vocabSize, forwardMs: 0, prefill: (p, r) => lm.prefill(p, r), step: (s, pa, t, r) => (steps++, lm.step(s, pa, t, r)), dispose: async () => undefined };
      const queue = [...inputs];
      const got = new Map<BeamSearchInput, BeamSearchOutput>();
      const rooms: number[] = [];
      const feed: BeamSearchFeed = {
        take: (room) => (rooms.push(room), queue.splice(0, room)),
        done: (input, out) => got.set(input, out),
        // Prompt 2's caller goes away after the first step.
        wanted: (input) => !(input === inputs[2] && steps >= 1),
      };
      await streamBeamSearch(noExtend, feed, { numBeams: 2, eosTokenId: tok.eosTokenId, maxPrompts: 3 });
      expect(got.has(inputs[2])).toBe(false);
      // Asked only with an empty batch: 3 prompts, then (once those are over) the fourth.
      expect(rooms.slice(0, 2)).toEqual([3, 3]);
      for (const i of [0, 1, 3]) expectReferenceHypotheses(got.get(inputs[i])!, expected(SENTENCES[i], 2), 1e-4, SENTENCES[i]);
    });
  });
}

describe("one decoding at a time per model", () => {
  it("concurrent searches on one model fail with an error instead of sharing cache buffers", async () => {
    const model = await makeTinyModel({ seed: 5 });
    const lm = await loadOnnxCausalLM(model.dir, { threads: 1 });
    try {
      const prompts = [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10, 11, 12]];
      const runs = await Promise.allSettled(prompts.map((p) => beamSearch(lm, [{ prompt: p }], { numBeams: 2, eosTokenId: 0, maxNewTokens: 3 })));
      expect(runs.filter((r) => r.status === "rejected").length).toBeGreaterThanOrEqual(2);
      for (const r of runs) if (r.status === "rejected") expect((r.reason as { code?: string }).code).toBe("DECODE_INVALID_OPTIONS");
    } finally {
      await lm.dispose();
      model.cleanup();
    }
  });
});
