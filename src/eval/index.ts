export type { EvalOptions, EvalReport, GoldMention, Prediction, ScoreRow } from "./types.js";
export { evaluate, goldRank, mentionKey, DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED } from "./evaluate.js";
export { canonicalCode, codeSet, hasNoCode, COMPOSITE_SEPARATOR } from "./codes.js";
export { bootstrapIntervals, percentile, type DocTally } from "./bootstrap.js";
export { mulberry32 } from "../util/random.js";
export { renderMarkdown, pct } from "./report-markdown.js";
export { renderRecallPlot, type ReferenceLine } from "./plot-svg.js";
export { codesOfDataset, goldFromDataset, goldWithPredictionCodes, predictionsFromRows } from "./adapters.js";
