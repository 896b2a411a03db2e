import { isSyncabelError, SyncabelError } from "../errors.js";
import { beamSearch, streamBeamSearch, type BeamSearchInput, type BeamSearchOptions, type BeamSearchOutput, type EarlyStopping, type Hypothesis } from "../decode/beam-search.js";
import { trieConstraint, type TokenConstraint } from "../decode/token-constraints.js";
import type { KnowledgeBase } from "../kb/types.js";
import type { CausalLM, TextTokenizer } from "../lm/types.js";
import { requireKnownGroup } from "../data/mention-queries.js";
import { SEP_TOKEN, type MarkedSentence } from "../markup/index.js";
import { loadOrBuildKbTries } from "../trie/kb-tries.js";
import type { TokenTrie } from "../trie/token-trie.js";
import { decoderOnlyScheme, type PromptScheme } from "./prompt-scheme.js";
import { authorsAnswer, authorsCleanup, authorsCode, NO_PREDICTION, type AuthorsCleanup } from "./authors-output.js";
import { sampleSentences } from "./sample.js";
import { errorOf } from "./sentence-results.js";
import type { ContinuousLinker, ContinuousOptions, FedQuery, QueryFeed } from "./query-feed.js";
import { NO_CODE, type Beam, type Linker, type LinkOptions, type LinkResult, type MentionQuery, type SampleOptions, type SampleResult } from "./types.js";

export interface GenerativeLinkerParts {
  readonly kb: KnowledgeBase;
  readonly lm: CausalLM;
  readonly tokenizer: TextTokenizer;
  /** The copula ending every prompt (`es`, `est`, `is`). */
  readonly verb: string;
  /** Multiple-answers mode: `<SEP>` may join several names (composite mentions, as for SPACCC). */
  readonly multipleAnswers?: boolean;
  /** Ids that end generation besides the tokenizer's EOS (the model's generation_config). */
  readonly eosTokenIds?: readonly number[];
  /** generation_config's early_stopping (default false) and length_penalty (default 1): src/decode/beam-search.ts. */
  readonly earlyStopping?: EarlyStopping;
  readonly lengthPenalty?: number;
  /** Close the KB and the model with the linker (default true). */
  readonly owns?: boolean;
  /** How sentences become model inputs and names trie tokens (default: the decoder-only prompt; seq2seq: #19). */
  readonly scheme?: PromptScheme;
}

/** The published system generated with max_length 1024 (prompt + answer). */
export const DEFAULT_MAX_PROMPT_TOKENS = 1024;

interface Prepared {
  readonly index: number;
  readonly query: MentionQuery;
  readonly input: BeamSearchInput;
}

/**
 * The SynCABEL linker: prompt `{sentence}<SEP>[{mention}] {verb}`, beam search (trie-constrained to the mention's
 * group by default), generated names mapped to codes by exact lookup in the group (conventions, sections 2-6).
 */
export class GenerativeLinker implements Linker, ContinuousLinker {
  readonly kind = "generative";
  private tries: Map<string, TokenTrie> | undefined;
  private readonly scheme: PromptScheme;
  private cleanup: AuthorsCleanup | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly groups: ReadonlySet<string>;

  constructor(private readonly parts: GenerativeLinkerParts) {
    this.groups = new Set(parts.kb.groups());
    if (parts.multipleAnswers && parts.tokenizer.sepTokenId === null) {
      throw new SyncabelError("LINKER_INVALID_OPTIONS", `multiple-answers mode needs a ${SEP_TOKEN} token in the tokenizer`);
    }
    this.scheme = parts.scheme ?? decoderOnlyScheme(parts.tokenizer, parts.verb);
    if (this.scheme.encoderDecoder !== (parts.lm.encoderDecoder ?? false)) {
      throw new SyncabelError("LINKER_INVALID_OPTIONS", `the prompt scheme is for ${this.scheme.encoderDecoder ? "an encoder-decoder" : "a decoder-only"} model, the model is not`);
    }
  }

  /** Per-group tries, built once per (KB, tokenizer, verb) and cached in the KB index file. */
  private triesByGroup(): Map<string, TokenTrie> {
    this.tries ??= loadOrBuildKbTries(this.parts.kb, this.parts.tokenizer, this.parts.verb, { tokenization: this.scheme.names });
    return this.tries;
  }

  /** Tokens of the verb: the prompt ends with them and every trie sequence starts with them (2 for " corresponde"). */
  private verbTokenCount(): number {
    return this.scheme.names.root.length;
  }

  /**
   * Calls are queued: the model backend decodes one batch at a time (its caches are reused between steps), so
   * concurrent callers (e.g. HTTP requests) take turns instead of corrupting each other's state.
   */
  link(queries: readonly MentionQuery[], options: LinkOptions = {}): Promise<LinkResult[]> {
    const run = this.queue.then(() => this.linkNow(queries, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }

  /** Continuous batching (src/linker/query-feed.ts): mentions join the running decode between steps. */
  linkContinuously(feed: QueryFeed, options: ContinuousOptions = {}): Promise<void> {
    const run = this.queue.then(() => this.streamNow(feed, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private decodeSettings(options: ContinuousOptions): { constrained: boolean; numBeams: number; batchSize: number; maxPromptTokens: number } {
    const constrained = options.constrained ?? true;
    const numBeams = options.numBeams ?? 5;
    const batchSize = options.batchSize ?? 8;
    const maxPromptTokens = options.maxPromptTokens ?? DEFAULT_MAX_PROMPT_TOKENS;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `batch_size must be a positive integer, got ${batchSize}`);
    // NaN or a fraction would silently mean "no limit" in the comparison below.
    if (!Number.isInteger(maxPromptTokens) || maxPromptTokens < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `max_prompt_tokens must be a positive integer, got ${maxPromptTokens}`);
    return { constrained, numBeams, batchSize, maxPromptTokens };
  }

  private searchOptions(options: ContinuousOptions, numBeams: number): BeamSearchOptions {
    return {
      numBeams,
      maxNewTokens: options.maxNewTokens ?? 128,
      eosTokenId: this.parts.tokenizer.eosTokenId,
      ...(this.parts.eosTokenIds === undefined ? {} : { eosTokenIds: this.parts.eosTokenIds }),
      ...(this.parts.earlyStopping === undefined ? {} : { earlyStopping: this.parts.earlyStopping }),
      ...(this.parts.lengthPenalty === undefined ? {} : { lengthPenalty: this.parts.lengthPenalty }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    };
  }

  /** A query's model inputs and constraint; throws a typed error for a mention that cannot be linked. */
  private prepare(query: MentionQuery, constrained: boolean, maxPromptTokens: number): BeamSearchInput {
    const { tokenizer } = this.parts;
    requireKnownGroup(query, this.groups);
    const { prompt, encoderInput } = this.scheme.inputs(query, maxPromptTokens);
    let constraint: TokenConstraint | undefined;
    if (constrained) {
      const trie = this.triesByGroup().get(query.group);
      if (trie === undefined) throw new SyncabelError("MARKUP_UNKNOWN_GROUP", `the group ${query.group} has no names in the knowledge base`, { group: query.group });
      const sepTokenId = this.parts.multipleAnswers ? tokenizer.sepTokenId : null;
      constraint = trieConstraint(trie, { rootTokens: this.verbTokenCount(), sepTokenId, eosTokenId: tokenizer.eosTokenId });
    }
    return { prompt, constraint, ...(encoderInput ? { encoderInput } : {}) };
  }

  private resultOf(query: MentionQuery, input: BeamSearchInput, out: BeamSearchOutput): LinkResult {
    return out.error ? errorOf(out.error) : { beams: out.hypotheses.map((h) => this.toBeam(query, input, h)) };
  }

  private async linkNow(queries: readonly MentionQuery[], options: LinkOptions): Promise<LinkResult[]> {
    const { constrained, numBeams, batchSize, maxPromptTokens } = this.decodeSettings(options);
    if (constrained) this.triesByGroup();
    const results: LinkResult[] = new Array(queries.length);
    const parsed: Prepared[] = [];
    queries.forEach((query, index) => {
      try {
        parsed.push({ index, query, input: this.prepare(query, constrained, maxPromptTokens) });
      } catch (e) {
        results[index] = errorOf(e);
        options.onMentionDone?.();
      }
    });

    // Batch prompts of similar length together: less left padding to run through the model. Results are
    // written back by index, so the output order is the input order.
    const byLength = [...parsed].sort((a, b) => a.input.prompt.length - b.input.prompt.length || a.index - b.index);
    for (let start = 0; start < byLength.length; start += batchSize) {
      const batch = byLength.slice(start, start + batchSize);
      const outputs = await this.searchEach(batch, options, numBeams);
      batch.forEach((p, i) => (results[p.index] = this.resultOf(p.query, p.input, outputs[i])));
    }
    return results;
  }

  /**
   * Beam search over a batch. The model failing on one mention (MODEL_RUNTIME: non-finite logits) fails its whole
   * batch: its mentions are then searched one by one, so the error is that mention's alone.
   */
  private async searchEach(batch: readonly Prepared[], options: LinkOptions, numBeams: number): Promise<BeamSearchOutput[]> {
    try {
      return await beamSearch(this.parts.lm, batch.map((p) => p.input), {
        ...this.searchOptions(options, numBeams),
        ...(options.onMentionDone === undefined ? {} : { onPromptDone: options.onMentionDone }),
      });
    } catch (e) {
      if (!isSyncabelError(e) || e.code !== "MODEL_RUNTIME") throw e;
      if (batch.length === 1) return [{ error: e }];
      const out: BeamSearchOutput[] = [];
      for (const p of batch) out.push(...(await this.searchEach([p], options, numBeams)));
      return out;
    }
  }

  private async streamNow(feed: QueryFeed, options: ContinuousOptions): Promise<void> {
    const { constrained, numBeams, batchSize, maxPromptTokens } = this.decodeSettings(options);
    if (constrained) this.triesByGroup();
    const running = new Map<BeamSearchInput, FedQuery>();
    const take = (room: number): BeamSearchInput[] => {
      const inputs: BeamSearchInput[] = [];
      // Mentions that cannot be linked are answered at once and do not take a row.
      for (let batch = feed.take(room); batch.length > 0; batch = inputs.length < room ? feed.take(room - inputs.length) : []) {
        for (const fed of batch) {
          try {
            const input = this.prepare(fed.query, constrained, maxPromptTokens);
            running.set(input, fed);
            inputs.push(input);
          } catch (e) {
            fed.deliver(errorOf(e));
          }
        }
      }
      return inputs;
    };
    await streamBeamSearch(
      this.parts.lm,
      {
        take,
        done: (input, out) => {
          const fed = running.get(input)!;
          running.delete(input);
          fed.deliver(this.resultOf(fed.query, input, out));
        },
        wanted: (input) => running.get(input)?.wanted() ?? false,
      },
      { ...this.searchOptions(options, numBeams), maxPrompts: batchSize, ...(options.minJoin === undefined ? {} : { minJoin: options.minJoin }) },
    );
  }

  /** What the authors' text clean-up removes for this tokenizer (their list: its declared special tokens). */
  private authorsCleanup(): AuthorsCleanup {
    const { tokenizer } = this.parts;
    if (this.cleanup === undefined) {
      const declared = [tokenizer.bosTokenId, tokenizer.eosTokenId, tokenizer.sepTokenId, tokenizer.padTokenId].filter((id): id is number => id !== null).map((id) => tokenizer.decode([id]));
      const sep = tokenizer.sepTokenId === null ? null : tokenizer.decode([tokenizer.sepTokenId]);
      this.cleanup = authorsCleanup(tokenizer.specialTokens ?? [...new Set(declared)], sep);
    }
    return this.cleanup;
  }

  /**
   * A hypothesis as a beam. `pred_concept_name` / `pred_concept_code`: the strings the authors' sample() builds
   * (src/linker/authors-output.ts: their decoding and clean-up, each <SEP> part's code joined with +, repeats and
   * NO_CODE parts kept). `pred_concept_codes`: every code of the generated names as tokens (exact decode, split on
   * <SEP>), deduplicated; [] when no name is a KB name of the group.
   */
  private toBeam(sentence: MarkedSentence, input: BeamSearchInput, h: Hypothesis): Beam {
    const { tokenizer, kb, verb } = this.parts;
    const multiple = this.parts.multipleAnswers ?? false;
    const generated = h.endToken === undefined ? h.tokens : [...h.tokens, h.endToken];
    const answer = authorsAnswer(this.scheme.decodedText(sentence, input.prompt, generated), verb, this.authorsCleanup());
    const code = authorsCode(answer, (name) => kb.lookup(name, sentence.group)?.code, multiple);
    const parts: number[][] = [[]];
    for (const t of h.tokens) {
      if (multiple && t === tokenizer.sepTokenId) parts.push([]);
      else parts[parts.length - 1].push(t);
    }
    const codes = parts.flatMap((ids) => kb.lookup(tokenizer.decode(ids, { skipSpecialTokens: true }).trim(), sentence.group)?.codes ?? []);
    return {
      mention: sentence.mention,
      semantic_group: sentence.group,
      pred_concept_name: answer ?? NO_PREDICTION,
      pred_concept_code: code,
      beam_score: Math.exp(h.score),
      pred_concept_codes: [...new Set(codes)],
      ...(h.finished ? {} : { finished: false as const }),
    };
  }

  async close(): Promise<void> {
    if (this.parts.owns ?? true) {
      await this.parts.lm.dispose();
      this.parts.kb.close();
    }
  }
}
