/**
 * Dynamic batching for a server over one linker. Requests submit their mention queries (called sentences below: one
 * marked sentence each); one worker sends model batches of up to `batchSize` of them to `linker.link`, one batch at a
 * time, and routes each result back to its request in input order.
 *
 * - merge on: a batch takes sentences round-robin from every queued request with the same decoding options, so
 *   concurrent one-sentence clients share a batch, and a big request cannot keep the model from the others for
 *   more than one batch. When fewer than `batchSize` sentences wait, the worker waits at most `maxWaitMs` for more.
 * - merge off (turn-taking): requests take turns, each in batches of its own sentences (the baseline).
 * - continuous (merge on, and a linker that decodes in batches: src/linker/query-feed.ts): one decode runs while
 *   sentences wait; between decoding steps the sentences of finished searches are answered at once and queued ones
 *   take their rows, so a batch never waits for its longest search and no client waits for a batch to form.
 * A cancelled request (client gone) leaves the queue at once; a batch already on the model still finishes for the
 * other requests in it (the cancelled request's results are dropped), and stops between decoding steps when no
 * request in it is left (continuous: each of its searches is dropped between steps).
 */
import { SyncabelError } from "../errors.js";
import { isContinuousLinker, type ContinuousLinker, type FedQuery } from "../linker/query-feed.js";
import { linkOptionsOf, type Linker, type LinkResult, type MentionQuery, type SampleOptions } from "../linker/types.js";

/** The decoding options a request may set (wire names). */
export type DecodeOptions = Pick<SampleOptions, "num_beams" | "constrained" | "max_new_tokens">;

export interface BatcherOptions {
  readonly batchSize: number;
  /** Merge sentences of concurrent requests into one batch (default true). */
  readonly merge?: boolean;
  /** With merge: sentences join the running decode between steps when the linker can (default false). */
  readonly continuous?: boolean;
  /** Wait for more sentences when a batch is not full (default 5 ms; after a slow batch up to 2 % of its time, 50 ms at most). */
  readonly maxWaitMs?: number;
  /** Called with the size of every batch sent to the linker (continuous: the sentences decoding after each admission). */
  readonly onBatch?: (sentences: number) => void;
  /** Called with the number of sentences dropped because their request was cancelled. */
  readonly onDropped?: (sentences: number) => void;
}

interface Job {
  readonly key: string;
  readonly options: DecodeOptions;
  readonly sentences: readonly MentionQuery[];
  readonly results: LinkResult[];
  /** Next sentence not yet sent to the model. */
  next: number;
  /** Sentences sent or waiting whose result has not come back. */
  pending: number;
  done: boolean;
  readonly resolve: (results: LinkResult[]) => void;
  readonly reject: (e: unknown) => void;
}

interface Slot {
  readonly job: Job;
  readonly index: number;
}

/** The error a cancelled request's promise rejects with (nobody is left to read it). */
export function cancelledError(): SyncabelError {
  return new SyncabelError("REQUEST_INVALID", "the request was cancelled: the client disconnected");
}

export class SentenceBatcher {
  private readonly queue: Job[] = [];
  private running = false;
  /** How long the last batch took on the model (sets the wait for a fuller batch). */
  private lastBatchMs = 0;
  /** The batch on the model and how to stop it once every request in it is cancelled. */
  private onModel: { slots: readonly Slot[]; stop: AbortController } | undefined;
  private wake: (() => void) | undefined;
  private readonly merge: boolean;
  private readonly maxWaitMs: number;
  /** The linker, when sentences join its running decode (continuous batching). */
  private readonly continuous: ContinuousLinker | undefined;

  constructor(
    private readonly linker: Linker,
    private readonly options: BatcherOptions,
  ) {
    this.merge = options.merge ?? true;
    this.maxWaitMs = options.maxWaitMs ?? 5;
    this.continuous = this.merge && (options.continuous ?? false) && isContinuousLinker(linker) ? linker : undefined;
    if (!Number.isSafeInteger(options.batchSize) || options.batchSize < 1) throw new SyncabelError("LINKER_INVALID_OPTIONS", `batch size must be a positive integer, got ${options.batchSize}`);
  }

  /** Sentences waiting for the model (not yet in a batch). */
  get queuedSentences(): number {
    let n = 0;
    for (const job of this.queue) n += job.sentences.length - job.next;
    return n;
  }

  /** Results in input order; rejects with `cancelledError()` when `signal` aborts first. */
  submit(sentences: readonly MentionQuery[], options: DecodeOptions, signal?: AbortSignal): Promise<LinkResult[]> {
    if (sentences.length === 0) return Promise.resolve([]);
    if (signal?.aborted) return Promise.reject(cancelledError());
    return new Promise<LinkResult[]>((resolve, reject) => {
      const job: Job = {
        key: JSON.stringify([options.num_beams ?? null, options.constrained ?? null, options.max_new_tokens ?? null]),
        options,
        sentences,
        results: new Array(sentences.length),
        next: 0,
        pending: sentences.length,
        done: false,
        resolve,
        reject,
      };
      signal?.addEventListener("abort", () => this.cancel(job), { once: true });
      this.queue.push(job);
      if (this.queuedSentences >= this.options.batchSize) this.wake?.();
      void this.pump();
    });
  }

  private cancel(job: Job): void {
    if (job.done) return;
    this.finish(job);
    const dropped = job.sentences.length - job.next;
    if (dropped > 0) this.options.onDropped?.(dropped);
    job.reject(cancelledError());
    // Nobody is left waiting for the batch on the model: stop it between decoding steps.
    if (this.onModel?.slots.every((s) => s.job.done)) this.onModel.stop.abort();
  }

  private finish(job: Job): void {
    job.done = true;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** The worker: runs while sentences wait; at most one runs at a time. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        // A partial batch waits a moment, also right after a batch: the clients it just answered send their next
        // sentences soon, and taking the rest at once would keep the two groups in separate batches for good. The
        // wait is maxWaitMs, or up to 2 % of the last batch's time when that is longer (a loaded machine answers
        // slowly), at most 50 ms.
        if (this.merge && this.maxWaitMs > 0 && this.queuedSentences < this.options.batchSize) {
          await this.waitForMore(Math.max(this.maxWaitMs, Math.min(50, this.lastBatchMs * 0.02)));
        }
        const t0 = performance.now();
        if (this.continuous) {
          await this.runContinuous(this.continuous);
        } else {
          const batch = this.take(this.options.batchSize);
          if (batch.length > 0) await this.run(batch);
        }
        this.lastBatchMs = performance.now() - t0;
      }
    } finally {
      this.running = false;
    }
  }

  private waitForMore(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  /** The next `limit` sentences: round-robin over requests with the first request's options (merge), or the first request alone. */
  private take(limit: number): Slot[] {
    const head = this.queue[0];
    if (head === undefined) return [];
    const candidates = this.merge ? this.queue.filter((j) => j.key === head.key) : [head];
    const batch: Slot[] = [];
    let progress = true;
    while (batch.length < limit && progress) {
      progress = false;
      for (const job of candidates) {
        if (batch.length >= limit) break;
        if (job.next >= job.sentences.length) continue;
        batch.push({ job, index: job.next++ });
        progress = true;
      }
    }
    // A request whose sentences are all taken leaves the queue (it is still pending until its results return);
    // moving the rest to the back keeps the round-robin fair between batches.
    for (const job of candidates) {
      const exhausted = job.next >= job.sentences.length;
      if (!exhausted && !this.merge) continue; // turn-taking: the head keeps its turn
      this.queue.splice(this.queue.indexOf(job), 1);
      if (!exhausted) this.queue.push(job);
    }
    return batch;
  }

  /**
   * One continuous decode with the options of the request at the head of the queue. It takes sentences of requests
   * with those options only, and none once a request with other options heads the queue: the decode then drains
   * and that request's own decode starts next.
   */
  private async runContinuous(linker: ContinuousLinker): Promise<void> {
    const head = this.queue[0];
    if (head === undefined) return;
    const inFlight = new Set<Slot>();
    let taken = 0;
    const feed = (slot: Slot): FedQuery => ({
      query: slot.job.sentences[slot.index] as MentionQuery,
      wanted: () => !slot.job.done,
      deliver: (result) => {
        inFlight.delete(slot);
        this.settle(slot, result);
      },
    });
    const take = (room: number): FedQuery[] => {
      if (this.queue[0]?.key !== head.key) return [];
      const slots = this.take(room).filter((s) => !s.job.done);
      for (const slot of slots) inFlight.add(slot);
      taken += slots.length;
      if (slots.length > 0) this.options.onBatch?.(inFlight.size);
      return slots.map(feed);
    };
    try {
      await linker.linkContinuously({ take }, { ...linkOptionsOf(head.options), batchSize: this.options.batchSize });
    } catch (e) {
      // A decode that failed before taking anything fails its head request: the queue must move on.
      const failed = taken === 0 ? [head] : [...inFlight].map((s) => s.job);
      for (const job of failed) {
        if (job.done) continue;
        this.finish(job);
        job.reject(e);
      }
    }
  }

  /** A sentence's result back to its request; the request resolves with its last one. */
  private settle({ job, index }: Slot, result: LinkResult): void {
    if (job.done) return;
    job.results[index] = result;
    if (--job.pending === 0) {
      this.finish(job);
      job.resolve(job.results);
    }
  }

  private async run(batch: Slot[]): Promise<void> {
    const live = batch.filter((s) => !s.job.done);
    if (live.length === 0) return;
    this.options.onBatch?.(live.length);
    const stop = new AbortController();
    this.onModel = { slots: live, stop };
    let results: LinkResult[];
    try {
      results = await this.linker.link(
        live.map((s) => s.job.sentences[s.index] as MentionQuery),
        { ...linkOptionsOf(live[0]!.job.options), batchSize: this.options.batchSize, signal: stop.signal },
      );
    } catch (e) {
      for (const { job } of live) {
        if (job.done) continue;
        this.finish(job);
        job.reject(e);
      }
      return;
    } finally {
      this.onModel = undefined;
    }
    live.forEach((slot, k) => this.settle(slot, results[k] as LinkResult));
  }
}
