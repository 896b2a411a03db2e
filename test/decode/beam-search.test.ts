/**
 * Beam search against an independent expectation: a literal restatement of transformers 4.57's generate (greedy for
 * one beam, else its vectorised beam search with filler beams and -1e9 penalties; src/testing/reference-beam-search.ts)
 * over the same pseudo-random model, for hundreds of random settings: early_stopping true / false / "never", length
 * penalties, max_new_tokens cuts, several EOS ids, unconstrained and trie-constrained, `<SEP>` multiple answers.
 * The constraint of the reference is a prefix_allowed_tokens_fn written here from the names, not the search's units.
 */
import { describe, expect, it } from "vitest";
import { beamSearch, streamBeamSearch, type BeamSearchInput, type BeamSearchOutput, type EarlyStopping } from "../../src/decode/beam-search.js";
import { trieConstraint } from "../../src/decode/token-constraints.js";
import { HashLM } from "../../src/testing/hash-lm.js";
import { referenceSearch, type ReferenceHypothesis } from "../../src/testing/reference-beam-search.js";
import { TokenTrie } from "../../src/trie/token-trie.js";
import { mulberry32 } from "../../src/util/random.js";

const V = 10;
const VERB = 0;
const EOS = 1;
const SEP = 9;

interface Case {
  readonly seed: number;
  readonly numBeams: number;
  readonly maxNewTokens: number;
  readonly lengthPenalty: number;
  readonly earlyStopping: EarlyStopping;
  readonly eosTokenIds: readonly number[];
  readonly mode: "free" | "names" | "sep";
  /** Names as tokens after the verb (no EOS); drawn from 3..8. */
  readonly names: readonly (readonly number[])[];
  readonly prompts: readonly (readonly number[])[];
}

function randomCase(seed: number): Case {
  const rand = mulberry32(seed * 7919 + 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const names: number[][] = [];
  const count = 1 + Math.floor(rand() * 5);
  while (names.length < count) {
    const name = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => 3 + Math.floor(rand() * 6));
    if (!names.some((n) => n.join() === name.join())) names.push(name);
  }
  return {
    seed,
    numBeams: pick([1, 2, 2, 3, 3, 4]),
    maxNewTokens: pick([1, 2, 3, 4, 5, 6, 8]),
    lengthPenalty: pick([1, 1, 1, 0.6, 2, 0, -0.5]),
    earlyStopping: pick<EarlyStopping>([false, true, "never"]),
    eosTokenIds: pick([[EOS], [EOS], [EOS, 2]]),
    mode: pick(["free", "names", "sep"] as const),
    names,
    prompts: [[4, 5, VERB], [6, VERB], [7, 3, 8, VERB]],
  };
}

/** GENRE-style prefix_allowed_tokens_fn over the generated tokens: names (joined by SEP in "sep" mode) then EOS. */
function prefixAllowed(c: Case): (generated: readonly number[]) => number[] {
  return (generated) => {
    if (generated.length > 0 && c.eosTokenIds.includes(generated[generated.length - 1])) return [EOS];
    const lastSep = c.mode === "sep" ? generated.lastIndexOf(SEP) : -1;
    const answer = generated.slice(lastSep + 1);
    const out = new Set<number>();
    for (const name of c.names) {
      if (!answer.every((t, i) => name[i] === t)) continue;
      if (name.length > answer.length) out.add(name[answer.length]);
      else if (name.length === answer.length) {
        out.add(EOS);
        if (c.mode === "sep") out.add(SEP);
      }
    }
    return [...out];
  };
}

function lmOf(c: Case, honourRequests = true): HashLM {
  return new HashLM({ vocabSize: V, seed: c.seed, bias: { [EOS]: 1, 2: 0.5 }, honourRequests });
}

function expected(c: Case, prompt: readonly number[]): ReferenceHypothesis[] {
  const lm = lmOf(c);
  return referenceSearch((g) => lm.logProbs([...prompt, ...g]), V, {
    numBeams: c.numBeams,
    maxNewTokens: c.maxNewTokens,
    eosTokenIds: c.eosTokenIds,
    lengthPenalty: c.lengthPenalty,
    earlyStopping: c.earlyStopping,
    ...(c.mode === "free" ? {} : { allowed: prefixAllowed(c) }),
  });
}

function inputsOf(c: Case): BeamSearchInput[] {
  const trie = TokenTrie.build(c.names.map((n) => [VERB, ...n, EOS]));
  return c.prompts.map((prompt) => ({
    prompt,
    ...(c.mode === "free" ? {} : { constraint: trieConstraint(trie, { sepTokenId: c.mode === "sep" ? SEP : null, eosTokenId: EOS }) }),
  }));
}

const options = (c: Case) => ({ numBeams: c.numBeams, maxNewTokens: c.maxNewTokens, lengthPenalty: c.lengthPenalty, earlyStopping: c.earlyStopping, eosTokenId: EOS, eosTokenIds: c.eosTokenIds });

/** Our hypotheses as the reference writes them: tokens with the end token, ended flag, score. */
function asReference(out: BeamSearchOutput): { tokens: number[]; ended: boolean; score: number }[] {
  if (out.error) throw out.error;
  return out.hypotheses.map((h) => ({ tokens: h.endToken === undefined ? [...h.tokens] : [...h.tokens, h.endToken], ended: h.finished, score: h.score }));
}

function compare(got: BeamSearchOutput, want: readonly ReferenceHypothesis[], label: string): void {
  const ours = asReference(got);
  const theirs = want.map(({ tokens, ended, score }) => ({ tokens: [...tokens], ended, score }));
  expect(ours.map((h) => `${h.tokens.join(" ")}${h.ended ? "" : " (cut)"}`), label).toEqual(theirs.map((h) => `${h.tokens.join(" ")}${h.ended ? "" : " (cut)"}`));
  ours.forEach((h, i) => expect(Math.abs(h.score - theirs[i].score), label).toBeLessThan(1e-9));
}

const CASES = Array.from({ length: 400 }, (_, i) => randomCase(i));

describe("beam search = transformers' generate (reference restatement), random settings", () => {
  it("every prompt of every case, batched and alone, gives the reference's hypotheses in its order", async () => {
    let compared = 0;
    let fillerSkipped = 0;
    const seen = { cutAboveEnded: 0, sepAnswers: 0, early: new Set<string>() };
    for (const c of CASES) {
      const inputs = inputsOf(c);
      const batched = await beamSearch(lmOf(c), inputs, options(c));
      for (const [p, prompt] of c.prompts.entries()) {
        const want = expected(c, prompt);
        // transformers' filler beams (-1e9 copies of the prompt) fill its finished set when the constraint offers fewer
        // than num_beams continuations; with early_stopping=True a full set stops it: a documented difference.
        if (want.some((h) => h.filler) && c.earlyStopping === true) {
          fillerSkipped++;
          continue;
        }
        const real = want.filter((h) => !h.filler);
        const label = `seed ${c.seed} prompt ${p} ${JSON.stringify({ ...c, prompts: undefined })}`;
        compare(batched[p], real, label);
        compare((await beamSearch(lmOf(c, false), [inputs[p]], options(c)))[0], real, `${label} (whole rows)`);
        compared++;
        const firstEnded = real.findIndex((h) => h.ended);
        if (firstEnded >= 0 && real.slice(0, firstEnded).some((h) => !h.ended) && real.some((h) => h.ended)) seen.cutAboveEnded++;
        if (real.some((h) => h.ended && h.tokens.includes(SEP))) seen.sepAnswers++;
        seen.early.add(String(c.earlyStopping));
      }
    }
    // The cases exercise what they are meant to.
    expect(compared).toBeGreaterThan(1000);
    expect(fillerSkipped).toBeLessThan(compared / 5);
    expect(seen.cutAboveEnded).toBeGreaterThan(20);
    expect(seen.sepAnswers).toBeGreaterThan(20);
    expect([...seen.early].sort()).toEqual(["false", "never", "true"]);
  });

  it("continuous batching: prompts fed one by one into a running search get the reference's hypotheses", async () => {
    for (const c of CASES.slice(0, 120)) {
      const inputs = inputsOf(c);
      const queue = [...inputs];
      const got = new Map<BeamSearchInput, BeamSearchOutput>();
      await streamBeamSearch(lmOf(c), { take: (room) => queue.splice(0, Math.min(1, room)), done: (input, out) => got.set(input, out) }, { ...options(c), maxPrompts: 2 });
      inputs.forEach((input, p) => {
        const want = expected(c, c.prompts[p]);
        if (want.some((h) => h.filler) && c.earlyStopping === true) return;
        compare(got.get(input)!, want.filter((h) => !h.filler), `seed ${c.seed} prompt ${p} (stream)`);
      });
    }
  });
});
