import type { KnowledgeBase } from "../kb/types.js";
import { sparseDot, type SparseVector } from "../lexical/sparse.js";
import { TfidfCharVectorizer } from "../lexical/tfidf-vectorizer.js";

/**
 * The training target of a mention (conventions, section 7): among the code's KB names, the one most
 * similar to the mention by TF-IDF cosine over word-bounded character 3-grams. The vectorizer is fitted
 * on every KB name (as the scispaCy-style candidate generator). Ties go to the earlier name (KB order).
 */
export class TargetNameSelector {
  private readonly cache = new Map<string, SparseVector>();

  constructor(private readonly vectorizer: TfidfCharVectorizer) {}

  static fitOnKnowledgeBase(kb: KnowledgeBase): TargetNameSelector {
    function* names(): Iterable<string> {
      for (const group of kb.groups()) for (const e of kb.entriesOfGroup(group)) yield e.name;
    }
    return new TargetNameSelector(TfidfCharVectorizer.fit(names()));
  }

  private vector(name: string): SparseVector {
    let v = this.cache.get(name);
    if (v === undefined) {
      v = this.vectorizer.transform(name);
      this.cache.set(name, v);
    }
    return v;
  }

  /** The best of `names` for `mention` (undefined when `names` is empty). */
  select(mention: string, names: readonly string[]): { name: string; score: number } | undefined {
    const m = this.vectorizer.transform(mention);
    let best: { name: string; score: number } | undefined;
    for (const name of names) {
      const score = sparseDot(m, this.vector(name));
      if (best === undefined || score > best.score) best = { name, score };
    }
    return best;
  }
}

/** The names a target may take for a code in a group: the group's names, else every name of the code. */
export function candidateNames(kb: KnowledgeBase, code: string, group: string): string[] {
  const all = kb.namesOfCode(code);
  const inGroup = all.filter((n) => n.group === group).map((n) => n.name);
  const pool = inGroup.length > 0 ? inGroup : all.map((n) => n.name);
  return [...new Set(pool)];
}
