/**
 * Exact teacher-forced scores of given continuations (retrieve-then-generate): for each candidate, the sum of
 * log-softmax (full vocabulary) of its tokens after the prompt, divided by its length ** length_penalty. For a
 * trie name (the tokens of `" {verb} {name}"` + EOS after the verb) this is the score constrained beam search gives
 * that name as a finished hypothesis (conventions, section 4), without any pruning.
 *
 * One prefill per prompt; the candidates of a prompt are walked as a token trie, level by level, so a prefix
 * shared by several candidates is run once and the prompt's KV cache is shared by selecting its row (`parents`).
 * Memory is bounded by `maxRows`: a prompt with more candidates is split into chunks (each re-prefilled).
 *
 * `scoreTopCandidates` wants only the best n of each prompt: since every log-probability is <= 0, a prefix with
 * sum S cannot give a candidate of length L more than S / L ** length_penalty, so prefixes that cannot reach the
 * n-th best finished score are not run. The n returned are exactly the n best.
 */
import { SyncabelError } from "../errors.js";
import type { CausalLM, LogitRequest, NextTokenLogProbs } from "../lm/types.js";
import { TokenTrie } from "../trie/token-trie.js";

export interface CandidateScoringInput {
  readonly prompt: readonly number[];
  /** Encoder-decoder models: the source tokens (then `prompt` is the decoder prompt). */
  readonly encoderInput?: readonly number[];
  /** Tokens each candidate adds after the prompt (EOS included); each at least one token. */
  readonly continuations: readonly (readonly number[])[];
  /** Added to each candidate's score for ranking in `scoreTopCandidates` (e.g. a weighted retriever score). */
  readonly bonuses?: readonly number[];
}

export interface CandidateScore {
  /** sum(log p) / length ** length_penalty: beam search's finished-hypothesis score. */
  readonly score: number;
  readonly sumLogProbs: number;
  /** Tokens scored (the continuation's length, EOS included). */
  readonly length: number;
}

export interface RankedCandidate extends CandidateScore {
  /** Index of the candidate in its input's continuations. */
  readonly index: number;
  /** score + bonus: the ranking key. */
  readonly key: number;
}

export interface CandidateScoringOptions {
  readonly lengthPenalty?: number;
  /**
   * Most rows (sequences) the model runs at once, which bounds logits memory (rows x vocabulary floats per step).
   * Default 256.
   */
  readonly maxRows?: number;
}

export const DEFAULT_SCORING_MAX_ROWS = 256;

/** Candidates of one prompt (all of them, or one chunk) walked as a trie in one batch. */
interface Unit {
  readonly input: number;
  readonly prompt: readonly number[];
  readonly encoderInput?: readonly number[];
  readonly trie: TokenTrie;
  /** Trie node -> indices (into the prompt's continuations) of the candidates ending there. */
  readonly ends: ReadonlyMap<number, readonly number[]>;
  /** Trie node -> indices of the candidates passing through it (only when pruning). */
  readonly under: ReadonlyMap<number, readonly number[]>;
  /** Distinct sequences: bounds the rows this unit ever needs. */
  readonly width: number;
}

interface Open {
  readonly unit: Unit;
  readonly node: number;
  /** Row of this prefix in the model state. */
  readonly row: number;
  /** Sum of log-probabilities of the prefix. */
  readonly sum: number;
}

/** What the walk reports and asks: a finished candidate, and whether a prefix is still worth running. */
interface WalkHooks {
  record(unit: Unit, candidate: number, sum: number, length: number): void;
  worthRunning(unit: Unit, node: number, sum: number): boolean;
}

function compareSequences(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function pushTo(map: Map<number, number[]>, key: number, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Split one prompt's candidates into units of at most `maxRows` sequences, sorted so chunks keep shared prefixes. */
function unitsOf(input: number, item: CandidateScoringInput, maxRows: number, withPaths: boolean): Unit[] {
  const seqs = item.continuations;
  const order = seqs.map((_, i) => i).sort((a, b) => compareSequences(seqs[a], seqs[b]));
  const units: Unit[] = [];
  for (let start = 0; start < order.length; start += maxRows) {
    const chunk = order.slice(start, start + maxRows);
    const trie = TokenTrie.build(chunk.map((i) => seqs[i]));
    const ends = new Map<number, number[]>();
    const under = new Map<number, number[]>();
    for (const i of chunk) {
      let node = trie.root;
      for (const t of seqs[i]) {
        node = trie.child(node, t);
        if (withPaths) pushTo(under, node, i);
      }
      pushTo(ends, node, i);
    }
    units.push({ input, prompt: item.prompt, ...(item.encoderInput ? { encoderInput: item.encoderInput } : {}), trie, ends, under, width: trie.sequenceCount });
  }
  return units;
}

function validate(inputs: readonly CandidateScoringInput[], maxRows: number): void {
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new SyncabelError("DECODE_INVALID_OPTIONS", `maxRows must be a positive integer, got ${maxRows}`);
  inputs.forEach((item, i) => {
    if (item.prompt.length === 0) throw new SyncabelError("DECODE_INVALID_OPTIONS", `prompt ${i} has no tokens`, { input: i });
    if (item.bonuses !== undefined && (item.bonuses.length !== item.continuations.length || item.bonuses.some((b) => !Number.isFinite(b)))) {
      throw new SyncabelError("DECODE_INVALID_OPTIONS", `prompt ${i}: bonuses must be finite, one per candidate`, { input: i });
    }
    item.continuations.forEach((c, j) => {
      if (c.length === 0) throw new SyncabelError("DECODE_INVALID_OPTIONS", `candidate ${j} of prompt ${i} has no tokens to score`, { input: i, candidate: j });
    });
  });
}

/** Only the logits of each row's trie children need to leave the model. */
function childRequest(open: readonly { readonly unit: Unit; readonly node: number }[]): LogitRequest {
  return { tokens: open.map((o) => o.unit.trie.childTokens(o.node)) };
}

/** Logit of the i-th child token of `row` (from the picked entries, or the full row when the backend gave it). */
function childLogit(p: NextTokenLogProbs, row: number, i: number, token: number): number {
  return p.picked ? p.picked.logits[p.picked.offsets[row] + i] : p.logits[row * p.vocabSize + token];
}

/** Walk a batch of units level by level, reporting every finished candidate with its sum of log-probabilities. */
async function walkBatch(lm: CausalLM, units: readonly Unit[], hooks: WalkHooks): Promise<void> {
  let open: Open[] = units.map((unit, row) => ({ unit, node: unit.trie.root, row, sum: 0 }));
  const sources = units.some((u) => u.encoderInput) ? units.map((u) => u.encoderInput ?? []) : undefined;
  const prefilled = await lm.prefill(units.map((u) => u.prompt), childRequest(open), sources);
  let state = prefilled.state;
  let logProbs = prefilled.logProbs;
  try {
    for (let depth = 1; open.length > 0; depth++) {
      const next: Open[] = [];
      const parents: number[] = [];
      const tokens: number[] = [];
      for (const o of open) {
        // Same arithmetic as beam search (prefix score - logZ + logit), so the numbers match it exactly.
        const base = o.sum - logProbs.logZ[o.row];
        const trie = o.unit.trie;
        const children = trie.childTokens(o.node);
        for (let i = 0; i < children.length; i++) {
          const token = children[i];
          const child = trie.child(o.node, token);
          const sum = base + childLogit(logProbs, o.row, i, token);
          for (const c of o.unit.ends.get(child) ?? []) hooks.record(o.unit, c, sum, depth);
          if (trie.childTokens(child).length > 0 && hooks.worthRunning(o.unit, child, sum)) {
            next.push({ unit: o.unit, node: child, row: parents.length, sum });
            parents.push(o.row);
            tokens.push(token);
          }
        }
      }
      open = next;
      if (parents.length === 0) break;
      const stepped = await lm.step(state, Int32Array.from(parents), Int32Array.from(tokens), childRequest(open));
      state = stepped.state;
      logProbs = stepped.logProbs;
    }
  } finally {
    state.dispose();
  }
}

/** Prompts batched together (similar lengths first, less padding) while their candidates fit in `maxRows`. */
async function walkAll(lm: CausalLM, inputs: readonly CandidateScoringInput[], maxRows: number, withPaths: boolean, hooks: WalkHooks): Promise<void> {
  const units = inputs.flatMap((item, i) => unitsOf(i, item, maxRows, withPaths)).sort((a, b) => a.prompt.length - b.prompt.length || a.input - b.input);
  let batch: Unit[] = [];
  let rows = 0;
  for (const unit of units) {
    if (batch.length > 0 && rows + unit.width > maxRows) {
      await walkBatch(lm, batch, hooks);
      batch = [];
      rows = 0;
    }
    batch.push(unit);
    rows += unit.width;
  }
  if (batch.length > 0) await walkBatch(lm, batch, hooks);
}

/** Score every continuation of every prompt; result[i][j] belongs to inputs[i].continuations[j]. */
export async function scoreCandidates(lm: CausalLM, inputs: readonly CandidateScoringInput[], options: CandidateScoringOptions = {}): Promise<CandidateScore[][]> {
  const maxRows = options.maxRows ?? DEFAULT_SCORING_MAX_ROWS;
  const lengthPenalty = options.lengthPenalty ?? 1;
  validate(inputs, maxRows);
  const results: CandidateScore[][] = inputs.map((item) => new Array<CandidateScore>(item.continuations.length));
  await walkAll(lm, inputs, maxRows, false, {
    record: (unit, c, sum, length) => (results[unit.input][c] = { score: sum / length ** lengthPenalty, sumLogProbs: sum, length }),
    worthRunning: () => true,
  });
  return results;
}

/**
 * The best `top` candidates of each prompt by score + bonus, best first (ties: lower index first), with their exact
 * scores; prefixes that cannot reach them are not run.
 */
export async function scoreTopCandidates(lm: CausalLM, inputs: readonly CandidateScoringInput[], top: number, options: CandidateScoringOptions = {}): Promise<RankedCandidate[][]> {
  const maxRows = options.maxRows ?? DEFAULT_SCORING_MAX_ROWS;
  const lengthPenalty = options.lengthPenalty ?? 1;
  if (!Number.isInteger(top) || top < 1) throw new SyncabelError("DECODE_INVALID_OPTIONS", `top must be a positive integer, got ${top}`);
  validate(inputs, maxRows);
  const found: RankedCandidate[][] = inputs.map(() => []);
  /** Per prompt: the `top` best keys so far, descending (its last is the bar to reach once full). */
  const best: number[][] = inputs.map(() => []);
  const bonus = (input: number, c: number): number => inputs[input].bonuses?.[c] ?? 0;
  const bar = (input: number): number => (best[input].length < top ? -Infinity : best[input][top - 1]);
  await walkAll(lm, inputs, maxRows, true, {
    record(unit, c, sum, length) {
      const score = sum / length ** lengthPenalty;
      const key = score + bonus(unit.input, c);
      found[unit.input].push({ index: c, score, sumLogProbs: sum, length, key });
      const keys = best[unit.input];
      if (Number.isNaN(key) || key < bar(unit.input)) return;
      let at = keys.length;
      while (at > 0 && keys[at - 1] < key) at--;
      keys.splice(at, 0, key);
      if (keys.length > top) keys.pop();
    },
    worthRunning(unit, node, sum) {
      const limit = bar(unit.input);
      if (limit === -Infinity) return true;
      // Remaining log-probabilities are <= 0: a candidate under this prefix scores at most sum / length ** lp.
      for (const c of unit.under.get(node) ?? []) {
        if (sum / inputs[unit.input].continuations[c].length ** lengthPenalty + bonus(unit.input, c) >= limit) return true;
      }
      return false;
    },
  });
  return found.map((list) => list.filter((r) => Number.isFinite(r.key)).sort((a, b) => b.key - a.key || a.index - b.index).slice(0, top));
}
