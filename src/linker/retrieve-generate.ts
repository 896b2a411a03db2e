/**
 * Retrieve-then-generate (`linker: "retrieve-generate"`): a model-free retriever proposes the top-K concepts of the
 * mention's group (the hybrid linker's reranked candidates when the KB holds a trained one, else TF-IDF), then the
 * language model ranks their names under the SynCABEL prompt (conventions, sections 2-4):
 *  - mode "score" (default): the exact num_beams best names by teacher-forced score, the number constrained beam
 *    search would give each name, without beam pruning (src/decode/candidate-scoring.ts);
 *  - mode "beam": constrained beam search over a trie of the K names only.
 * Ranking: the LM score, plus `retrieverWeight` x the retriever's score when a weight was fitted on training data
 * (src/linker/retrieve-generate-fit.ts); default weight 0, pure LM score. `beam_score` = exp(LM score).
 */
import { isSyncabelError, SyncabelError } from "../errors.js";
import { beamSearch } from "../decode/beam-search.js";
import { trieConstraint } from "../decode/token-constraints.js";
import { scoreCandidates, scoreTopCandidates } from "../decode/candidate-scoring.js";
import type { KnowledgeBase } from "../kb/types.js";
import type { LexicalIndex } from "../lexical/lexical-index.js";
import type { CausalLM, TextTokenizer } from "../lm/types.js";
import { requireKnownGroup } from "../data/mention-queries.js";
import { TokenTrie } from "../trie/token-trie.js";
import { DEFAULT_MAX_PROMPT_TOKENS } from "./generative-linker.js";
import type { HybridLinker } from "./hybrid-linker.js";
import { queriesOfSentences, sampleSentences } from "./sample.js";
import { errorOf } from "./sentence-results.js";
import type { Beam, Linker, LinkOptions, LinkResult, MentionQuery, SampleOptions, SampleResult, SentenceError } from "./types.js";
import { decoderOnlyScheme, type PromptScheme } from "./prompt-scheme.js";

/** One concept proposed by a retriever, with the name the model is asked to score. */
export interface RetrievedCandidate {
  readonly name: string;
  readonly code: string;
  /** Every code of the name. */
  readonly codes: readonly string[];
  /** The retriever's score (higher is better). */
  readonly score: number;
}

/** Any model-free candidate generator: the top-k concepts of a mention's group, best first. */
export interface CandidateRetriever {
  retrieve(query: MentionQuery, k: number): readonly RetrievedCandidate[];
}

/** The TF-IDF lexical index as a retriever (the mention text against the names of its group). */
export function lexicalRetriever(index: LexicalIndex): CandidateRetriever {
  return { retrieve: (query, k) => index.search(query.mention, query.group, k) };
}

/**
 * The hybrid linker's reranked candidates as a retriever (score = reranker score). The model scores, for each code,
 * the KB name that matched the mention best (the style of the training targets), else the code's first KB name;
 * composite training answers (`a+b`) and codes without a KB name in the group are left out: constrained decoding
 * could not generate them either.
 */
export function hybridRetriever(hybrid: Pick<HybridLinker, "candidates">, kb: Pick<KnowledgeBase, "lookup">): CandidateRetriever {
  return {
    retrieve(query, k) {
      const out: RetrievedCandidate[] = [];
      // The whole query: the hybrid linker also reads the sentence context and the document context.
      for (const c of hybrid.candidates(query, k)) {
        if (c.code.includes("+")) continue;
        const entry = [c.matched, c.name].map((n) => kb.lookup(n, query.group)).find((e) => e?.codes.includes(c.code));
        if (entry) out.push({ name: entry.name, code: c.code, codes: entry.codes, score: c.score });
      }
      return out;
    },
  };
}

export type RetrieveGenerateMode = "score" | "beam";

export const DEFAULT_RG_CANDIDATES = 64;

export interface RetrieveGenerateParts {
  readonly kb: KnowledgeBase;
  readonly lm: CausalLM;
  readonly tokenizer: TextTokenizer;
  readonly verb: string;
  readonly retriever: CandidateRetriever;
  /** Concepts retrieved per mention (default 64). */
  readonly candidates?: number;
  readonly mode?: RetrieveGenerateMode;
  /** Weight of the retriever's score added to the LM score for ranking (default 0: pure LM score). */
  readonly retrieverWeight?: number;
  /** Ids that end generation besides the tokenizer's EOS (beam mode). */
  readonly eosTokenIds?: readonly number[];
  /** Most sequences the model runs at once when scoring (bounds memory; default 256). */
  readonly maxRows?: number;
  /** Close the KB and the model with the linker (default true). */
  readonly owns?: boolean;
  /** How sentences become model inputs and names tokens (default: the decoder-only prompt; seq2seq: #19). */
  readonly scheme?: PromptScheme;
}

/** A retrieved name the model can score: its tokens after the verb (EOS included). */
export interface ScorableCandidate extends RetrievedCandidate {
  readonly continuation: readonly number[];
}

/** One mention with its prompt and candidates, ready for the model. */
export interface PreparedMention {
  readonly index: number;
  readonly query: MentionQuery;
  readonly prompt: readonly number[];
  /** Encoder-decoder models: the source tokens. */
  readonly encoderInput?: readonly number[];
  readonly candidates: readonly ScorableCandidate[];
}

/** A candidate with the model's score of its name. */
export interface ScoredCandidate extends ScorableCandidate {
  readonly lmScore: number;
}

/** The trie tokens of a name, or null when they do not continue the prompt (no trie could hold the name). */
function nameSequence(scheme: PromptScheme, name: string): number[] | null {
  try {
    return scheme.names.sequence(name);
  } catch (e) {
    if (isSyncabelError(e) && e.code === "TRIE_BUILD_FAILED") return null;
    throw e;
  }
}

/** The encoder input of a mention, when the model has an encoder. */
function encoderOf(m: PreparedMention): { encoderInput?: readonly number[] } {
  return m.encoderInput ? { encoderInput: m.encoderInput } : {};
}

function sameTail(seq: readonly number[], tail: readonly number[]): boolean {
  if (tail.length > seq.length) return false;
  for (let i = 0; i < tail.length; i++) if (seq[seq.length - tail.length + i] !== tail[i]) return false;
  return true;
}

export class RetrieveGenerateLinker implements Linker {
  readonly kind = "retrieve-generate";
  private queue: Promise<unknown> = Promise.resolve();
  private readonly groups: ReadonlySet<string>;
  /** Tokens of `" {verb}"`: the prompt's last tokens and every trie name's first ones. */
  private readonly verbTokens: readonly number[];
  private readonly scheme: PromptScheme;

  constructor(private readonly parts: RetrieveGenerateParts) {
    this.groups = new Set(parts.kb.groups());
    this.scheme = parts.scheme ?? decoderOnlyScheme(parts.tokenizer, parts.verb);
    this.verbTokens = this.scheme.names.root;
    const k = parts.candidates ?? DEFAULT_RG_CANDIDATES;
    if (!Number.isInteger(k) || k < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `candidates must be a positive integer, got ${k}`, { candidates: k });
    if (this.verbTokens.length === 0) throw new SyncabelError("LINKER_INVALID_OPTIONS", `the verb ${JSON.stringify(parts.verb)} encodes to no token`, { verb: parts.verb });
    if (!Number.isFinite(parts.retrieverWeight ?? 0)) throw new SyncabelError("LINKER_INVALID_OPTIONS", `retrieverWeight must be finite, got ${parts.retrieverWeight}`);
  }

  /** Calls are queued: the model decodes one batch at a time. */
  link(queries: readonly MentionQuery[], options: LinkOptions = {}): Promise<LinkResult[]> {
    return this.enqueue(() => this.linkNow(queries, options));
  }

  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async linkNow(queries: readonly MentionQuery[], options: LinkOptions): Promise<LinkResult[]> {
    const numBeams = options.numBeams ?? 5;
    const batchSize = options.batchSize ?? 8;
    if (options.constrained === false) throw new SyncabelError("LINKER_INVALID_OPTIONS", "the retrieve-generate linker only ranks retrieved KB names: constrained must stay true");
    if (!Number.isInteger(numBeams) || numBeams < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `num_beams must be a positive integer, got ${numBeams}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `batch_size must be a positive integer, got ${batchSize}`);
    const maxPrompt = options.maxPromptTokens ?? DEFAULT_MAX_PROMPT_TOKENS;
    if (!Number.isInteger(maxPrompt) || maxPrompt < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `max_prompt_tokens must be a positive integer, got ${maxPrompt}`);
    const results: LinkResult[] = new Array(queries.length);
    const maxNew = options.maxNewTokens ?? 128;
    if (!Number.isInteger(maxNew) || maxNew < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `max_new_tokens must be a positive integer, got ${maxNew}`);
    // A name longer than max_new_tokens could not be generated whole: it is not a candidate.
    const prepared = this.prepareAll(queries, maxPrompt, (i, r) => (results[i] = r)).map((m) => ({
      ...m,
      candidates: m.candidates.filter((c) => c.continuation.length <= maxNew),
    }));
    const scored = await this.scoreMentions(prepared, numBeams, batchSize, maxNew);
    prepared.forEach((m, i) => {
      results[m.index] = { beams: this.rank(scored[i]).slice(0, numBeams).map((c) => this.toBeam(m.query, c)) };
    });
    return results;
  }

  /**
   * Every retrieved candidate of each sentence with its exact LM score, in the retriever's order (material for
   * fitting the retriever weight on training sentences); a sentence that cannot be linked gets its error.
   */
  candidateScores(sentences: readonly string[]): Promise<(readonly ScoredCandidate[] | SentenceError)[]> {
    return this.enqueue(async () => {
      const out: (readonly ScoredCandidate[] | SentenceError)[] = new Array(sentences.length);
      const { queries, at } = queriesOfSentences(sentences, (i, error) => (out[i] = error));
      const prepared = this.prepareAll(queries, DEFAULT_MAX_PROMPT_TOKENS, (i, r) => (out[at[i] as number] = r.error!));
      const scored = await this.scoreAll(prepared);
      prepared.forEach((m, i) => (out[at[m.index] as number] = scored[i]));
      return out;
    });
  }

  /** The exact LM score of every candidate of every mention. */
  private async scoreAll(mentions: readonly PreparedMention[]): Promise<ScoredCandidate[][]> {
    const inputs = mentions.map((m) => ({ prompt: m.prompt, ...encoderOf(m), continuations: m.candidates.map((c) => c.continuation) }));
    const scores = await scoreCandidates(this.parts.lm, inputs, this.scoringOptions());
    return mentions.map((m, i) => m.candidates.map((c, j) => ({ ...c, lmScore: scores[i][j].score })));
  }

  /** The exact `top` best candidates of every mention by the ranking key; prefixes that cannot reach them are skipped. */
  private async scoreTop(mentions: readonly PreparedMention[], top: number): Promise<ScoredCandidate[][]> {
    const w = this.parts.retrieverWeight ?? 0;
    const inputs = mentions.map((m) => ({ prompt: m.prompt, ...encoderOf(m), continuations: m.candidates.map((c) => c.continuation), bonuses: m.candidates.map((c) => w * c.score) }));
    const ranked = await scoreTopCandidates(this.parts.lm, inputs, top, this.scoringOptions());
    return mentions.map((m, i) => ranked[i].map((r) => ({ ...m.candidates[r.index], lmScore: r.score })));
  }

  private scoringOptions(): { maxRows?: number } {
    return this.parts.maxRows === undefined ? {} : { maxRows: this.parts.maxRows };
  }

  /** `prepare` every query; a query that fails goes to `failed` with its error result. */
  private prepareAll(queries: readonly MentionQuery[], maxPromptTokens: number, failed: (index: number, result: LinkResult) => void): PreparedMention[] {
    const prepared: PreparedMention[] = [];
    queries.forEach((query, index) => {
      try {
        prepared.push(this.prepare(query, index, maxPromptTokens));
      } catch (e) {
        failed(index, errorOf(e));
      }
    });
    return prepared;
  }

  /** Build the model inputs, retrieve candidates and tokenise their names (errors are the mention's own). */
  prepare(query: MentionQuery, index: number, maxPromptTokens = DEFAULT_MAX_PROMPT_TOKENS): PreparedMention {
    const { verb } = this.parts;
    requireKnownGroup(query, this.groups);
    const { prompt, encoderInput } = this.scheme.inputs(query, maxPromptTokens);
    if (!sameTail(prompt, this.verbTokens)) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", `the prompt does not end with the tokens of " ${verb}" (${this.verbTokens.join(",")}): names cannot be scored after it`, { verb });
    }
    const seen = new Set<string>();
    const candidates: ScorableCandidate[] = [];
    for (const c of this.parts.retriever.retrieve(query, this.parts.candidates ?? DEFAULT_RG_CANDIDATES)) {
      // One LM score per name: a name shared by several codes keeps the retriever's first (best) code.
      if (seen.has(c.name)) continue;
      seen.add(c.name);
      const seq = nameSequence(this.scheme, c.name);
      // A name whose tokens merge with the verb's is not in the group trie either: it cannot be generated.
      if (seq === null || seq.length <= this.verbTokens.length || !this.verbTokens.every((t, i) => seq[i] === t)) continue;
      candidates.push({ ...c, continuation: seq.slice(this.verbTokens.length) });
    }
    return { index, query, prompt, ...(encoderInput ? { encoderInput } : {}), candidates };
  }

  /** The LM score of every candidate (mode "score") or of those beam search over their trie finds (mode "beam"). */
  async scoreMentions(mentions: readonly PreparedMention[], numBeams: number, batchSize: number, maxNewTokens?: number): Promise<ScoredCandidate[][]> {
    const mode = this.parts.mode ?? "score";
    if (mode === "score") return this.scoreTop(mentions, numBeams);
    const out: ScoredCandidate[][] = mentions.map(() => []);
    const todo = mentions.map((m, i) => ({ m, i })).filter(({ m }) => m.candidates.length > 0);
    for (let start = 0; start < todo.length; start += batchSize) {
      const batch = todo.slice(start, start + batchSize);
      const outputs = await beamSearch(this.parts.lm, batch.map(({ m }) => ({ prompt: m.prompt, ...encoderOf(m), constraint: trieConstraint(this.candidateTrie(m), { rootTokens: this.verbTokens.length }) })), {
        numBeams,
        maxNewTokens: maxNewTokens ?? 128,
        eosTokenId: this.parts.tokenizer.eosTokenId,
        ...(this.parts.eosTokenIds === undefined ? {} : { eosTokenIds: this.parts.eosTokenIds }),
      });
      batch.forEach(({ m, i }, b) => {
        const byTokens = new Map(m.candidates.map((c) => [c.continuation.slice(0, -1).join(","), c]));
        for (const h of outputs[b].hypotheses ?? []) {
          const c = h.finished ? byTokens.get(h.tokens.join(",")) : undefined;
          if (c) out[i].push({ ...c, lmScore: h.score });
        }
      });
    }
    return out;
  }

  /** Trie of the candidates' full sequences (verb tokens first), as the group trie holds them. */
  private candidateTrie(m: PreparedMention): TokenTrie {
    return TokenTrie.build(m.candidates.map((c) => [...this.verbTokens, ...c.continuation]));
  }

  /** Best first: LM score (+ weighted retriever score); ties keep the retriever's order. Unreachable names dropped. */
  private rank(candidates: readonly ScoredCandidate[]): ScoredCandidate[] {
    const w = this.parts.retrieverWeight ?? 0;
    const key = (c: ScoredCandidate): number => c.lmScore + (w === 0 ? 0 : w * c.score);
    return candidates
      .map((c, order) => ({ c, order, key: key(c) }))
      .filter((x) => Number.isFinite(x.key))
      .sort((a, b) => b.key - a.key || a.order - b.order)
      .map((x) => x.c);
  }

  private toBeam(query: MentionQuery, c: ScoredCandidate): Beam {
    return {
      mention: query.mention,
      semantic_group: query.group,
      pred_concept_name: c.name,
      pred_concept_code: c.code,
      beam_score: Math.exp(c.lmScore),
      pred_concept_codes: c.codes,
    };
  }

  async close(): Promise<void> {
    if (this.parts.owns ?? true) {
      await this.parts.lm.dispose();
      this.parts.kb.close();
    }
  }
}
