/** When and how long to wait before another attempt at a concept. */
export interface RetryPolicy {
  /** Attempts per concept, the first included (conventions: up to 5). */
  readonly maxAttempts: number;
  /** Backoff before attempt k+1 after a transport failure: base * 2^(k-1), capped, full jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };

/**
 * Exponential backoff with full jitter (a uniform wait in [0, cap]) so many workers hitting one busy
 * server spread out; a server's Retry-After is a floor.
 */
export function backoffDelayMs(policy: RetryPolicy, failedAttempt: number, random: () => number, retryAfterMs?: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failedAttempt - 1));
  const jittered = cap * random();
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, policy.maxDelayMs));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
