/**
 * The lexical linker (`linker: "tfidf"`): scispaCy's candidate generator (TF-IDF over word-bounded character
 * 3-grams of KB names, exact cosine nearest neighbours) restricted to the mention's group. It needs no model, so
 * it is the default of `syncabel link` without `--model`. The index is built once and stored in the KB index file.
 */
import { asSyncabelError, SyncabelError } from "../errors.js";
import { requireKnownGroup } from "../data/mention-queries.js";
import { getLargeArtifact, putLargeArtifact } from "../kb/artifact-chunks.js";
import type { KnowledgeBase } from "../kb/types.js";
import { LexicalIndex, type LexicalEntry } from "../lexical/lexical-index.js";
import { sampleSentences } from "./sample.js";
import { errorOf } from "./sentence-results.js";
import type { Beam, Linker, LinkOptions, LinkResult, MentionQuery, SampleOptions, SampleResult } from "./types.js";

/** Artefact key of the lexical index inside the KB index file (bump the suffix when the format changes). */
export const TFIDF_ARTIFACT_KEY = "lexical/tfidf-char-wb-3/v1";

export const DEFAULT_NUM_CANDIDATES = 5;

export interface TfidfIndexLoad {
  readonly index: LexicalIndex;
  /** True when the index was built now (no usable artefact was stored). */
  readonly built: boolean;
  /** Why a stored artefact could not be saved (a read-only KB file); the index still works in memory. */
  readonly persistError?: string;
}

function matchesKb(index: LexicalIndex, kb: KnowledgeBase): boolean {
  const stats = kb.stats().groups;
  const sizes = index.sizes();
  const groups = kb.groups();
  return groups.length === Object.keys(sizes).length && groups.every((g) => sizes[g] === stats[g]?.names);
}

/** Build the lexical index of a KB from its names (every group), without storing it. */
export function buildLexicalIndex(kb: KnowledgeBase): LexicalIndex {
  const byGroup = new Map<string, LexicalEntry[]>();
  for (const group of kb.groups()) {
    const entries: LexicalEntry[] = [];
    for (const e of kb.entriesOfGroup(group)) entries.push({ name: e.name, code: e.code, codes: e.codes });
    byGroup.set(group, entries);
  }
  if ([...byGroup.values()].every((e) => e.length === 0)) throw new SyncabelError("KB_EMPTY", "the knowledge base has no names to index");
  return LexicalIndex.build(byGroup);
}

/**
 * The KB's stored lexical index, or a new one built and stored (once) when there is none, it is unreadable, or
 * its group sizes no longer match the KB.
 */
export function loadOrBuildLexicalIndex(kb: KnowledgeBase, options: { rebuild?: boolean } = {}): TfidfIndexLoad {
  if (!options.rebuild) {
    const bytes = getLargeArtifact(kb, TFIDF_ARTIFACT_KEY);
    if (bytes !== undefined) {
      try {
        const index = LexicalIndex.deserialize(bytes);
        if (matchesKb(index, kb)) return { index, built: false };
      } catch {
        // A corrupt or old artefact is rebuilt below.
      }
    }
  }
  const index = buildLexicalIndex(kb);
  try {
    putLargeArtifact(kb, TFIDF_ARTIFACT_KEY, index.serialize());
    return { index, built: true };
  } catch (e) {
    return { index, built: true, persistError: asSyncabelError(e).message };
  }
}

export class TfidfLinker implements Linker {
  readonly kind = "tfidf";
  private readonly groups: readonly string[];

  constructor(readonly index: LexicalIndex) {
    this.groups = index.groupNames();
  }

  /** A linker over a KB's stored (or newly built and stored) lexical index. The KB stays open: the caller owns it. */
  static fromKnowledgeBase(kb: KnowledgeBase, options: { rebuild?: boolean } = {}): TfidfLinker {
    return new TfidfLinker(loadOrBuildLexicalIndex(kb, options).index);
  }

  /** The k best distinct codes for a mention of a group, as beams (beam_score = cosine). */
  linkMention(mention: string, group: string, k = DEFAULT_NUM_CANDIDATES): Beam[] {
    return this.index.search(mention, group, k).map((c) => ({
      mention,
      semantic_group: group,
      pred_concept_name: c.name,
      pred_concept_code: c.code,
      beam_score: c.score,
      pred_concept_codes: c.codes,
    }));
  }

  /** The k best codes of each query's mention text in its group (document context is not used). */
  async link(queries: readonly MentionQuery[], options: LinkOptions = {}): Promise<LinkResult[]> {
    const k = options.numBeams ?? DEFAULT_NUM_CANDIDATES;
    if (!Number.isInteger(k) || k < 1) {
      throw new SyncabelError("LINKER_INVALID_OPTIONS", `num_beams must be a positive integer, got ${k}`, { num_beams: k });
    }
    return queries.map((q): LinkResult => {
      try {
        requireKnownGroup(q, this.groups);
        return { beams: this.linkMention(q.mention, q.group, k) };
      } catch (e) {
        return errorOf(e, "REQUEST_INVALID");
      }
    });
  }

  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }

  async close(): Promise<void> {
    // Nothing to release: the index is plain memory and the KB belongs to the caller.
  }
}
