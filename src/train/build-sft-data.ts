import type { Dataset } from "../data/types.js";
import type { KnowledgeBase } from "../kb/types.js";
import { markHumanMentions } from "../synth/human-dataset.js";
import { hashString, mulberry32, shuffled } from "../util/random.js";
import { type MixMode, mix } from "./mix.js";
import { type Outcome, type SftPair, type TrainingMention, buildSftPair } from "./sft-pairs.js";
import { buildSeq2SeqPair, type Seq2SeqPair } from "./seq2seq-pairs.js";
import type { TargetNameSelector } from "./target-name.js";

export interface SftDataOptions {
  readonly kb: KnowledgeBase;
  readonly selector: TargetNameSelector;
  readonly verb: string;
  readonly language: string;
  readonly human?: Dataset;
  readonly synthetic?: readonly TrainingMention[];
  readonly mode: MixMode;
  /** Fraction of human documents held out as dev (default 0.1). */
  readonly devRatio?: number;
  readonly seed?: number;
  readonly eos?: string;
}

export interface SftDataStats {
  readonly humanDocuments: number;
  readonly devDocuments: number;
  readonly humanPairsTrain: number;
  readonly humanPairsDev: number;
  readonly syntheticPairs: number;
  /** Pairs in train.jsonl by source (after cycling). */
  readonly trainFromHuman: number;
  readonly trainFromSynthetic: number;
  readonly trainPairs: number;
  readonly devPairs: number;
  readonly skipped: Readonly<Record<string, number>>;
}

export interface SftData<P = SftPair> {
  readonly train: P[];
  readonly dev: P[];
  readonly devDocumentIds: string[];
  readonly stats: SftDataStats;
}

type Tagged<P> = { readonly pair: P; readonly origin: "human" | "synthetic" };

/**
 * Human mentions (dev split by document) and synthetic sentences -> prompt/completion pairs, mixed.
 * Deterministic for a seed: documents and both training lists are shuffled with seeded PRNGs.
 */
export function buildSftData(o: SftDataOptions): SftData {
  return buildTrainingData(o, (m) => buildSftPair(m, o.kb, o.selector, o.verb, o.eos));
}

/** The same mentions, split and mix as source/target pairs for an encoder-decoder model (src/train/seq2seq-pairs.ts). */
export function buildSeq2SeqData(o: SftDataOptions): SftData<Seq2SeqPair> {
  return buildTrainingData(o, (m) => buildSeq2SeqPair(m, o.kb, o.selector, o.verb));
}

function buildTrainingData<P>(o: SftDataOptions, pairOf: (m: TrainingMention) => Outcome<P>): SftData<P> {
  const seed = o.seed ?? 0;
  const skipped: Record<string, number> = {};
  const skip = (why: string): void => void (skipped[why] = (skipped[why] ?? 0) + 1);

  const docIds = o.human ? o.human.documents.map((d) => d.id) : [];
  const devCount = o.human ? Math.round(docIds.length * (o.devRatio ?? 0.1)) : 0;
  const devIds = shuffled(docIds, mulberry32(hashString(`${seed}:dev`))).slice(0, devCount);
  const devSet = new Set(devIds);

  const humanTrain: Tagged<P>[] = [];
  const dev: P[] = [];
  if (o.human) {
    const marked = markHumanMentions(o.human, o.language);
    for (let i = 0; i < marked.problems.length; i++) skip("human sentence not built");
    for (const item of marked.items) {
      const outcome = pairOf({ marked: item.marked, mention: item.mentionText, group: item.mention.label, codes: item.mention.codes });
      if ("skipped" in outcome) {
        skip(`human ${outcome.skipped}`);
        continue;
      }
      if (devSet.has(item.documentId)) dev.push(outcome.pair);
      else humanTrain.push({ pair: outcome.pair, origin: "human" });
    }
  }
  const synthetic: Tagged<P>[] = [];
  for (const m of o.synthetic ?? []) {
    const outcome = pairOf(m);
    if ("skipped" in outcome) skip(`synthetic ${outcome.skipped}`);
    else synthetic.push({ pair: outcome.pair, origin: "synthetic" });
  }
  const mixed = mix(
    o.mode,
    shuffled(humanTrain, mulberry32(hashString(`${seed}:human`))),
    shuffled(synthetic, mulberry32(hashString(`${seed}:synthetic`))),
  );
  const train = mixed.map((t) => t.pair);
  const fromHuman = mixed.filter((p) => p.origin === "human").length;
  return {
    train,
    dev,
    devDocumentIds: devIds,
    stats: {
      humanDocuments: docIds.length,
      devDocuments: devIds.length,
      humanPairsTrain: humanTrain.length,
      humanPairsDev: dev.length,
      syntheticPairs: synthetic.length,
      trainFromHuman: fromHuman,
      trainFromSynthetic: mixed.length - fromHuman,
      trainPairs: train.length,
      devPairs: dev.length,
      skipped,
    },
  };
}
