/**
 * Label every item: STRICT / PARTIAL (and NO_RELATION for a prediction without a code) from the codes alone; the
 * rest from the cache, or from the model through an OpenAI-compatible endpoint with synth's attempts policy, at
 * most `concurrency` requests in flight, one request per distinct (gold, prediction, context). Each model verdict
 * is appended to the cache at once, so a killed run resumes where it stopped.
 */
import { SyncabelError, asSyncabelError } from "../errors.js";
import { NO_CODE } from "../constants.js";
import { codeSet, compareCodes } from "../eval/codes.js";
import type { KnowledgeBase } from "../kb/types.js";
import { chatWithRetries } from "../synth/chat-retry.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../synth/retry-policy.js";
import type { Generator } from "../synth/types.js";
import { hashString, mulberry32 } from "../util/random.js";
import { cacheKey, type VerdictCache } from "./cache.js";
import { judgeMessages, type JudgePrompt } from "./prompt.js";
import { parseVerdict, type ParsedVerdict } from "./reply.js";
import type { JudgeItem, Verdict } from "./types.js";

export interface JudgeRunOptions {
  readonly items: readonly JudgeItem[];
  readonly kb: KnowledgeBase;
  readonly generator: Generator;
  readonly prompt: JudgePrompt;
  readonly cache: VerdictCache;
  readonly concurrency: number;
  readonly retry?: RetryPolicy;
  /** Sampling of the judge (default temperature 0: the most likely label). */
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** Stop at once: requests in flight are cancelled, nothing more is asked or written. */
  readonly signal?: AbortSignal;
  /** Called once per item labelled in this run (or found labelled), with how. */
  readonly onItem?: (index: number, verdict: Verdict | undefined) => void;
}

export interface JudgeFailure {
  readonly index: number;
  readonly reason: string;
  readonly errorCode: string;
}

export interface JudgeSummary {
  /** Per item, its verdict (undefined: failed or not reached). */
  readonly verdicts: readonly (Verdict | undefined)[];
  readonly byCodes: number;
  readonly fromCache: number;
  /** Distinct (gold, prediction, context) asked in this run, and the HTTP attempts they took. */
  readonly asked: number;
  readonly attempts: number;
  readonly failures: readonly JudgeFailure[];
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly usageReported: boolean;
  readonly interrupted: boolean;
  readonly wallSeconds: number;
}

/** STRICT / PARTIAL by the codes; a prediction without a code is NO_RELATION; undefined: the model must judge. */
export function decideByCodes(item: JudgeItem): Verdict | undefined {
  const byCodes = compareCodes(item.gold, item.predicted);
  if (byCodes !== undefined) return { label: byCodes, by: "codes" };
  if (codeSet(item.predicted).every((c) => c === NO_CODE)) return { label: "NO_RELATION", by: "codes", explanation: "no predicted code" };
  return undefined;
}

export async function runJudge(o: JudgeRunOptions): Promise<JudgeSummary> {
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new SyncabelError("JUDGE_INVALID_OPTIONS", `concurrency must be a positive integer (got ${o.concurrency})`, { concurrency: o.concurrency });
  const started = Date.now();
  const retry = o.retry ?? DEFAULT_RETRY_POLICY;
  const verdicts: (Verdict | undefined)[] = new Array(o.items.length).fill(undefined);
  let byCodes = 0;
  let fromCache = 0;
  // Items the model must label, grouped by cache key (the first item of a key asks, the others share its answer).
  const pending = new Map<string, number[]>();
  o.items.forEach((item, index) => {
    const decided = decideByCodes(item);
    if (decided) {
      byCodes++;
      verdicts[index] = decided;
      o.onItem?.(index, decided);
      return;
    }
    const key = cacheKey(o.generator.info.model, o.prompt.sha256, item);
    const hit = o.cache.get(key);
    if (hit) {
      fromCache++;
      verdicts[index] = { label: hit.label, by: "cache", explanation: hit.explanation };
      o.onItem?.(index, verdicts[index]);
      return;
    }
    const group = pending.get(key);
    if (group) group.push(index);
    else pending.set(key, [index]);
  });

  const queue = [...pending.entries()];
  let next = 0;
  let attempts = 0;
  let promptTokens = 0;
  let completionTokens = 0;
  let usageReported = false;
  let fatal: SyncabelError | undefined;
  const failures: JudgeFailure[] = [];
  const stopped = (): boolean => fatal !== undefined || o.signal?.aborted === true;

  const askOne = async (key: string, indices: readonly number[]): Promise<void> => {
    const item = o.items[indices[0]];
    const messages = judgeMessages(o.prompt, o.kb, item);
    const outcome = await chatWithRetries<ParsedVerdict>(
      o.generator,
      () => ({ messages, temperature: o.temperature ?? 0, topP: 1, maxTokens: o.maxTokens ?? 256, seed: 0, ...(o.signal ? { signal: o.signal } : {}) }),
      (reply) => {
        try {
          return { value: parseVerdict(reply.text) };
        } catch (e) {
          return { retry: (e as Error).message, errorCode: "JUDGE_BAD_REPLY" };
        }
      },
      retry,
      mulberry32(hashString(`judge:${key}:${Date.now()}`)),
      o.signal,
    );
    if (stopped()) return; // cancelled meanwhile: nothing more is written
    attempts += outcome.attempts;
    if (outcome.usage) {
      usageReported = true;
      promptTokens += outcome.usage.promptTokens;
      completionTokens += outcome.usage.completionTokens;
    }
    if (!outcome.ok) {
      for (const index of indices) {
        failures.push({ index, reason: outcome.reason, errorCode: outcome.errorCode });
        o.onItem?.(index, undefined);
      }
      return;
    }
    o.cache.add({
      key, label: outcome.value.label, explanation: outcome.value.explanation, model: o.generator.info.model, attempts: outcome.attempts,
      gold: item.gold, predicted: item.predicted, mention: item.span, ...(outcome.usage ? { usage: outcome.usage } : {}),
    });
    for (const index of indices) {
      verdicts[index] = { label: outcome.value.label, by: "model", explanation: outcome.value.explanation };
      o.onItem?.(index, verdicts[index]);
    }
  };

  const worker = async (): Promise<void> => {
    while (!stopped() && next < queue.length) {
      const [key, indices] = queue[next++];
      try {
        await askOne(key, indices);
      } catch (e) {
        if (!o.signal?.aborted) fatal ??= asSyncabelError(e, "SYNTH_ENDPOINT");
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(1, queue.length)) }, worker));
  if (fatal) throw fatal;
  return {
    verdicts, byCodes, fromCache, asked: queue.length, attempts, failures, promptTokens, completionTokens, usageReported,
    interrupted: o.signal?.aborted === true,
    wallSeconds: (Date.now() - started) / 1000,
  };
}
