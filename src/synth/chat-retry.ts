/**
 * One chat request with the attempts policy of every LLM client of syncabel (`synth`, `judge`): a reply the caller
 * cannot use is asked again at once (a sampling accident); 429 / 5xx / timeouts / torn bodies wait an exponential,
 * jittered backoff with the server's Retry-After as a floor; a fatal error (bad key, unknown model) or an endpoint
 * that never answered any attempt stops the whole run; other errors end this item.
 */
import { SyncabelError, asSyncabelError } from "../errors.js";
import { type RetryPolicy, backoffDelayMs, sleep } from "./retry-policy.js";
import type { GenerationReply, GenerationRequest, Generator, TokenUsage } from "./types.js";

/** What the caller makes of a reply: a value, or why it must be asked again. */
export type ReplyVerdict<T> = { readonly value: T } | { readonly retry: string; readonly errorCode?: string };

export type ChatOutcome<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number; readonly usage?: TokenUsage; readonly reply: GenerationReply }
  | { readonly ok: false; readonly attempts: number; readonly usage?: TokenUsage; readonly reason: string; readonly errorCode: string };

export function addUsage(a: TokenUsage | undefined, b: TokenUsage | undefined): TokenUsage | undefined {
  if (!b) return a;
  if (!a) return b;
  return { promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens };
}

/**
 * Ask `generator` until `accept` takes a reply or the attempts run out. Throws only when no other item can succeed
 * either (details.fatal), so the run stops.
 */
export async function chatWithRetries<T>(
  generator: Generator,
  request: (attempt: number) => GenerationRequest,
  accept: (reply: GenerationReply) => ReplyVerdict<T>,
  retry: RetryPolicy,
  jitter: () => number,
  signal?: AbortSignal,
): Promise<ChatOutcome<T>> {
  let usage: TokenUsage | undefined;
  let reason = "";
  let errorCode = "SYNTH_BAD_REPLY";
  let attempt = 0;
  let unreachable = 0;
  while (attempt < retry.maxAttempts) {
    if (signal?.aborted) return { ok: false, attempts: attempt, ...(usage ? { usage } : {}), reason: "interrupted", errorCode: "INTERRUPTED" };
    attempt++;
    try {
      const reply = await generator.generate(request(attempt));
      usage = addUsage(usage, reply.usage);
      const verdict = accept(reply);
      if ("value" in verdict) return { ok: true, value: verdict.value, attempts: attempt, ...(usage ? { usage } : {}), reply };
      reason = verdict.retry + (reply.finishReason === "length" ? " (reply cut at max tokens)" : "");
      errorCode = verdict.errorCode ?? "SYNTH_BAD_REPLY";
    } catch (e) {
      const err = asSyncabelError(e, "SYNTH_ENDPOINT");
      if (err.details.fatal === true) throw err;
      if (err.details.unreachable === true && err.details.everAnswered === false) unreachable++;
      // Every attempt found nothing listening, and the endpoint never answered: no item can succeed.
      if (unreachable === retry.maxAttempts) throw new SyncabelError(err.code, err.message, { ...err.details, fatal: true }, { cause: err });
      reason = err.message;
      errorCode = err.code;
      if (err.details.retryable !== true) break;
      if (attempt < retry.maxAttempts) {
        const after = typeof err.details.retryAfterMs === "number" ? err.details.retryAfterMs : undefined;
        await sleep(backoffDelayMs(retry, attempt, jitter, after), signal);
      }
    }
  }
  return { ok: false, attempts: attempt, ...(usage ? { usage } : {}), reason, errorCode };
}
