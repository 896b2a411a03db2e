/**
 * Training of the hybrid linker's reranker on training mentions only. Every training mention gets its candidates
 * and features from an index whose memory leaves out the mention's own fold of documents (out-of-fold), so the
 * memory features look as they will on new text; the reranker's hyper-parameters are chosen by cross-validation
 * over those document folds, then the final model is trained on every fold. Models learn from pruned lists (gold
 * and hardest negatives) but are scored on each mention's FULL candidate list, as at link time: a model scored on
 * pruned lists only (boosted trees, session 14) gained there and lost 4 points on full lists.
 */
import type { TrainingMention } from "../kb/mentions.js";
import { hashString } from "../util/random.js";
import { parseMarkedSentence, type MarkedSentence } from "../markup/marked-sentence.js";
import { candidatesOf, FEATURE_NAMES, firstStageScore, type Candidate, type HybridQuery } from "./hybrid-features.js";
import { HybridIndex, type KbName } from "./hybrid-index.js";
import { Reranker, type RankList, type RerankerOptions } from "./reranker.js";

export interface HybridTrainOptions {
  readonly language?: string;
  /** Document folds (default 5). */
  readonly folds?: number;
  readonly seed?: number;
  /** Codes per retriever (default 64). */
  readonly perRetriever?: number;
  /** Candidate configurations compared by cross-validation (default: a small grid of hidden sizes and L2). */
  readonly grid?: readonly RerankerOptions[];
  readonly restrictToKb?: boolean;
  /** Called with a short progress message. */
  readonly log?: (message: string) => void;
}

export interface CvResult {
  readonly options: RerankerOptions;
  /** Mean over folds of Recall@1 of the reranked full candidate lists (every training mention counts). */
  readonly recallAt1: number;
}

/** A training mention's out-of-fold ranking by the chosen configuration (the calibration's fitting data). */
export interface OutOfFoldRanking {
  /** Index of the mention in the training mentions. */
  readonly mention: number;
  /** Softmax over the first CALIBRATION_BEAMS reranker scores, best first (as the linker's beam scores). */
  readonly scores: readonly number[];
  /** 1-based rank of the gold code among those, 0 when not among them. */
  readonly goldRank: number;
  /** Whether the mention's code occurs in other folds. */
  readonly seen: boolean;
}

/** Candidates per out-of-fold ranking kept for calibration. */
export const CALIBRATION_BEAMS = 5;

export interface HybridTrainResult {
  readonly reranker: Reranker;
  /** Every training mention ranked out of fold by the chosen configuration. */
  readonly outOfFold: readonly OutOfFoldRanking[];
  readonly chosen: RerankerOptions;
  readonly cv: readonly CvResult[];
  /** Share of training mentions whose gold code is among their out-of-fold candidates. */
  readonly candidateRecall: number;
  readonly mentions: number;
  readonly documents: number;
  readonly seconds: number;
}

export const DEFAULT_GRID: readonly RerankerOptions[] = [
  { hidden: 0, l2: 1e-4 },
  { hidden: 8, l2: 1e-4 },
];

/** The marked sentence of a stored training mention, when it has one that parses. */
function sentenceOf(m: TrainingMention): MarkedSentence | undefined {
  if (m.sentence === "") return undefined;
  try {
    return parseMarkedSentence(m.sentence);
  } catch {
    return undefined;
  }
}

/**
 * The query of each training mention: what `documentQueries` gives it at link time (the memory stores its sentence,
 * expansion and document mention texts as `documentQueries` built them; src/kb/mentions.ts). A row stored before
 * the memory kept its document's mention texts takes the texts of its document's memory rows instead, one shared
 * array per document; a row without a sentence is a bare mention, as a mention without context is.
 */
export function trainingQueries(mentions: readonly TrainingMention[]): HybridQuery[] {
  const storedBefore = new Map<string, string[]>();
  for (const m of mentions) {
    if (m.documentMentions !== undefined) continue;
    const key = `${m.source}\u0000${m.document}`;
    const texts = storedBefore.get(key);
    if (texts === undefined) storedBefore.set(key, [m.text]);
    else texts.push(m.text);
  }
  return mentions.map((m): HybridQuery => {
    const sentence = sentenceOf(m);
    return {
      ...(sentence === undefined ? { mention: m.text, group: m.group } : { mention: sentence.mention, group: sentence.group, plain: sentence.plain, fragments: sentence.fragments }),
      documentMentions: m.documentMentions ?? (storedBefore.get(`${m.source}\u0000${m.document}`) as string[]),
      ...(m.expansion === undefined ? {} : { expansion: m.expansion }),
    };
  });
}

/** Fold of a document: a seeded hash, so folds never split a document and do not depend on file order. */
export function foldOf(document: string, folds: number, seed: number): number {
  return hashString(`${seed}\u0000${document}`) % folds;
}

/** Candidates of a training mention kept for learning: the gold ones and the hardest negatives. */
export const TRAIN_CANDIDATES = 32;

/**
 * Candidates of a training mention as a rank list (gold = candidates whose code equals the mention's), pruned to
 * the gold candidates and the `max` - 1 best negatives by first-stage score: easy negatives teach little and
 * cost most of the training time. `rowOf(i)` gives candidate i's row (default: a copy of its features, which are
 * a view of its query's buffer of every candidate); the full list's rows can be shared this way.
 */
export function rankListOf(candidates: readonly Candidate[], group: string, code: string, max = TRAIN_CANDIDATES, rowOf = (i: number): Float64Array => (candidates[i] as Candidate).features.slice()): RankList {
  const gold: number[] = [];
  const negatives: { i: number; s: number }[] = [];
  candidates.forEach((c, i) => (c.code === code ? gold.push(i) : negatives.push({ i, s: firstStageScore(c.features) })));
  const codeOf = (i: number): string => (candidates[i] as Candidate).code;
  const hardest = negatives
    .sort((a, b) => b.s - a.s || (codeOf(a.i) < codeOf(b.i) ? -1 : 1))
    .slice(0, Math.max(0, max - gold.length))
    .map((x) => x.i);
  return { group, rows: [...gold, ...hardest].map(rowOf), gold: gold.map((_, i) => i) };
}

/**
 * Out-of-fold rank lists of every training mention (pruned for learning, and full for scoring as at link time),
 * with each list's fold and whether its code occurs in other folds.
 */
export function outOfFoldLists(kbNames: readonly KbName[], mentions: readonly TrainingMention[], options: HybridTrainOptions = {}): { lists: RankList[]; full: RankList[]; fold: number[]; seen: boolean[]; mention: number[] } {
  const folds = options.folds ?? 5;
  const seed = options.seed ?? 1;
  const lists: RankList[] = [];
  const full: RankList[] = [];
  const fold: number[] = [];
  const seen: boolean[] = [];
  const mention: number[] = [];
  const foldOfMention = mentions.map((m) => foldOf(m.document, folds, seed));
  const foldsOfCode = new Map<string, Set<number>>();
  mentions.forEach((m, i) => (foldsOfCode.get(m.code) ?? foldsOfCode.set(m.code, new Set()).get(m.code)!).add(foldOfMention[i] as number));
  const queries = trainingQueries(mentions);
  for (let f = 0; f < folds; f++) {
    const index = HybridIndex.build(kbNames, mentions.filter((_, i) => foldOfMention[i] !== f), { language: options.language ?? "es", restrictToKb: options.restrictToKb ?? true });
    mentions.forEach((m, i) => {
      if (foldOfMention[i] !== f) return;
      const cands = candidatesOf(index, queries[i] as HybridQuery, { perRetriever: options.perRetriever ?? 64 });
      const all = fullListOf(cands, m.group, m.code);
      lists.push(rankListOf(cands, m.group, m.code, TRAIN_CANDIDATES, (k) => all.rows[k] as Float64Array)); // rows shared, not copied twice
      full.push(all);
      fold.push(f);
      mention.push(i);
      seen.push([...(foldsOfCode.get(m.code) ?? [])].some((x) => x !== f));
    });
    options.log?.(`fold ${f + 1}/${folds}: candidates of ${fold.filter((x) => x === f).length} mentions`);
  }
  return { lists, full, fold, seen, mention };
}

/** Every candidate of a mention as a rank list (copies of the features: the candidates share one buffer). */
export function fullListOf(candidates: readonly Candidate[], group: string, code: string): RankList {
  return { group, rows: candidates.map((c) => c.features.slice()), gold: candidates.flatMap((c, i) => (c.code === code ? [i] : [])) };
}

/**
 * Weights that give mentions of codes seen in other folds and of unseen codes the shares they have among ALL
 * training mentions. Only mentions whose gold code is a candidate can be learnt from, and with a KB that lacks
 * rare training codes these are mostly frequent, seen codes: unweighted, the reranker would over-trust the
 * memory for new codes. Uses training statistics only.
 */
export function reweightSeen(lists: readonly RankList[], seen: readonly boolean[]): RankList[] {
  const all = seen.length;
  const unseenAll = seen.filter((x) => !x).length / Math.max(1, all);
  const usable = lists.map((l, i) => ({ l, seen: seen[i] as boolean })).filter((x) => x.l.gold.length > 0);
  const unseenUsable = usable.filter((x) => !x.seen).length / Math.max(1, usable.length);
  if (unseenUsable === 0 || unseenUsable === 1) return [...lists];
  const wUnseen = unseenAll / unseenUsable;
  const wSeen = (1 - unseenAll) / (1 - unseenUsable);
  return lists.map((l, i) => ({ ...l, weight: seen[i] ? wSeen : wUnseen }));
}

/** The first `k` candidates of a list as the linker returns them: softmax over their scores, gold's rank. */
export function rankedList(model: Reranker, list: RankList, k = CALIBRATION_BEAMS): { scores: number[]; goldRank: number } {
  const scored = list.rows.map((r, i) => ({ i, s: model.score(r, list.group) })).sort((a, b) => b.s - a.s || a.i - b.i).slice(0, k);
  const max = scored[0]?.s ?? 0;
  const e = scored.map((x) => Math.exp(x.s - max));
  const total = e.reduce((a, b) => a + b, 0);
  return { scores: e.map((v) => v / total), goldRank: scored.findIndex((x) => list.gold.includes(x.i)) + 1 };
}

/** Weighted share of lists whose top-scored candidate is gold (a list without gold is a miss). */
export function recallAt1(model: Reranker, lists: readonly RankList[]): number {
  let hits = 0;
  let total = 0;
  for (const l of lists) {
    let best = -1;
    let bestScore = -Infinity;
    l.rows.forEach((r, i) => {
      const s = model.score(r, l.group);
      if (s > bestScore) [best, bestScore] = [i, s];
    });
    const w = l.weight ?? 1;
    total += w;
    if (l.gold.includes(best)) hits += w;
  }
  return total === 0 ? 0 : hits / total;
}

export function trainHybrid(kbNames: readonly KbName[], mentions: readonly TrainingMention[], options: HybridTrainOptions = {}): HybridTrainResult {
  const started = performance.now();
  const seed = options.seed ?? 1;
  const folds = options.folds ?? 5;
  const oof = outOfFoldLists(kbNames, mentions, options);
  const { fold } = oof;
  const lists = reweightSeen(oof.lists, oof.seen);
  // Scored with the same seen/unseen weights as the lists learnt from.
  const full = oof.full.map((l, i) => ({ ...l, weight: lists[i]?.weight ?? 1 }));
  const grid = options.grid ?? DEFAULT_GRID;
  const cv: CvResult[] = [];
  const rankings: OutOfFoldRanking[][] = [];
  for (const config of grid) {
    let total = 0;
    const ranked: OutOfFoldRanking[] = [];
    for (let f = 0; f < folds; f++) {
      const train = lists.filter((_, i) => fold[i] !== f);
      const model = Reranker.train(train, { ...config, seed });
      // Weighted Recall@1 of the fold's full lists; their rankings are the calibration's out-of-fold data.
      let hits = 0;
      let weight = 0;
      full.forEach((l, i) => {
        if (fold[i] !== f) return;
        const r = rankedList(model, l);
        ranked.push({ mention: oof.mention[i] as number, seen: oof.seen[i] as boolean, ...r });
        weight += l.weight ?? 1;
        if (r.goldRank === 1) hits += l.weight ?? 1;
      });
      total += weight === 0 ? 0 : hits / weight;
    }
    cv.push({ options: config, recallAt1: total / folds });
    rankings.push(ranked);
    options.log?.(`cv ${JSON.stringify(config)}: Recall@1 ${(total / folds).toFixed(4)}`);
  }
  const bestIndex = cv.reduce((a, b, i) => ((b.recallAt1 > (cv[a] as CvResult).recallAt1) ? i : a), 0);
  const best = cv[bestIndex] as CvResult;
  const reranker = Reranker.train(lists, { ...best.options, seed });
  return {
    reranker,
    outOfFold: rankings[bestIndex] as OutOfFoldRanking[],
    chosen: best.options,
    cv,
    candidateRecall: lists.filter((l) => l.gold.length > 0).length / Math.max(1, lists.length),
    mentions: mentions.length,
    documents: new Set(mentions.map((m) => m.document)).size,
    seconds: (performance.now() - started) / 1000,
  };
}

export { FEATURE_NAMES };
