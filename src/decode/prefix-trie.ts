/** What constrained decoding needs from a token trie (src/trie/TokenTrie satisfies it). */
export interface PrefixTrie {
  readonly root: number;
  /** Child node reached by `token`, or -1. */
  child(node: number, token: number): number;
  /** Sorted token ids of the children of `node`. */
  childTokens(node: number): Int32Array;
}

/**
 * Per-sentence decoding constraint (GENRE-style prefix_allowed_tokens_fn, conventions section 3), tracked as a
 * trie node per beam instead of re-walking the prefix at every step.
 */
export interface TrieConstraint {
  readonly trie: PrefixTrie;
  /** Multiple-answers mode: `<SEP>` is allowed wherever EOS is, and restarts where the first name started. */
  readonly sepTokenId?: number | null;
  /**
   * How many of the prompt's last tokens the trie's sequences start with: the tokens of `" {verb}"` (default 1).
   * A verb the tokenizer splits (" corresponde" -> " correspond", "e") is 2.
   */
  readonly rootTokens?: number;
}
