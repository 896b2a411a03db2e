/** What constrained decoding needs from a token trie (src/trie/TokenTrie satisfies it). */
export interface PrefixTrie {
  readonly root: number;
  /** Child node reached by `token`, or -1. */
  child(node: number, token: number): number;
  /** Sorted token ids of the children of `node`. */
  childTokens(node: number): Int32Array;
}
