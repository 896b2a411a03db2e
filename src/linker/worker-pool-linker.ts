/**
 * A model-free linker (hybrid or TF-IDF) run on several worker threads: each worker builds its own in-memory
 * index from the KB index file and a `sample()` call is split into contiguous chunks, one per idle worker. The
 * lexical linkers are single-threaded CPU work, so on a machine with N cores this links up to N times as many
 * mentions per second; the answers are the ones the same linker gives in-process (each sentence is linked on
 * its own). A worker that dies turns its unfinished sentences into per-sentence errors; the others go on.
 */
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { SyncabelError } from "../errors.js";
import type { SampleOptions, SampleResult, Linker } from "./types.js";
import type { PooledLinkerKind, WireError, WorkerInit, WorkerReply, WorkerSampleOptions } from "./worker-protocol.js";

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
  readonly resolve: (results: SampleResult[]) => void;
  readonly reject: (error: SyncabelError) => void;
}

/** One worker thread and the requests it has not answered. */
interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Sentences sent and not answered: the least loaded live slot takes the next chunk. */
  load: number;
  /** Why the worker is gone, once it is. */
  dead?: SyncabelError;
}

/**
 * How to start a worker: the compiled JS next to this file; from the TypeScript sources (tests, benches) a
 * bootstrap that registers tsx in the worker first (Node 20 does not pass `--import` hooks on to workers).
 */
function workerScript(): { script: string | URL; eval: boolean } {
  if (!fileURLToPath(import.meta.url).endsWith(".ts")) return { script: new URL("./linker-worker.js", import.meta.url), eval: false };
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./linker-worker.ts", import.meta.url).href;
  return { script: `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
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
    const entry = workerScript();
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

  async sample(sentences: readonly string[], options: SampleOptions = {}): Promise<SampleResult[]> {
    if (this.closed) throw new SyncabelError("LINKER_INVALID_OPTIONS", "the linker is closed");
    if (options.signal?.aborted) throw new SyncabelError("INTERRUPTED", "linking was interrupted before it started");
    const live = this.slots.filter((s) => s.dead === undefined);
    if (live.length === 0) throw this.slots[0]?.dead ?? new SyncabelError("LINKER_WORKER_FAILED", "no linker worker is running");
    if (sentences.length === 0) return [];
    const chunks = Math.max(1, Math.min(live.length, Math.floor(sentences.length / this.minChunk)));
    const size = Math.ceil(sentences.length / chunks);
    const parts: Promise<SampleResult[]>[] = [];
    for (let from = 0; from < sentences.length; from += size) {
      const to = Math.min(sentences.length, from + size);
      parts.push(this.sampleChunk(sentences.slice(from, to), chunkOptions(options, from, to)).then((results) => {
        for (let i = 0; i < results.length; i++) options.onSentenceDone?.();
        return results;
      }));
    }
    const all = Promise.all(parts).then((r) => r.flat());
    return options.signal === undefined ? all : raceAbort(all, options.signal);
  }

  /** One chunk on the least loaded live worker; a worker failure becomes each sentence's error. */
  private async sampleChunk(sentences: string[], options: WorkerSampleOptions): Promise<SampleResult[]> {
    const slot = this.slots.filter((s) => s.dead === undefined).reduce<Slot | undefined>((a, s) => (a === undefined || s.load < a.load ? s : a), undefined);
    if (slot === undefined) return failAll(sentences, this.slots[0]?.dead ?? new SyncabelError("LINKER_WORKER_FAILED", "no linker worker is running"));
    const id = this.nextId++;
    slot.load += sentences.length;
    try {
      return await new Promise<SampleResult[]>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.ref(); // a request in flight keeps the process alive until it is answered
        slot.worker.postMessage({ id, sentences, options });
      });
    } catch (e) {
      return failAll(sentences, e instanceof SyncabelError ? e : new SyncabelError("LINKER_WORKER_FAILED", String(e)));
    } finally {
      slot.load -= sentences.length;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** The per-sentence options of sentences [from, to). */
function chunkOptions(options: SampleOptions, from: number, to: number): WorkerSampleOptions {
  return {
    ...(options.num_beams === undefined ? {} : { num_beams: options.num_beams }),
    ...(options.expansions === undefined ? {} : { expansions: options.expansions.slice(from, to) }),
    ...(options.documentMentions === undefined ? {} : { documentMentions: options.documentMentions.slice(from, to) }),
  };
}

function failAll(sentences: readonly string[], error: SyncabelError): SampleResult[] {
  return sentences.map((sentence) => ({ sentence, error: error.toJSON() }));
}

/** Reject with INTERRUPTED as soon as the signal aborts (the workers' answers to this call are then dropped). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new SyncabelError("INTERRUPTED", "linking was interrupted"));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
