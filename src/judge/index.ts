export { runJudge, decideByCodes, type JudgeRunOptions, type JudgeSummary, type JudgeFailure } from "./run.js";
export { judgeItems, type JudgeItems, type GoldCodeSource } from "./items.js";
export { loadJudgePrompt, judgeMessages, DEFAULT_JUDGE_PROMPT, JUDGE_PLACEHOLDERS, type JudgePrompt } from "./prompt.js";
export { VerdictCache, cacheKey } from "./cache.js";
export { parseVerdict, type ParsedVerdict } from "./reply.js";
export { judgmentsTsv } from "./output.js";
export { MODEL_LABELS, type JudgeItem, type ModelLabel, type Verdict, type CacheRecord } from "./types.js";
