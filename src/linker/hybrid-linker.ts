/**
 * The hybrid linker (`linker: "hybrid"`): candidates from character TF-IDF, word BM25 and the training memory
 * (src/linker/hybrid-features.ts), ranked by the learned reranker stored in the KB index (`syncabel train-linker`).
 * No model, no GPU: the default of `syncabel link` when the KB index holds a trained reranker.
 */
import { SyncabelError } from "../errors.js";
import { queryOfSentence, requireKnownGroup } from "../data/mention-queries.js";
import { readTrainingMentions } from "../kb/mentions.js";
import type { KnowledgeBase } from "../kb/types.js";
import { candidatesOf, FEATURE_NAMES, type Candidate, type HybridQuery } from "./hybrid-features.js";
import { HybridIndex, type KbName } from "./hybrid-index.js";
import { Reranker, type RerankerJson, type RerankerOptions } from "./reranker.js";
import { sampleSentences } from "./sample.js";
import { errorOf } from "./sentence-results.js";
import type { Beam, Linker, LinkOptions, LinkResult, MentionQuery, SampleOptions, SampleResult } from "./types.js";

/** Artefact key of the trained hybrid model inside the KB index file. */
export const HYBRID_ARTIFACT_KEY = "linker/hybrid/v1";
export const DEFAULT_TOP_K = 64;

/** What `train-linker` stores (JSON) under HYBRID_ARTIFACT_KEY. */
export interface HybridModelJson {
  readonly format: "syncabel-hybrid";
  readonly version: 1;
  readonly language: string;
  readonly perRetriever: number;
  readonly restrictToKb: boolean;
  readonly featureNames: readonly string[];
  readonly reranker: RerankerJson;
  readonly seed: number;
  readonly chosen: RerankerOptions;
  readonly cv: readonly { readonly options: RerankerOptions; readonly recallAt1: number }[];
  readonly training: { readonly mentions: number; readonly documents: number; readonly sources: readonly string[]; readonly candidateRecall: number };
}

/** One scored candidate concept of a mention (the API retrieve-then-generate builds on). */
export interface HybridCandidate {
  /** KB code; a composite training answer joins its codes with `+`. */
  readonly code: string;
  /** Display name of the code (its first KB name, else its most frequent training mention). */
  readonly name: string;
  /** The code's name that matched the mention best. */
  readonly matched: string;
  /** Reranker score (higher is better) and its softmax over the returned candidates. */
  readonly score: number;
  readonly probability: number;
  readonly features: Readonly<Record<string, number>>;
}

/** Every KB name as the hybrid index takes it. */
export function kbNamesOf(kb: KnowledgeBase): KbName[] {
  const out: KbName[] = [];
  for (const group of kb.groups()) for (const e of kb.entriesOfGroup(group)) out.push({ name: e.name, group, codes: e.codes });
  return out;
}

/** The stored hybrid model of a KB index, when `train-linker` stored one. */
export function readHybridModel(kb: KnowledgeBase): HybridModelJson | undefined {
  const bytes = kb.getArtifact(HYBRID_ARTIFACT_KEY);
  if (bytes === undefined) return undefined;
  let model: HybridModelJson;
  try {
    model = JSON.parse(Buffer.from(bytes).toString("utf8")) as HybridModelJson;
  } catch (e) {
    throw new SyncabelError("KB_INDEX_INVALID", `the hybrid linker model stored in the KB index is unreadable: ${(e as Error).message}; re-run 'syncabel train-linker'`, {}, { cause: e });
  }
  if (model.format !== "syncabel-hybrid" || model.version !== 1) {
    throw new SyncabelError("KB_INDEX_INVALID", `the hybrid linker model stored in the KB index is of another format/version (${String(model.format)}/${String(model.version)}); re-run 'syncabel train-linker'`);
  }
  if (model.featureNames.join(",") !== FEATURE_NAMES.join(",")) {
    throw new SyncabelError("KB_INDEX_INVALID", "the hybrid linker model stored in the KB index was trained with other features; re-run 'syncabel train-linker'");
  }
  return model;
}

/** The stored hybrid model, or the error that says to run train-linker. */
export function requireHybridModel(kb: KnowledgeBase & { readonly path: string }): HybridModelJson {
  const model = readHybridModel(kb);
  if (model === undefined) throw new SyncabelError("LINKER_INVALID_OPTIONS", `${kb.path} holds no trained hybrid linker: train one first (trainLinker, the train-linker command) or use the tfidf linker`, { path: kb.path });
  return model;
}

export class HybridLinker implements Linker {
  readonly kind = "hybrid";
  private readonly groupList: readonly string[];

  constructor(readonly index: HybridIndex, readonly reranker: Reranker, readonly perRetriever = 64) {
    this.groupList = index.groups();
  }

  /** Open over a KB index with a stored model: the candidate index is built from its names and training memory. */
  static fromKnowledgeBase(kb: KnowledgeBase & { readonly path: string }): HybridLinker {
    const model = requireHybridModel(kb);
    const index = HybridIndex.build(kbNamesOf(kb), readTrainingMentions(kb.path), { language: model.language, restrictToKb: model.restrictToKb });
    return new HybridLinker(index, Reranker.fromJSON(model.reranker), model.perRetriever);
  }

  groups(): readonly string[] {
    return this.groupList;
  }

  /**
   * The k best candidate concepts of a mention, best first. `query` is a marked sentence (`... [mention]{GROUP}
   * ...`), a mention query (src/data/mention-queries.ts), or a bare mention with its group.
   */
  candidates(query: string | HybridQuery, k = DEFAULT_TOP_K): HybridCandidate[] {
    return this.ranked(query, k).map(({ c, score, probability }) => ({
      code: c.code,
      name: c.name,
      matched: c.matched,
      score,
      probability,
      features: Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, c.features[i] as number])),
    }));
  }

  /** `candidates` without the per-candidate feature records (building them was a fifth of linking time). */
  private ranked(query: string | HybridQuery, k: number): { c: Candidate; score: number; probability: number }[] {
    const q = typeof query === "string" ? this.parse(query) : query;
    if (!this.index.group(q.group)) {
      throw new SyncabelError("MARKUP_UNKNOWN_GROUP", `unknown group ${JSON.stringify(q.group)} (known: ${this.groupList.join(", ")})`, { group: q.group });
    }
    const scored = candidatesOf(this.index, q, { perRetriever: this.perRetriever }).map((c) => ({ c, score: this.reranker.score(c.features, q.group) }));
    scored.sort((a, b) => b.score - a.score || (a.c.code < b.c.code ? -1 : a.c.code > b.c.code ? 1 : 0));
    const top = scored.slice(0, Math.max(0, k));
    const max = top[0]?.score ?? 0;
    let total = 0;
    for (const s of top) total += Math.exp(s.score - max);
    return top.map(({ c, score }) => ({ c, score, probability: Math.exp(score - max) / total }));
  }

  private parse(sentence: string): MentionQuery {
    const q = queryOfSentence(sentence);
    requireKnownGroup(q, this.groupList);
    return q;
  }

  /** Beams of a mention: the k best candidates, beam_score = softmax probability among the returned ones. */
  linkMention(query: string | HybridQuery, k = 5): Beam[] {
    const q = typeof query === "string" ? this.parse(query) : query;
    return this.ranked(q, k).map(({ c, probability }) => ({
      mention: q.mention,
      semantic_group: q.group,
      pred_concept_name: c.name,
      pred_concept_code: c.code,
      beam_score: probability,
      pred_concept_codes: c.code.split("+"),
    }));
  }

  /** Each query ranked with its sentence context and document context (expansion, other mentions). */
  async link(queries: readonly MentionQuery[], options: LinkOptions = {}): Promise<LinkResult[]> {
    const k = options.numBeams ?? 5;
    if (!Number.isInteger(k) || k < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `num_beams must be a positive integer, got ${k}`, { num_beams: k });
    return queries.map((q): LinkResult => {
      try {
        requireKnownGroup(q, this.groupList);
        return { beams: this.linkMention(q, k) };
      } catch (e) {
        return errorOf(e, "REQUEST_INVALID");
      }
    });
  }

  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }

  async close(): Promise<void> {
    // Plain memory: nothing to release.
  }
}
