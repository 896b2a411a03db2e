import { SyncabelError } from "../errors.js";
import type { CausalLM, DecodeState } from "../lm/types.js";
import type { TrieConstraint } from "./prefix-trie.js";

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
}

/** One prompt to decode: its token ids and, when constrained, the trie of its mention's group. */
export interface BeamSearchInput {
  readonly prompt: readonly number[];
  readonly constraint?: TrieConstraint;
}

export interface Hypothesis {
  /** Generated token ids, EOS excluded (a `<SEP>` between answers included). */
  readonly tokens: readonly number[];
  /** sum(log p) / generated_length ** length_penalty (EOS counted), Hugging Face's sequences_scores. */
  readonly score: number;
  readonly sumLogProbs: number;
  /** Ended with EOS (false: cut by max_new_tokens). */
  readonly finished: boolean;
}

/** Result for one prompt: hypotheses best first, or the error that made it impossible to decode. */
export type BeamSearchOutput = { readonly hypotheses: readonly Hypothesis[]; readonly error?: undefined } | { readonly hypotheses?: undefined; readonly error: SyncabelError };

interface Running {
  readonly tokens: number[];
  readonly score: number;
  /** Trie node of the constraint after `tokens` (-1 when unconstrained). */
  readonly node: number;
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

  /** transformers' heuristic with early_stopping=False: can a running beam still beat the worst kept one? */
  isDone(bestRunningSum: number, generatedLength: number, lengthPenalty: number): boolean {
    if (this.items.length < this.numBeams) return false;
    return this.worst >= bestRunningSum / generatedLength ** lengthPenalty;
  }
}

class PromptSearch {
  running: Running[] = [];
  readonly finished: HypothesisSet;
  done = false;
  error: SyncabelError | undefined;

  constructor(readonly input: BeamSearchInput, numBeams: number) {
    this.finished = new HypothesisSet(numBeams);
  }
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

/**
 * Batched beam search with Hugging Face semantics (conventions, sections 3-4): log-softmax over the full
 * vocabulary, then the trie mask (no renormalisation); max(2, 1 + n_eos) x numBeams candidates per step; an EOS candidate is kept
 * only when ranked within the first numBeams; length-normalised scores; early_stopping=False. Prompts whose
 * constraint admits fewer names than beams return fewer hypotheses: -inf beams are never padded in.
 */
export async function beamSearch(lm: CausalLM, inputs: readonly BeamSearchInput[], options: BeamSearchOptions): Promise<BeamSearchOutput[]> {
  const numBeams = options.numBeams;
  const numReturn = Math.min(options.numReturnSequences ?? numBeams, numBeams);
  const maxNew = options.maxNewTokens ?? 128;
  const lengthPenalty = options.lengthPenalty ?? 1;
  const eos = options.eosTokenId;
  const eosIds = new Set([eos, ...(options.eosTokenIds ?? [])]);
  const candidatesPerStep = Math.max(2, 1 + eosIds.size) * numBeams;
  if (!Number.isInteger(numBeams) || numBeams < 1) throw new SyncabelError("DECODE_INVALID_OPTIONS", `num_beams must be a positive integer, got ${numBeams}`);
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new SyncabelError("DECODE_INVALID_OPTIONS", `max_new_tokens must be a positive integer, got ${maxNew}`);
  if (inputs.length === 0) return [];

  const searches = inputs.map((input) => new PromptSearch(input, numBeams));
  // Prefill once per prompt (not per beam): beams fork at the first step, as transformers' 0/-1e9 start does.
  const prefilled = await lm.prefill(inputs.map((i) => i.prompt));
  let state: DecodeState = prefilled.state;
  let logProbs = prefilled.logProbs;
  searches.forEach((s, r) => {
    let node = -1;
    const c = s.input.constraint;
    if (c) {
      const last = s.input.prompt[s.input.prompt.length - 1];
      node = c.trie.child(c.trie.root, last);
      if (node < 0) {
        s.error = new SyncabelError("DECODE_INVALID_OPTIONS", `the prompt's last token (${last}) is not the root token of the candidate trie: the verb of the prompt and of the trie differ`, { token: last });
        s.done = true;
        return;
      }
    }
    s.running = [{ tokens: [], score: 0, node, row: r }];
  });

  const vocab = logProbs.vocabSize;
  for (let generated = 1; ; generated++) {
    const parents: number[] = [];
    const nextTokens: number[] = [];
    for (const s of searches) {
      if (s.done) continue;
      const k = candidatesPerStep;
      const top: Candidate[] = [];
      s.running.forEach((beam, b) => {
        // Hugging Face scores: log-softmax over the full vocabulary, the constraint applied after (no renormalising).
        const row = logProbs.logits.subarray(beam.row * vocab, (beam.row + 1) * vocab);
        const base = beam.score - logProbs.logZ[beam.row];
        const c = s.input.constraint;
        if (c) {
          const allowed = c.trie.childTokens(beam.node);
          let eosAllowed = false;
          for (let i = 0; i < allowed.length; i++) {
            const t = allowed[i];
            if (t === eos) eosAllowed = true;
            const logit = row[t];
            if (logit !== -Infinity) pushTop(top, k, { score: base + logit, beam: b, token: t, flat: b * vocab + t });
          }
          const sep = c.sepTokenId;
          if (eosAllowed && sep !== undefined && sep !== null && row[sep] !== -Infinity) {
            pushTop(top, k, { score: base + row[sep], beam: b, token: sep, flat: b * vocab + sep });
          }
        } else {
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

      const next: Running[] = [];
      top.forEach((cand, rank) => {
        if (next.length >= numBeams) return;
        const beam = s.running[cand.beam];
        if (eosIds.has(cand.token)) {
          // transformers skips an EOS candidate ranked outside the first numBeams.
          if (rank >= numBeams) return;
          s.finished.add({ tokens: beam.tokens, score: cand.score / generated ** lengthPenalty, sumLogProbs: cand.score, finished: true });
          return;
        }
        let node = -1;
        const c = s.input.constraint;
        if (c) {
          node = cand.token === c.sepTokenId && c.trie.child(beam.node, cand.token) < 0 ? c.trie.child(c.trie.root, s.input.prompt[s.input.prompt.length - 1]) : c.trie.child(beam.node, cand.token);
        }
        // `row` holds the parent's row until the step below assigns the beam its own.
        next.push({ tokens: [...beam.tokens, cand.token], score: cand.score, node, row: beam.row });
      });
      const bestCandidate = top.length > 0 ? top[0].score : -Infinity;
      if (next.length === 0 || s.finished.isDone(bestCandidate, generated, lengthPenalty)) {
        s.done = true;
        s.running = [];
        continue;
      }
      if (generated >= maxNew) {
        // max_new_tokens reached: unfinished beams join the hypotheses, as transformers' finalize() does.
        for (const r of next) s.finished.add({ tokens: r.tokens, score: r.score / generated ** lengthPenalty, sumLogProbs: r.score, finished: false });
        s.done = true;
        s.running = [];
        continue;
      }
      s.running = next.map((r) => {
        parents.push(r.row);
        nextTokens.push(r.tokens[r.tokens.length - 1]);
        return { ...r, row: parents.length - 1 };
      });
    }
    if (parents.length === 0) break;
    const stepped = await lm.step(state, Int32Array.from(parents), Int32Array.from(nextTokens));
    state = stepped.state;
    logProbs = stepped.logProbs;
  }
  state.dispose();

  return searches.map((s) => {
    if (s.error) return { error: s.error };
    const hypotheses = [...s.finished.items].filter((h) => Number.isFinite(h.score)).sort((a, b) => b.score - a.score).slice(0, numReturn);
    return { hypotheses };
  });
}
