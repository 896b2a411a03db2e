/**
 * Decoding constraints as small units (conventions, section 3), in the style of transformers.js logits
 * processors: each unit does one thing and units compose by wrapping. Unlike a logits processor a unit does not mask
 * a full-vocabulary row: a beam's place in the constraint is one integer state, and the tokens a unit allows are
 * the only logits the model backend hands over (src/lm/types.ts, LogitRequest).
 *
 * - TrieConstraint: the names of the mention's group (a GENRE-style prefix trie rooted at the prompt's verb).
 * - MultipleAnswers: `<SEP>` wherever EOS is allowed; after it the next name starts where the first one did.
 * - EndOfSequence: which tokens end a hypothesis (generation_config's eos_token_id list) and so how many candidates
 *   a step keeps. A hypothesis leaves the beam at its end token, so "after EOS only EOS/padding" never has to be asked.
 */
import { SyncabelError } from "../errors.js";
import type { PrefixTrie } from "./prefix-trie.js";

/** Which tokens a beam may take next, as a function of one integer state per beam. */
export interface TokenConstraint {
  /** The state after `prompt` (where every answer starts), or -1 when the prompt cannot start this constraint. */
  start(prompt: readonly number[]): number;
  /** Token ids allowed in `state` (a view: do not modify); empty when none is. */
  allowed(state: number): Int32Array;
  /** The state after taking `token` in `state`, or -1 when `token` is not allowed there. `start`: start(prompt). */
  next(state: number, token: number, start: number): number;
}

/** The names of a prefix trie whose sequences begin with the prompt's last `rootTokens` tokens (the verb's). */
export class TrieConstraint implements TokenConstraint {
  constructor(
    readonly trie: PrefixTrie,
    /** Tokens of `" {verb}"` that end the prompt and start every trie sequence (2 for " corresponde"). */
    readonly rootTokens = 1,
  ) {}

  start(prompt: readonly number[]): number {
    let node = this.trie.root;
    for (let i = Math.max(0, prompt.length - this.rootTokens); i < prompt.length && node >= 0; i++) node = this.trie.child(node, prompt[i]);
    return prompt.length < this.rootTokens ? -1 : node;
  }

  allowed(node: number): Int32Array {
    return node < 0 ? EMPTY : this.trie.childTokens(node);
  }

  next(node: number, token: number): number {
    return node < 0 ? -1 : this.trie.child(node, token);
  }
}

/** Multiple-answers mode: `<SEP>` is allowed wherever EOS is, and after it the next answer starts afresh. */
export class MultipleAnswers implements TokenConstraint {
  constructor(
    readonly inner: TokenConstraint,
    readonly sepTokenId: number,
    /** The EOS that ends an answer in `inner` (the trie's EOS). */
    readonly eosTokenId: number,
  ) {}

  start(prompt: readonly number[]): number {
    return this.inner.start(prompt);
  }

  allowed(state: number): Int32Array {
    const tokens = this.inner.allowed(state);
    if (!tokens.includes(this.eosTokenId) || tokens.includes(this.sepTokenId)) return tokens;
    const out = new Int32Array(tokens.length + 1);
    out.set(tokens);
    out[tokens.length] = this.sepTokenId;
    return out;
  }

  next(state: number, token: number, start: number): number {
    const inner = this.inner.next(state, token, start);
    if (token !== this.sepTokenId || inner >= 0) return inner;
    return this.inner.allowed(state).includes(this.eosTokenId) ? start : -1;
  }
}

/** The tokens that end a hypothesis, as transformers' EosTokenCriteria: the tokenizer's EOS plus generation_config's list. */
export class EndOfSequence {
  private readonly ids: ReadonlySet<number>;

  constructor(eosTokenId: number, more: readonly number[] = []) {
    this.ids = new Set([eosTokenId, ...more]);
  }

  ends(token: number): boolean {
    return this.ids.has(token);
  }

  /** Candidates a step keeps: max(2, 1 + n_eos) x numBeams, so that numBeams of them can go on even if all others end. */
  candidatesPerStep(numBeams: number): number {
    return Math.max(2, 1 + this.ids.size) * numBeams;
  }
}

/** The constraint of one mention (conventions, section 3): its group's trie, with `<SEP>` joining names when given. */
export function trieConstraint(trie: PrefixTrie, options: { readonly rootTokens?: number; readonly sepTokenId?: number | null; readonly eosTokenId?: number } = {}): TokenConstraint {
  const names = new TrieConstraint(trie, options.rootTokens ?? 1);
  const sep = options.sepTokenId;
  if (sep === undefined || sep === null) return names;
  if (options.eosTokenId === undefined) throw new SyncabelError("DECODE_INVALID_OPTIONS", "multiple answers need the EOS id that ends a name");
  return new MultipleAnswers(names, sep, options.eosTokenId);
}

const EMPTY = new Int32Array(0);
