/**
 * The constraint units alone (trie, `<SEP>` multiple answers, end of sequence), each against a brute-force
 * expectation computed from the names themselves: the tokens that may follow a prefix are those that continue some
 * valid sequence.
 */
import { describe, expect, it } from "vitest";
import { EndOfSequence, MultipleAnswers, TrieConstraint, trieConstraint, type TokenConstraint } from "../../src/decode/token-constraints.js";
import { TokenTrie } from "../../src/trie/token-trie.js";

const EOS = 1;
const SEP = 2;
const VERB = [10, 11];
// Names after the verb: prefixes of one another, shared first tokens, a one-token name.
const NAMES = [[20], [20, 21], [20, 21, 22], [23, 21], [24, 25, 26]];
const VOCAB = 30;

/** Replays `tokens` through `c` from the state after `prompt`. */
function replay(c: TokenConstraint, prompt: readonly number[], tokens: readonly number[]): number {
  const start = c.start(prompt);
  let state = start;
  for (const t of tokens) state = c.next(state, t, start);
  return state;
}

/** Brute force: the tokens that follow `prefix` in some sequence of `sequences`. */
function continuations(sequences: readonly (readonly number[])[], prefix: readonly number[]): number[] {
  const out = new Set<number>();
  for (const s of sequences) if (s.length > prefix.length && prefix.every((t, i) => s[i] === t)) out.add(s[prefix.length]);
  return [...out].sort((a, b) => a - b);
}

/** Every prefix of every sequence. */
function prefixes(sequences: readonly (readonly number[])[]): number[][] {
  const out = new Map<string, number[]>();
  for (const s of sequences) for (let i = 0; i < s.length; i++) out.set(s.slice(0, i).join(","), s.slice(0, i));
  return [...out.values()];
}

describe("TrieConstraint", () => {
  const sequences = NAMES.map((n) => [...n, EOS]);
  const trie = TokenTrie.build(NAMES.map((n) => [...VERB, ...n, EOS]));
  const c = new TrieConstraint(trie, VERB.length);
  const prompt = [5, 6, ...VERB];

  it("allows after each prefix exactly the tokens that continue some name, and refuses every other token", () => {
    for (const prefix of prefixes(sequences)) {
      const state = replay(c, prompt, prefix);
      expect(state, prefix.join(",")).toBeGreaterThanOrEqual(0);
      expect([...c.allowed(state)].sort((a, b) => a - b), prefix.join(",")).toEqual(continuations(sequences, prefix));
      for (let t = 0; t < VOCAB; t++) {
        if (!continuations(sequences, prefix).includes(t)) expect(c.next(state, t)).toBe(-1);
      }
    }
  });

  it("starts after the prompt's verb tokens only", () => {
    expect(c.start(prompt)).toBeGreaterThanOrEqual(0);
    expect(c.start([5, VERB[1]])).toBe(-1); // the last token alone is not the two-token verb
    expect(c.start([VERB[1]])).toBe(-1);
    expect(new TrieConstraint(TokenTrie.build([[10, 20, EOS]])).start([3, 10])).toBeGreaterThanOrEqual(0);
    expect(c.allowed(-1)).toHaveLength(0);
  });
});

describe("MultipleAnswers", () => {
  it("adds <SEP> exactly where the inner constraint allows EOS, and <SEP> leads back to the start", () => {
    // A hand-made inner constraint: start 0 allows 5 and 6; 5 -> 1 (EOS only); 6 -> 2 (7 or EOS); 7 -> 3 (EOS).
    const table: Record<number, Record<number, number>> = { 0: { 5: 1, 6: 2 }, 1: { [EOS]: 9 }, 2: { 7: 3, [EOS]: 9 }, 3: { [EOS]: 9 }, 9: {} };
    const inner: TokenConstraint = {
      start: () => 0,
      allowed: (s) => Int32Array.from(Object.keys(table[s] ?? {}).map(Number)),
      next: (s, t) => table[s]?.[t] ?? -1,
    };
    const m = new MultipleAnswers(inner, SEP, EOS);
    const allowed = (s: number) => [...m.allowed(s)].sort((a, b) => a - b);
    expect(allowed(0)).toEqual([5, 6]);
    expect(allowed(1)).toEqual([EOS, SEP]);
    expect(allowed(2)).toEqual([EOS, SEP, 7]);
    expect(allowed(3)).toEqual([EOS, SEP]);
    expect(m.next(1, SEP, 0)).toBe(0);
    expect(m.next(2, SEP, 0)).toBe(0);
    expect(m.next(0, SEP, 0)).toBe(-1); // no EOS at the start: no empty answer
    expect(m.next(2, 7, 0)).toBe(3);
    expect(m.next(1, 6, 0)).toBe(-1);
  });

  it("over a trie: after each prefix, exactly the tokens that continue some <SEP>-joined answer (brute force)", () => {
    const trie = TokenTrie.build(NAMES.map((n) => [...VERB, ...n, EOS]));
    const c = trieConstraint(trie, { rootTokens: VERB.length, sepTokenId: SEP, eosTokenId: EOS });
    // Every answer of up to three names: name (SEP name)* EOS.
    const answers: number[][] = [];
    const grow = (seq: number[], names: number): void => {
      answers.push([...seq, EOS]);
      if (names < 3) for (const n of NAMES) grow([...seq, SEP, ...n], names + 1);
    };
    for (const n of NAMES) grow([...n], 1);
    const prompt = [7, ...VERB];
    let withSep = 0;
    for (const prefix of prefixes(answers)) {
      // Prefixes inside the first two names: every continuation of them is among the enumerated answers.
      if (prefix.filter((t) => t === SEP).length >= 2) continue;
      const state = replay(c, prompt, prefix);
      expect([...c.allowed(state)].sort((a, b) => a - b), prefix.join(",")).toEqual(continuations(answers, prefix));
      if (prefix.includes(SEP)) withSep++;
    }
    expect(withSep).toBeGreaterThan(20);
    // Without a separator it is the trie alone.
    expect(trieConstraint(trie, { rootTokens: 2 })).toBeInstanceOf(TrieConstraint);
  });
});

describe("EndOfSequence", () => {
  it("ends a hypothesis at the tokenizer's EOS and at every id of generation_config's list, and sizes the candidates", () => {
    const end = new EndOfSequence(EOS, [128009, EOS]);
    expect([EOS, 128009].every((t) => end.ends(t))).toBe(true);
    expect([0, SEP, 128008].some((t) => end.ends(t))).toBe(false);
    // max(2, 1 + n_eos) x num_beams, n_eos counting distinct ids (transformers' eos_token_tensor).
    expect(end.candidatesPerStep(5)).toBe(15);
    expect(new EndOfSequence(EOS).candidatesPerStep(5)).toBe(10);
    expect(new EndOfSequence(EOS, [3, 4, 5]).candidatesPerStep(2)).toBe(10);
  });
});
