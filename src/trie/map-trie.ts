/**
 * The naive trie: one nested Map per node, like the GENRE / SynCABEL Python trie of nested dicts. Kept as the
 * memory baseline of the benchmark and as an obviously-correct oracle for TokenTrie in tests.
 */
export interface MapTrieNode {
  readonly children: Map<number, MapTrieNode>;
  complete: boolean;
}

function newNode(): MapTrieNode {
  return { children: new Map(), complete: false };
}

export class MapTrie {
  readonly root: MapTrieNode = newNode();
  sequenceCount = 0;
  nodeCount = 1;

  static build(sequences: Iterable<ArrayLike<number>>): MapTrie {
    const trie = new MapTrie();
    for (const seq of sequences) trie.add(seq);
    return trie;
  }

  add(seq: ArrayLike<number>): void {
    let node = this.root;
    for (let i = 0; i < seq.length; i++) {
      let next = node.children.get(seq[i]);
      if (next === undefined) {
        next = newNode();
        node.children.set(seq[i], next);
        this.nodeCount++;
      }
      node = next;
    }
    if (!node.complete) {
      node.complete = true;
      this.sequenceCount++;
    }
  }

  private find(prefix: ArrayLike<number>): MapTrieNode | undefined {
    let node: MapTrieNode | undefined = this.root;
    for (let i = 0; i < prefix.length && node !== undefined; i++) node = node.children.get(prefix[i]);
    return node;
  }

  /** Allowed next tokens, sorted ascending (empty when `prefix` is not a prefix). */
  next(prefix: ArrayLike<number>): number[] {
    const node = this.find(prefix);
    return node === undefined ? [] : [...node.children.keys()].sort((a, b) => a - b);
  }

  isComplete(prefix: ArrayLike<number>): boolean {
    return this.find(prefix)?.complete ?? false;
  }
}
