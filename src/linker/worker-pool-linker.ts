/**
 * A model-free linker (hybrid or TF-IDF) run on several worker threads: each worker builds its own in-memory
 * index from the KB index file and a `link()` call is split into contiguous chunks, one per idle worker. The
 * lexical linkers are single-threaded CPU work, so on a machine with N cores this links up to N times as many
 * mentions per second; the answers are the ones the same linker gives in-process (each mention is linked on
 * its own, with its document context). A worker that dies turns its unfinished mentions into per-mention errors;
 * the others go on.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { SyncabelError } from "../errors.js";
import { sampleSentences } from "./sample.js";
import type { LinkOptions, LinkResult, Linker, MentionQuery, SampleOptions, SampleResult } from "./types.js";
import type { PooledLinkerKind, WireError, WorkerInit, WorkerLinkOptions, WorkerReply } from "./worker-protocol.js";

export type { PooledLinkerKind } from "./worker-protocol.js";

export interface WorkerPoolOptions {
  /** Path of the KB index file (each worker opens it read-only). */
  readonly kb: string;
  readonly linker: PooledLinkerKind;
  readonly workers: number;
  /** Fewest sentences worth a worker of their own (default 8): smaller calls go to one worker. */
  readonly minChunk?: number;
  /** Aborting it while the workers start terminates them: the open rejects with INTERRUPTED. */
  readonly signal?: AbortSignal;
}

interface Pending {
  readonly resolve: (results: LinkResult[]) => void;
  readonly reject: (error: SyncabelError) => void;
}

/** One worker thread and the requests it has not answered. */
interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Mentions sent and not answered: the least loaded live slot takes the next chunk. */
  load: number;
  /** Why the worker is gone, once it is. */
  dead?: SyncabelError;
}

/** What `new Worker` runs to start a worker whose entry module is `entry`. */
export type WorkerBootstrap = (entry: URL) => { readonly script: string | URL; readonly eval: boolean };

/** The worker entry module (src/linker/linker-worker.ts, compiled beside this file). */
const WORKER_ENTRY = new URL("./linker-worker.js", import.meta.url);

let workerBootstrap: WorkerBootstrap = (entry) => ({ script: entry, eval: false });

/**
 * Replace how workers start: the default runs the compiled entry as it is. Code run from the TypeScript sources
 * (tests, benches) installs a bootstrap that registers its loader in the worker first (Node 20 does not pass
 * `--import` hooks on to workers): see test/support/ts-workers.ts.
 */
export function setWorkerBootstrap(bootstrap: WorkerBootstrap): void {
  workerBootstrap = bootstrap;
}

/** Workers a lexical linker gets by default: the machine's cores, at most 4 (index memory grows per worker). */
export function defaultLinkerWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

const fromWire = (e: WireError): SyncabelError => new SyncabelError(e.code, e.message, e.details);

export class WorkerPoolLinker implements Linker {
  readonly kind: PooledLinkerKind;
  private nextId = 1;
  private closed = false;

  private constructor(private readonly slots: readonly Slot[], kind: PooledLinkerKind, private readonly minChunk: number) {
    this.kind = kind;
  }

  /** Start the workers and wait until each has built its index; fails with the first worker's error. */
  static async open(options: WorkerPoolOptions): Promise<WorkerPoolLinker> {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new SyncabelError("LINKER_INVALID_OPTIONS", `workers must be a positive integer, got ${options.workers}`, { workers: options.workers });
    }
    const entry = workerBootstrap(WORKER_ENTRY);
    const init: WorkerInit = { kb: options.kb, linker: options.linker };
    const slots: Slot[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 0; i < options.workers; i++) {
      const worker = new Worker(entry.script, { workerData: init, eval: entry.eval });
      const slot: Slot = { worker, pending: new Map(), load: 0 };
      slots.push(slot);
      ready.push(WorkerPoolLinker.watch(slot, i));
    }
    const pool = new WorkerPoolLinker(slots, options.linker, Math.max(1, options.minChunk ?? 8));
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new SyncabelError("INTERRUPTED", "stopped while the linker's worker threads were starting"));
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener("abort", onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      await Promise.race([Promise.all(ready), aborted]);
    } catch (e) {
      await pool.close();
      throw e;
    } finally {
      if (onAbort !== undefined) options.signal?.removeEventListener("abort", onAbort);
    }
    for (const s of slots) s.worker.unref(); // idle workers do not keep the process alive
    return pool;
  }

  /** Route a worker's replies; resolves when it is ready, rejects if it fails first. */
  private static watch(slot: Slot, index: number): Promise<void> {
    return new Promise<void>((resolveReady, rejectReady) => {
      let started = false;
      const die = (error: SyncabelError): void => {
        slot.dead ??= error;
        if (!started) rejectReady(error);
        for (const p of slot.pending.values()) p.reject(error);
        slot.pending.clear();
      };
      slot.worker.on("message", (reply: WorkerReply) => {
        if (reply.type === "ready") {
          started = true;
          resolveReady();
        } else if (reply.type === "failed") {
          die(fromWire(reply.error));
        } else {
          const p = slot.pending.get(reply.id);
          slot.pending.delete(reply.id);
          if (slot.pending.size === 0) slot.worker.unref();
          if (reply.type === "results") p?.resolve(reply.results);
          else p?.reject(fromWire(reply.error));
        }
      });
      slot.worker.on("error", (e: Error) => die(new SyncabelError("LINKER_WORKER_FAILED", `linker worker ${index + 1} failed: ${e.message}`, { worker: index + 1 }, { cause: e })));
      slot.worker.on("exit", (code) => die(new SyncabelError("LINKER_WORKER_FAILED", `linker worker ${index + 1} stopped (exit code ${code})`, { worker: index + 1, exitCode: code })));
    });
  }

  /** Live workers (a worker that died is not replaced). */
  get workers(): number {
    return this.slots.filter((s) => s.dead === undefined).length;
  }

  async link(queries: readonly MentionQuery[], options: LinkOptions = {}): Promise<LinkResult[]> {
    if (this.closed) throw new SyncabelError("LINKER_INVALID_OPTIONS", "the linker is closed");
    if (options.signal?.aborted) throw new SyncabelError("INTERRUPTED", "linking was interrupted before it started");
    const live = this.slots.filter((s) => s.dead === undefined);
    if (live.length === 0) throw this.slots[0]?.dead ?? new SyncabelError("LINKER_WORKER_FAILED", "no linker worker is running");
    if (queries.length === 0) return [];
    const chunks = Math.max(1, Math.min(live.length, Math.floor(queries.length / this.minChunk)));
    const size = Math.ceil(queries.length / chunks);
    const workerOptions: WorkerLinkOptions = options.numBeams === undefined ? {} : { numBeams: options.numBeams };
    const parts: Promise<LinkResult[]>[] = [];
    for (let from = 0; from < queries.length; from += size) {
      parts.push(this.linkChunk(queries.slice(from, from + size), workerOptions).then((results) => {
        for (let i = 0; i < results.length; i++) options.onMentionDone?.();
        return results;
      }));
    }
    const all = Promise.all(parts).then((r) => r.flat());
    return options.signal === undefined ? all : raceAbort(all, options.signal);
  }

  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }

  /** One chunk on the least loaded live worker; a worker failure becomes each mention's error. */
  private async linkChunk(queries: MentionQuery[], options: WorkerLinkOptions): Promise<LinkResult[]> {
    const slot = this.slots.filter((s) => s.dead === undefined).reduce<Slot | undefined>((a, s) => (a === undefined || s.load < a.load ? s : a), undefined);
    if (slot === undefined) return failAll(queries, this.slots[0]?.dead ?? new SyncabelError("LINKER_WORKER_FAILED", "no linker worker is running"));
    const id = this.nextId++;
    slot.load += queries.length;
    try {
      return await new Promise<LinkResult[]>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.ref(); // a request in flight keeps the process alive until it is answered
        // Structured cloning keeps one copy of a document's shared mention list per chunk.
        slot.worker.postMessage({ id, queries, options });
      });
    } catch (e) {
      return failAll(queries, e instanceof SyncabelError ? e : new SyncabelError("LINKER_WORKER_FAILED", String(e)));
    } finally {
      slot.load -= queries.length;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

function failAll(queries: readonly MentionQuery[], error: SyncabelError): LinkResult[] {
  return queries.map(() => ({ error: error.toJSON() }));
}

/** Reject with INTERRUPTED as soon as the signal aborts (the workers' answers to this call are then dropped). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new SyncabelError("INTERRUPTED", "linking was interrupted"));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
