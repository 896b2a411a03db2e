import { SyncabelError } from "../errors.js";
import type { CausalLM, DecodeState, LogitRequest, NextTokenLogProbs, StepResult } from "../lm/types.js";
import { EndOfSequence, type TokenConstraint } from "./token-constraints.js";

/** transformers' `early_stopping`: true, false (its heuristic) or "never". */
export type EarlyStopping = boolean | "never";

export interface BeamSearchOptions {
  readonly numBeams: number;
  /** Hypotheses returned per prompt, at most numBeams (default numBeams). */
  readonly numReturnSequences?: number;
  readonly maxNewTokens?: number;
  readonly lengthPenalty?: number;
  /** The end-of-sequence id that ends every trie name (the tokenizer's EOS). */
  readonly eosTokenId: number;
  /**
   * Every id that ends a hypothesis (generation_config's eos_token_id list, e.g. Llama-3 Instruct's
   * [128001, 128009]); default [eosTokenId]. Its size also sets the candidates per step, as in transformers:
   * max(2, 1 + n_eos) x numBeams.
   */
  readonly eosTokenIds?: readonly number[];
  /**
   * When a prompt's search stops (generation_config's `early_stopping`, default false): true as soon as numBeams
   * hypotheses are finished; false when the best running beam, normalised at the current length, cannot beat the
   * worst finished one (transformers' heuristic); "never" when it cannot at max_new_tokens either (an exact bound
   * for length_penalty > 0). One beam is greedy search in transformers: it stops at the first end whatever this says.
   */
  readonly earlyStopping?: EarlyStopping;
  /** Checked before every step: when aborted the search stops and rejects with INTERRUPTED. */
  readonly signal?: AbortSignal;
  /** Called with a prompt's index as soon as its search is over (progress inside a batch). */
  readonly onPromptDone?: (index: number) => void;
}

/** One prompt to decode: its token ids and, when constrained, what its beams may generate (e.g. trieConstraint()). */
export interface BeamSearchInput {
  readonly prompt: readonly number[];
  readonly constraint?: TokenConstraint;
  /** Encoder-decoder models: the source tokens (then `prompt` is the decoder prompt). */
  readonly encoderInput?: readonly number[];
}

export interface Hypothesis {
  /** Generated token ids, EOS excluded (a `<SEP>` between answers included). */
  readonly tokens: readonly number[];
  /** sum(log p) / generated_length ** length_penalty (EOS counted), Hugging Face's sequences_scores. */
  readonly score: number;
  readonly sumLogProbs: number;
  /** Ended with an end token (false: cut by max_new_tokens; ranked among the others by score, as transformers does). */
  readonly finished: boolean;
  /** The token that ended it (one of the EOS ids; absent when cut). */
  readonly endToken?: number;
}

/** Result for one prompt: hypotheses best first, or the error that made it impossible to decode. */
export type BeamSearchOutput = { readonly hypotheses: readonly Hypothesis[]; readonly error?: undefined } | { readonly hypotheses?: undefined; readonly error: SyncabelError };

interface Running {
  readonly tokens: number[];
  readonly score: number;
  /** State of the constraint after `tokens` (-1 when unconstrained). */
  readonly state: number;
  /** Row of this beam in the model state. */
  readonly row: number;
}

interface Candidate {
  score: number;
  beam: number;
  token: number;
  /** Flat index beam * vocab + token: the tie-break order of torch.topk over [beams * vocab]. */
  flat: number;
}

/** Finished hypotheses of one prompt, keeping the best `numBeams` (transformers' BeamHypotheses). */
class HypothesisSet {
  readonly items: Hypothesis[] = [];
  worst = Infinity;

  constructor(private readonly numBeams: number) {}

  add(h: Hypothesis): void {
    if (this.items.length < this.numBeams || h.score > this.worst) {
      this.items.push(h);
      if (this.items.length > this.numBeams) {
        let worstAt = 0;
        for (let i = 1; i < this.items.length; i++) if (this.items[i].score < this.items[worstAt].score) worstAt = i;
        this.items.splice(worstAt, 1);
      }
      this.worst = Math.min(...this.items.map((x) => x.score));
    }
  }

  /**
   * transformers' stopping rule for one prompt, checked after each step: the set is full and either early_stopping
   * is true or the best running beam (not the best candidate: one that just ended is no longer running) cannot beat
   * the worst kept hypothesis at the current length ("never": at max_new_tokens, when length_penalty > 0).
   */
  isDone(bestRunningSum: number, generated: number, o: SelectOptions): boolean {
    if (this.items.length < this.numBeams) return false;
    if (o.earlyStopping === true) return true;
    const length = o.earlyStopping === "never" && o.lengthPenalty > 0 ? o.maxNewTokens : generated;
    return this.worst >= bestRunningSum / length ** o.lengthPenalty;
  }
}

class PromptSearch {
  running: Running[] = [];
  readonly finished: HypothesisSet;
  /** Tokens generated so far (prompts joining a running batch start later than others). */
  generated = 0;
  /** The constraint's state after the prompt: where every answer (and every answer after <SEP>) starts. */
  readonly start: number;

  constructor(readonly input: BeamSearchInput, numBeams: number) {
    this.finished = new HypothesisSet(numBeams);
    this.start = input.constraint ? input.constraint.start(input.prompt) : -1;
  }
}

/** What the next forward pass must return: each constrained row's allowed tokens, the top k of unconstrained rows. */
function logitRequest(rows: readonly { readonly c: TokenConstraint | undefined; readonly state: number }[], topK: number): { request: LogitRequest; allowed: Int32Array[] } {
  const empty = new Int32Array(0);
  const allowed = rows.map(({ c, state }) => (c && state >= 0 ? c.allowed(state) : empty));
  const free = rows.some(({ c }) => c === undefined);
  return { request: { tokens: allowed, ...(free ? { topK } : {}) }, allowed };
}

/** Logit of the i-th allowed token of `row` (read from the picked entries, or the full row when the backend gave it). */
function allowedLogit(p: NextTokenLogProbs, row: number, i: number, token: number): number {
  return p.picked ? p.picked.logits[p.picked.offsets[row] + i] : p.logits[row * p.vocabSize + token];
}

/** Insert `c` into `top` (sorted best first, at most `k` long). */
function pushTop(top: Candidate[], k: number, c: Candidate): void {
  if (top.length === k) {
    const last = top[k - 1];
    if (c.score < last.score || (c.score === last.score && c.flat > last.flat)) return;
    top.pop();
  }
  let i = top.length;
  while (i > 0 && (top[i - 1].score < c.score || (top[i - 1].score === c.score && top[i - 1].flat > c.flat))) i--;
  top.splice(i, 0, c);
}

/** Prompts handed to a running beam search over time (continuous batching), and where their results go. */
export interface BeamSearchFeed {
  /** At most `room` prompts to start now (asked before every decoding step); [] when none waits. */
  take(room: number): readonly BeamSearchInput[];
  /** The result of a prompt taken from this feed, as soon as its search is over. */
  done(input: BeamSearchInput, output: BeamSearchOutput): void;
  /** false: nobody waits for this prompt any more; its search is dropped before the next step. */
  wanted?(input: BeamSearchInput): boolean;
}

export interface StreamOptions extends BeamSearchOptions {
  /** Prompts decoded at once; a finished prompt's rows go to the next prompt the feed gives. */
  readonly maxPrompts: number;
  /**
   * Free prompt slots needed before new prompts join a running batch (default 1). Each join is a prefill call and
   * a copy of the cache: waiting for a few free slots makes fewer, larger joins.
   */
  readonly minJoin?: number;
}

/**
 * Batched beam search with the semantics of transformers 4.57's beam search (conventions, sections 3-4; docs/decoding.md):
 * log-softmax over the full vocabulary, then the constraint (no renormalisation); max(2, 1 + n_eos) x numBeams
 * candidates per step, of which only the first numBeams may end a hypothesis; length-normalised scores; early
 * stopping per `earlyStopping`; at max_new_tokens the first numBeams candidates become hypotheses (finished: false
 * unless they end); hypotheses returned by score. Prompts whose constraint admits fewer names than beams return
 * fewer hypotheses: transformers' filler beams (scores near -1e9) are never padded in.
 */
export async function beamSearch(lm: CausalLM, inputs: readonly BeamSearchInput[], options: BeamSearchOptions): Promise<BeamSearchOutput[]> {
  checkOptions(options);
  if (inputs.length === 0) return [];
  // Own objects per position: the same input object may be passed twice.
  const items = inputs.map((input) => ({ ...input }));
  const index = new Map<BeamSearchInput, number>(items.map((item, i) => [item, i]));
  const outputs: BeamSearchOutput[] = new Array(inputs.length);
  let taken = false;
  const feed: BeamSearchFeed = {
    take: () => (taken ? [] : ((taken = true), items)),
    done: (input, output) => {
      const i = index.get(input)!;
      outputs[i] = output;
      options.onPromptDone?.(i);
    },
  };
  await streamBeamSearch(lm, feed, { ...options, maxPrompts: inputs.length });
  return outputs;
}

function checkOptions(options: BeamSearchOptions): void {
  const { numBeams } = options;
  const maxNew = options.maxNewTokens ?? 128;
  if (!Number.isInteger(numBeams) || numBeams < 1) throw new SyncabelError("DECODE_INVALID_OPTIONS", `num_beams must be a positive integer, got ${numBeams}`);
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new SyncabelError("DECODE_INVALID_OPTIONS", `max_new_tokens must be a positive integer, got ${maxNew}`);
  const early = options.earlyStopping;
  if (early !== undefined && early !== true && early !== false && early !== "never") {
    throw new SyncabelError("DECODE_INVALID_OPTIONS", `early_stopping must be true, false or "never", got ${JSON.stringify(early)}`);
  }
}

/** Rows of `b` after those of `a` (the logits of a running batch and of the prompts that join it). */
function concatLogProbs(a: NextTokenLogProbs, b: NextTokenLogProbs): NextTokenLogProbs {
  const cat = <T extends Float32Array | Int32Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  const f32 = (n: number) => new Float32Array(n);
  const i32 = (n: number) => new Int32Array(n);
  let picked: NextTokenLogProbs["picked"];
  if (a.picked && b.picked) {
    const shift = a.picked.offsets[a.rows];
    const offsets = new Int32Array(a.rows + b.rows + 1);
    offsets.set(a.picked.offsets);
    for (let r = 1; r <= b.rows; r++) offsets[a.rows + r] = b.picked.offsets[r] + shift;
    picked = { offsets, logits: cat(a.picked.logits.subarray(0, shift), b.picked.logits, f32) };
  }
  const top = a.top && b.top ? { k: a.top.k, ids: cat(a.top.ids, b.top.ids, i32), logits: cat(a.top.logits, b.top.logits, f32) } : undefined;
  return {
    rows: a.rows + b.rows,
    vocabSize: a.vocabSize,
    logits: cat(a.logits, b.logits, f32),
    logZ: cat(a.logZ, b.logZ, f32),
    ...(picked ? { picked } : {}),
    ...(top ? { top } : {}),
  };
}

/** A search's result: its hypotheses by score, best first, those cut by max_new_tokens among them (as transformers). */
function resultOf(s: PromptSearch, numReturn: number): BeamSearchOutput {
  const hypotheses = [...s.finished.items].filter((h) => Number.isFinite(h.score)).sort((a, b) => b.score - a.score).slice(0, numReturn);
  return { hypotheses };
}

/**
 * Beam search over prompts that arrive while it runs (continuous batching): before every step, the feed may
 * give prompts for the rows finished prompts left free; they are prefilled and join the batch (`lm.extend`; a
 * backend without it takes new prompts only when the batch is empty). Each prompt's search is the one
 * `beamSearch` runs (same semantics, its own generated length). Resolves when no prompt runs and none waits.
 */
export async function streamBeamSearch(lm: CausalLM, feed: BeamSearchFeed, options: StreamOptions): Promise<void> {
  checkOptions(options);
  const numBeams = options.numBeams;
  const numReturn = Math.min(options.numReturnSequences ?? numBeams, numBeams);
  const maxNew = options.maxNewTokens ?? 128;
  const end = new EndOfSequence(options.eosTokenId, options.eosTokenIds);
  const candidatesPerStep = end.candidatesPerStep(numBeams);
  const select: SelectOptions = {
    numBeams,
    candidatesPerStep,
    end,
    lengthPenalty: options.lengthPenalty ?? 1,
    maxNewTokens: maxNew,
    // transformers decodes one beam greedily: it stops at the first end, whatever early_stopping says.
    earlyStopping: numBeams === 1 ? true : options.earlyStopping ?? false,
  };

  let active: PromptSearch[] = [];
  let state: DecodeState | null = null;
  let logProbs: NextTokenLogProbs | null = null;
  let allowed: Int32Array[] = [];
  let steps = 0;
  try {
    for (;;) {
      if (options.signal?.aborted) throw new SyncabelError("INTERRUPTED", `beam search stopped after ${steps} steps: interrupted`);
      // New prompts take the rows finished ones left (all at once when the batch is empty).
      const free = options.maxPrompts - active.length;
      const room = state === null ? free : lm.extend === undefined || free < Math.min(options.minJoin ?? 1, options.maxPrompts) ? 0 : free;
      const starting = room > 0 ? startSearches(feed, room, numBeams) : [];
      if (starting.length > 0) {
        // Prefill once per prompt (not per beam): beams fork at the first step, as transformers' 0/-1e9 start does.
        const asked = logitRequest(starting.map((s) => ({ c: s.input.constraint, state: s.start })), candidatesPerStep);
        const prompts = starting.map((s) => s.input.prompt);
        const first = state === null ? 0 : state.rows;
        // seq2seq (#19): the prompts' encoder inputs, when they have them.
        const sources = starting.some((s) => s.input.encoderInput) ? starting.map((s) => s.input.encoderInput ?? []) : undefined;
        const joined: StepResult = state === null ? await lm.prefill(prompts, asked.request, sources) : await lm.extend!(state, prompts, asked.request, sources);
        logProbs = logProbs === null ? joined.logProbs : concatLogProbs(logProbs, joined.logProbs);
        allowed = [...allowed, ...asked.allowed];
        state = joined.state;
        starting.forEach((s, i) => (s.running = [{ tokens: [], score: 0, state: s.start, row: first + i }]));
        active.push(...starting);
      }
      if (active.length === 0) break;

      const parents: number[] = [];
      const nextTokens: number[] = [];
      const still: PromptSearch[] = [];
      for (const s of active) {
        if (feed.wanted && !feed.wanted(s.input)) continue; // its caller is gone: its rows are not carried on
        const next = selectBeams(s, logProbs!, allowed, select);
        if (next === null) {
          s.running = [];
          feed.done(s.input, resultOf(s, numReturn));
          continue;
        }
        s.running = next.map((r) => {
          parents.push(r.row);
          nextTokens.push(r.tokens[r.tokens.length - 1]);
          return { ...r, row: parents.length - 1 };
        });
        still.push(s);
      }
      active = still;
      if (parents.length === 0) {
        state!.dispose();
        state = null;
        logProbs = null;
        allowed = [];
        continue;
      }
      const asked = logitRequest(
        active.flatMap((s) => s.running.map((r) => ({ c: s.input.constraint, state: r.state }))),
        candidatesPerStep,
      );
      const stepped = await lm.step(state!, Int32Array.from(parents), Int32Array.from(nextTokens), asked.request);
      steps++;
      state = stepped.state;
      logProbs = stepped.logProbs;
      allowed = asked.allowed;
    }
  } finally {
    state?.dispose();
  }
}

/** Searches for the prompts the feed gives now; a prompt whose tail does not start its constraint is answered with an error. */
function startSearches(feed: BeamSearchFeed, room: number, numBeams: number): PromptSearch[] {
  const starting: PromptSearch[] = [];
  for (const input of feed.take(room)) {
    const s = new PromptSearch(input, numBeams);
    if (input.constraint && s.start < 0) {
      const tail = input.prompt.slice(-2).join(",");
      feed.done(input, { error: new SyncabelError("DECODE_INVALID_OPTIONS", `the prompt's last tokens (...${tail}) do not start the candidate trie: the verb of the prompt and of the trie differ`, { token: tail }) });
      continue;
    }
    starting.push(s);
  }
  return starting;
}

interface SelectOptions {
  readonly numBeams: number;
  readonly candidatesPerStep: number;
  readonly end: EndOfSequence;
  readonly lengthPenalty: number;
  readonly maxNewTokens: number;
  readonly earlyStopping: EarlyStopping;
}

/**
 * One step of one prompt's search, as transformers' vectorised beam search takes it: the best candidates of its
 * beams; those ranked within numBeams that end (or, at max_new_tokens, all of them) become hypotheses; the best
 * numBeams that do not end carry on. Returns them (`row` still the parent's), or null when the search is over.
 */
function selectBeams(s: PromptSearch, logProbs: NextTokenLogProbs, allowed: readonly Int32Array[], o: SelectOptions): Running[] | null {
  const generated = ++s.generated;
  const k = o.candidatesPerStep;
  const vocab = logProbs.vocabSize;
  const top: Candidate[] = [];
  s.running.forEach((beam, b) => {
    // Hugging Face scores: log-softmax over the full vocabulary, the constraint applied after (no renormalising).
    const base = beam.score - logProbs.logZ[beam.row];
    if (s.input.constraint) {
      // The allowed children, then <SEP> where EOS is allowed (multiple-answers mode).
      const tokens = allowed[beam.row];
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i];
        const logit = allowedLogit(logProbs, beam.row, i, t);
        if (logit !== -Infinity) pushTop(top, k, { score: base + logit, beam: b, token: t, flat: b * vocab + t });
      }
    } else if (logProbs.top) {
      const { ids, logits, k: kk } = logProbs.top;
      for (let j = beam.row * kk; j < (beam.row + 1) * kk; j++) {
        if (logits[j] !== -Infinity) pushTop(top, k, { score: base + logits[j], beam: b, token: ids[j], flat: b * vocab + ids[j] });
      }
    } else {
      const row = logProbs.logits.subarray(beam.row * vocab, (beam.row + 1) * vocab);
      // Only this row's own top k can enter the prompt's top k.
      let floor = -Infinity;
      const local: Candidate[] = [];
      for (let t = 0; t < vocab; t++) {
        const logit = row[t];
        if (logit > floor || (local.length < k && logit !== -Infinity)) {
          pushTop(local, k, { score: base + logit, beam: b, token: t, flat: b * vocab + t });
          if (local.length === k) floor = local[k - 1].score - base;
        }
      }
      for (const c of local) pushTop(top, k, c);
    }
  });

  const last = generated >= o.maxNewTokens;
  const norm = generated ** o.lengthPenalty;
  const next: Running[] = [];
  const c = s.input.constraint;
  for (let rank = 0; rank < top.length && next.length < o.numBeams; rank++) {
    const cand = top[rank];
    const beam = s.running[cand.beam];
    const ends = o.end.ends(cand.token);
    if (ends || last) {
      // Only the first numBeams candidates can become hypotheses (transformers' top_num_beam_mask).
      if (rank < o.numBeams) {
        const score = cand.score / norm;
        s.finished.add(ends ? { tokens: beam.tokens, score, sumLogProbs: cand.score, finished: true, endToken: cand.token } : { tokens: [...beam.tokens, cand.token], score, sumLogProbs: cand.score, finished: false });
      }
      else if (last) break;
      continue;
    }
    next.push({ tokens: [...beam.tokens, cand.token], score: cand.score, state: c ? c.next(beam.state, cand.token, s.start) : -1, row: beam.row });
  }
  // next[0] is the best running beam: a candidate that just ended does not count (transformers 4.57's heuristic).
  if (last || next.length === 0 || s.finished.isDone(next[0].score, generated, o)) return null;
  return next;
}
