/**
 * Constrained beam search on a real (tiny, random) ONNX Llama against brute force over the trie of a small KB, in
 * single-name and `<SEP>` multiple-answers mode: every answer the constraint admits within max_new_tokens (complete,
 * or cut at max_new_tokens) is scored by the independent reference forward, and with early_stopping="never" (an
 * exact bound) and enough beams the search must return all of them, ranked by score. Smaller searches with the
 * default heuristic are checked against transformers' beam search restated over the reference forward.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { beamSearch, type EarlyStopping } from "../../src/decode/beam-search.js";
import { trieConstraint } from "../../src/decode/token-constraints.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { buildPrompt, parseMarkedSentence } from "../../src/markup/index.js";
import type { ReferenceHypothesis } from "../../src/testing/reference-beam-search.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";
import { nameTokenSequence } from "../../src/trie/kb-tries.js";
import { TokenTrie } from "../../src/trie/token-trie.js";
import { expectReferenceHypotheses, namesPrefixFn, referenceHypotheses, referenceRows, referenceScore } from "../support/reference-decoding.js";
import { makeTinyModel } from "../support/tiny-model.js";

const NAMES = ["asma", "gripe", "tos ferina", "fiebre"];
const SENTENCES = ["Antecedentes de [asma]{ENFERMEDAD} y tos.", "Cuadro de [gripe]{ENFERMEDAD} con fiebre desde ayer."];

describe("constrained beam search = brute force over the trie (tiny ONNX Llama)", () => {
  let model: { dir: string; cleanup: () => void };
  let lm: OnnxCausalLM;
  let tok: HfTokenizer;
  let ref: ReferenceLlama;
  let trie: TokenTrie;
  let names: number[][];
  let sep: number;

  beforeAll(async () => {
    model = await makeTinyModel({ seed: 31 });
    lm = await loadOnnxCausalLM(model.dir, { threads: 2 });
    tok = await loadTokenizer(model.dir);
    ref = loadReferenceLlama(model.dir);
    trie = TokenTrie.build(NAMES.map((n) => nameTokenSequence(tok, "es", n)));
    const verb = tok.encode(" es", { addSpecialTokens: false }).length;
    names = NAMES.map((n) => tok.encode(` es ${n}`, { addSpecialTokens: false }).slice(verb));
    sep = tok.sepTokenId!;
  });
  afterAll(async () => {
    await lm?.dispose();
    model?.cleanup();
  });

  const promptOf = (s: string): number[] => tok.encode(buildPrompt(parseMarkedSentence(s), "es"));

  /** Every answer within maxNew tokens: complete (EOS at the end) or cut (maxNew tokens, no EOS). */
  function allAnswers(maxNew: number, multiple: boolean): { tokens: number[]; ended: boolean }[] {
    const out: { tokens: number[]; ended: boolean }[] = [];
    const grow = (done: number[]): void => {
      for (const name of names) {
        const seq = [...done, ...name];
        if (seq.length >= maxNew) {
          out.push({ tokens: seq.slice(0, maxNew), ended: false });
          continue;
        }
        out.push({ tokens: [...seq, tok.eosTokenId], ended: true });
        if (!multiple) continue;
        if (seq.length + 1 >= maxNew) out.push({ tokens: [...seq, sep].slice(0, maxNew), ended: false });
        else grow([...seq, sep]);
      }
    };
    grow([]);
    // Names sharing a cut prefix give the same cut answer once.
    return [...new Map(out.map((a) => [a.tokens.join(" ") + (a.ended ? "" : " (cut)"), a])).values()];
  }

  /** The brute-force ranking: reference log-probabilities of every answer, normalised by its length. */
  function bruteForce(prompt: readonly number[], answers: readonly { tokens: number[]; ended: boolean }[]): ReferenceHypothesis[] {
    const rows = referenceRows(ref, prompt);
    return answers.map(({ tokens, ended }) => ({ tokens, ended, score: referenceScore(rows, tokens), filler: false })).sort((a, b) => b.score - a.score);
  }

  for (const multiple of [false, true]) {
    it(`${multiple ? "<SEP> mode" : "single names"}: early_stopping "never" with enough beams returns every answer, ranked by score`, async () => {
      const maxNew = multiple ? 6 : 2;
      const answers = allAnswers(maxNew, multiple);
      expect(answers.length).toBeLessThanOrEqual(64);
      if (multiple) expect(answers.filter((a) => a.ended && a.tokens.includes(sep)).length).toBeGreaterThan(5);
      const constraint = trieConstraint(trie, { sepTokenId: multiple ? sep : null, eosTokenId: tok.eosTokenId });
      for (const sentence of SENTENCES) {
        const prompt = promptOf(sentence);
        const want = bruteForce(prompt, answers);
        // Cut answers rank among complete ones by score (transformers), not after them.
        const firstEnded = want.findIndex((h) => h.ended);
        expect(want.slice(firstEnded).some((h) => !h.ended), "a cut answer ranks below a complete one").toBe(true);
        const lastEnded = want.length - 1 - [...want].reverse().findIndex((h) => h.ended);
        expect(want.slice(0, lastEnded).some((h) => !h.ended), "a cut answer ranks above a complete one").toBe(true);
        const [got] = await beamSearch(lm, [{ prompt, constraint }], { numBeams: answers.length, maxNewTokens: maxNew, eosTokenId: tok.eosTokenId, earlyStopping: "never" });
        expectReferenceHypotheses(got, want, 1e-4, sentence);
      }
    });
  }

  it("<SEP> mode, 3 beams, early_stopping false and never: transformers' beam search over the reference forward", async () => {
    const constraint = trieConstraint(trie, { sepTokenId: sep, eosTokenId: tok.eosTokenId });
    for (const earlyStopping of [false, "never"] as EarlyStopping[]) {
      for (const sentence of SENTENCES) {
        const prompt = promptOf(sentence);
        const options = { numBeams: 3, maxNewTokens: 10, eosTokenIds: [tok.eosTokenId], earlyStopping, allowed: namesPrefixFn(names, tok.eosTokenId, sep) };
        const [got] = await beamSearch(lm, [{ prompt, constraint }], { numBeams: 3, maxNewTokens: 10, eosTokenId: tok.eosTokenId, earlyStopping });
        expectReferenceHypotheses(got, referenceHypotheses(ref, prompt, options), 1e-4, `${sentence} (${String(earlyStopping)})`);
      }
    }
  });
});
