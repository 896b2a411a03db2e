/**
 * Reference decoding for tests: a literal, unoptimised restatement of Hugging Face transformers 4.57's `generate`
 * for one prompt, over full log-probability rows: greedy search for one beam, else the vectorised `_beam_search`
 * with its num_beams copies of the prompt (scores 0, -1e9, ...), top-K over beams x vocabulary, stopping flags
 * (EOS or max length) with -1e9 penalties, the finished set merged by top-k, and `_check_early_stop_heuristic`.
 * A prefix_allowed_tokens_fn masks a row as transformers' PrefixConstrainedLogitsProcessor does (after the
 * log-softmax). Arithmetic is float64 (transformers: float32); ties go to the lower flat index.
 *
 * Its output keeps transformers' filler hypotheses, marked `filler`: grown from the -1e9 copies of the prompt, or
 * from a beam carried on (with a -1e9 penalty) after it had stopped, or unfilled slots.
 */

export interface ReferenceSearchOptions {
  readonly numBeams: number;
  readonly maxNewTokens: number;
  /** generation_config's eos_token_id list. */
  readonly eosTokenIds: readonly number[];
  readonly lengthPenalty?: number;
  readonly earlyStopping?: boolean | "never";
  /** prefix_allowed_tokens_fn over the generated tokens; absent: unconstrained. */
  readonly allowed?: (generated: readonly number[]) => readonly number[];
}

export interface ReferenceHypothesis {
  /** Generated tokens, the end token included when the hypothesis ended with one. */
  readonly tokens: readonly number[];
  /** sum(log p) / length ** length_penalty (greedy: the same formula, which transformers does not report). */
  readonly score: number;
  /** Ended with an EOS id (false: cut at max_new_tokens). */
  readonly ended: boolean;
  /** A filler hypothesis (see above): its score is about -1e9 / length ** length_penalty. */
  readonly filler: boolean;
}

const NEG = -1.0e9;

/** `logProbs(generated)`: the full log-softmax row after the prompt followed by `generated`. */
export function referenceSearch(logProbs: (generated: readonly number[]) => ArrayLike<number>, vocabSize: number, o: ReferenceSearchOptions): ReferenceHypothesis[] {
  const row = (generated: readonly number[]): Float64Array => {
    const lp = Float64Array.from(logProbs(generated));
    if (o.allowed) {
      const ok = o.allowed(generated);
      if (ok.length === 0) throw new Error(`prefix_allowed_tokens_fn returned an empty list after [${generated.join(",")}]`);
      const mask = new Float64Array(vocabSize).fill(-Infinity);
      for (const t of ok) mask[t] = 0;
      for (let t = 0; t < vocabSize; t++) lp[t] += mask[t];
    }
    return lp;
  };
  return o.numBeams === 1 ? greedy(row, vocabSize, o) : beam(row, vocabSize, o);
}

function greedy(row: (g: readonly number[]) => Float64Array, V: number, o: ReferenceSearchOptions): ReferenceHypothesis[] {
  const generated: number[] = [];
  let sum = 0;
  for (;;) {
    const lp = row(generated);
    let best = 0;
    for (let t = 1; t < V; t++) if (lp[t] > lp[best]) best = t;
    generated.push(best);
    sum += lp[best];
    const ended = o.eosTokenIds.includes(best);
    if (ended || generated.length >= o.maxNewTokens) {
      return [{ tokens: generated, score: sum / generated.length ** (o.lengthPenalty ?? 1), ended, filler: false }];
    }
  }
}

interface Slot {
  seq: number[];
  score: number;
  finished: boolean;
  filler: boolean;
}

function beam(row: (g: readonly number[]) => Float64Array, V: number, o: ReferenceSearchOptions): ReferenceHypothesis[] {
  const nb = o.numBeams;
  const lp = o.lengthPenalty ?? 1;
  const early = o.earlyStopping ?? false;
  const K = Math.max(2, 1 + o.eosTokenIds.length) * nb;
  let running: Slot[] = Array.from({ length: nb }, (_, b) => ({ seq: [], score: b === 0 ? 0 : NEG, finished: false, filler: b !== 0 }));
  let done: Slot[] = Array.from({ length: nb }, () => ({ seq: [], score: NEG, finished: false, filler: true }));
  let unsatisfied = true;
  for (let cur = 0; ; cur++) {
    // Top K of beams x vocabulary by accumulated log-probability.
    const top: { score: number; b: number; t: number; i: number }[] = [];
    running.forEach((r, b) => {
      const lps = row(r.seq);
      for (let t = 0; t < V; t++) insertTop(top, K, { score: r.score + lps[t], b, t, i: b * V + t });
    });
    const length = cur + 1;
    const hits = top.map((c) => o.eosTokenIds.includes(c.t) || length >= o.maxNewTokens);
    const seqOf = (i: number): Slot => ({ seq: [...running[top[i].b].seq, top[i].t], score: 0, finished: false, filler: running[top[i].b].filler });

    // Running beams of the next step: the best num_beams, those that hit a stopping criterion pushed down by 1e9.
    // A beam carried on after it stopped (or from a -inf candidate) is a filler from then on.
    const nextRunning = top
      .map((c, i) => {
        const s = seqOf(i);
        return { ...s, score: c.score + (hits[i] ? NEG : 0), filler: s.filler || hits[i] || c.score === -Infinity, i };
      })
      .sort(byScore)
      .slice(0, nb);

    // Finished set: merge the first num_beams candidates that just stopped, with transformers' penalties.
    const full = done.every((d) => d.finished) && early === true;
    const merged: (Slot & { i: number })[] = done.map((d, i) => ({ ...d, i }));
    top.forEach((c, i) => {
      const justFinished = hits[i] && i < nb;
      let score = c.score / length ** lp;
      if (full) score += NEG;
      if (!unsatisfied) score += NEG;
      if (!justFinished) score += NEG;
      merged.push({ ...seqOf(i), score, finished: justFinished, i: nb + i });
    });
    done = merged.sort(byScore).slice(0, nb).map(({ seq, score, finished, filler }) => ({ seq, score, finished, filler }));
    running = nextRunning.map(({ seq, score, filler }) => ({ seq, score, finished: false, filler }));

    // _check_early_stop_heuristic and _beam_search_has_unfinished_sequences.
    const hypothetical = early === "never" && lp > 0 ? o.maxNewTokens : length;
    const bestPossible = running[0].score / hypothetical ** lp;
    const worst = Math.min(...done.map((d) => d.score));
    unsatisfied = unsatisfied && done.some((d) => bestPossible > (d.finished ? worst : NEG));
    const openBeam = !(done.every((d) => d.finished) && early === true);
    const valid = !hits.every(Boolean);
    if (!(unsatisfied && openBeam && valid)) break;
  }
  return done.map((d) => ({ tokens: d.seq, score: d.score, ended: d.seq.length > 0 && o.eosTokenIds.includes(d.seq[d.seq.length - 1]), filler: d.filler }));
}

/** Descending score, ties (including -Infinity) by ascending index: torch.topk's order as this reference fixes it. */
function byScore(x: { score: number; i: number }, y: { score: number; i: number }): number {
  if (x.score === y.score) return x.i - y.i;
  return y.score > x.score || Number.isNaN(x.score) ? 1 : -1;
}

/** Insert `c` into `top` (sorted by byScore, at most k long). */
function insertTop<T extends { score: number; i: number }>(top: T[], k: number, c: T): void {
  if (top.length === k && byScore(c, top[k - 1]) > 0) return;
  let at = top.length;
  while (at > 0 && byScore(c, top[at - 1]) < 0) at--;
  top.splice(at, 0, c);
  if (top.length > k) top.pop();
}
