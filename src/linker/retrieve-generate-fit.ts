/**
 * Fitting the retriever weight of the retrieve-generate ranking (LM score + w x retriever score) on TRAINING
 * mentions only: w is chosen from a grid to maximise Recall@1 there (ties: the smallest |w|, so pure LM score wins
 * a tie). Dev/test data are for reporting, never for this fit.
 */
import { SyncabelError } from "../errors.js";
import type { RetrieveGenerateLinker } from "./retrieve-generate.js";

/** One training mention: its candidates' two scores and codes, and the gold code(s). */
export interface WeightFitExample {
  readonly candidates: readonly { readonly lmScore: number; readonly score: number; readonly code: string }[];
  /** Gold codes: the top candidate is right when its code is one of them. */
  readonly gold: readonly string[];
}

export interface WeightFit {
  readonly weight: number;
  /** Recall@1 on the training examples with the fitted weight, and with pure LM score (w = 0). */
  readonly recallAt1: number;
  readonly recallAt1PureLm: number;
  readonly examples: number;
}

/** 0 and +-10^k for k in -3..3 in steps of a quarter decade: scores of different scales are covered. */
export const DEFAULT_WEIGHT_GRID: readonly number[] = (() => {
  const out = [0];
  for (let e = -3; e <= 3; e += 0.25) out.push(+(10 ** e).toPrecision(4), -(+(10 ** e).toPrecision(4)));
  return out;
})();

/** Whether the best candidate under LM + w x retriever is right (first candidate wins ties). */
function topIsGold(example: WeightFitExample, w: number): boolean {
  let best = -1;
  let bestKey = -Infinity;
  example.candidates.forEach((c, i) => {
    const key = c.lmScore + w * c.score;
    if (key > bestKey) {
      bestKey = key;
      best = i;
    }
  });
  return best >= 0 && example.gold.includes(example.candidates[best].code);
}

function recall(examples: readonly WeightFitExample[], w: number): number {
  let hits = 0;
  for (const e of examples) if (topIsGold(e, w)) hits++;
  return hits / examples.length;
}

export function fitRetrieverWeight(examples: readonly WeightFitExample[], grid: readonly number[] = DEFAULT_WEIGHT_GRID): WeightFit {
  if (examples.length === 0) throw new SyncabelError("TRAIN_INVALID_INPUT", "no training mentions to fit the retriever weight on");
  if (grid.length === 0 || grid.some((w) => !Number.isFinite(w))) throw new SyncabelError("TRAIN_INVALID_INPUT", "the weight grid must be non-empty and finite");
  let weight = grid[0];
  let best = -1;
  for (const w of grid) {
    const r = recall(examples, w);
    if (r > best || (r === best && Math.abs(w) < Math.abs(weight))) {
      best = r;
      weight = w;
    }
  }
  return { weight, recallAt1: best, recallAt1PureLm: recall(examples, 0), examples: examples.length };
}

/** A training sentence (`[mention]{GROUP}` marked) with its gold code(s). */
export interface TrainingSentence {
  readonly sentence: string;
  readonly gold: readonly string[];
}

/**
 * Score the training sentences' candidates with the linker's model and fit the weight on them. Sentences that
 * cannot be linked, or whose candidates miss every gold code (no weight can fix those), are left out.
 */
export async function fitRetrieveGenerateWeight(linker: Pick<RetrieveGenerateLinker, "candidateScores">, training: readonly TrainingSentence[], grid?: readonly number[]): Promise<WeightFit> {
  const scored = await linker.candidateScores(training.map((t) => t.sentence));
  const examples: WeightFitExample[] = [];
  scored.forEach((candidates, i) => {
    if (!Array.isArray(candidates)) return;
    const gold = training[i].gold;
    if (candidates.some((c) => gold.includes(c.code))) examples.push({ candidates, gold });
  });
  return fitRetrieverWeight(examples, grid);
}
