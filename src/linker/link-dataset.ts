/**
 * Link every mention of documents in memory: each document's mentions become queries (src/data/mention-queries.ts:
 * sentence, abbreviation expansion, the document's other mentions), whole documents are grouped into linker calls
 * of about `batchSize` mentions, and each document's results come back in document order as soon as its call is
 * done. `linkDocument` links one document; `linkDataset` streams many; `linkDocuments` (link-documents.ts) writes
 * them to a prediction file, resumably.
 */
import { documentQueries, type DocumentMentionQuery } from "../data/mention-queries.js";
import type { Document, Mention } from "../data/types.js";
import { asSyncabelError, SyncabelError } from "../errors.js";
import { SegmentationCache } from "../markup/sentence-builder.js";
import type { Beam, LinkResult, Linker, SentenceError } from "./types.js";

/** One linked mention of a document. */
export interface LinkedMention {
  readonly mention: Mention;
  /** Its marked sentence as built from the document ("" when it could not be built). */
  readonly sentence: string;
  /** Best first; [] with an error. */
  readonly beams: readonly Beam[];
  readonly error?: SentenceError;
  /** A calibrated linker's confidence in the first beam, and whether it abstained (src/linker/calibrated-linker.ts). */
  readonly confidence?: number;
  readonly abstained?: true;
}

export interface LinkedDocument {
  readonly document: Document;
  /** In the document's mention order. */
  readonly mentions: readonly LinkedMention[];
}

export interface LinkDatasetOptions {
  readonly numBeams?: number;
  readonly constrained?: boolean;
  /** Mentions per linker call (whole documents are grouped until a call is full; default 32). */
  readonly batchSize?: number;
  /** Segmentation language of documents that have none (default "es"). */
  readonly language?: string;
  /** Linker calls in flight at once (default 1; a worker-thread linker stays busy while results are consumed). */
  readonly concurrency?: number;
  /** Stop between documents: the documents not yet returned are not linked (their calls' results are dropped). */
  readonly signal?: AbortSignal;
  /** Called with a number of mentions whose result is known (progress inside long calls). */
  readonly onProgress?: (mentions: number) => void;
}

/** A call of whole documents sent to the linker, and its outcome once linked. */
interface Batch {
  readonly jobs: readonly DocumentJob[];
  readonly outcome: Promise<BatchOutcome>;
}

interface DocumentJob {
  readonly document: Document;
  readonly queries: readonly DocumentMentionQuery[];
}

interface BatchOutcome {
  /** One result per query of the batch's jobs, in order. */
  readonly results: readonly LinkResult[];
  /** Set when the linker call failed: every mention of the batch gets it. */
  readonly batchError?: SentenceError;
  /** The call was interrupted by the signal. */
  readonly aborted: boolean;
}

/** Let pending signal handlers and timers run: a linker that never awaits I/O would otherwise starve them. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function startBatch(linker: Linker, jobs: readonly DocumentJob[], options: LinkDatasetOptions, batchSize: number): Batch {
  const queries = jobs.flatMap((j) => j.queries.flatMap((q) => (q.query === undefined ? [] : [q.query])));
  const mentions = jobs.reduce((a, j) => a + j.queries.length, 0);
  // Progress per mention: linkers that decode in steps report each mention as it ends; the rest at the end.
  let reported = 0;
  const onMentionDone = (): void => {
    reported++;
    options.onProgress?.(1);
  };
  const settle = (): void => {
    const rest = mentions - Math.min(reported, queries.length);
    if (rest > 0) options.onProgress?.(rest);
  };
  const call: Promise<LinkResult[]> = queries.length === 0
    ? Promise.resolve([])
    : linker.link(queries, {
        numBeams: options.numBeams ?? 5,
        constrained: options.constrained ?? true,
        batchSize,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onMentionDone,
      });
  const outcome = call.then(
    (results): BatchOutcome => {
      settle();
      return { results, aborted: false };
    },
    (e: unknown): BatchOutcome => {
      if (options.signal?.aborted) return { results: [], aborted: true };
      settle();
      // One failed call marks its mentions, never the run.
      return { results: [], batchError: asSyncabelError(e, "MODEL_RUNTIME").toJSON(), aborted: false };
    },
  );
  return { jobs, outcome };
}

/** The linked mentions of each job of a settled batch. */
function linkedDocuments(batch: Batch, outcome: BatchOutcome): LinkedDocument[] {
  let cursor = 0;
  return batch.jobs.map((job) => ({
    document: job.document,
    mentions: job.queries.map(({ mention, sentence, query, error: buildError }): LinkedMention => {
      let error = buildError;
      let beams: readonly Beam[] = [];
      let calibrated: Pick<LinkedMention, "confidence" | "abstained"> = {};
      if (query !== undefined) {
        const r = outcome.results[cursor++];
        if (outcome.batchError !== undefined) error = outcome.batchError;
        else if (r === undefined) error = { code: "MODEL_RUNTIME", message: "the linker returned fewer results than mentions", details: {} };
        else if (r.error !== undefined) error = r.error;
        else {
          beams = r.beams;
          calibrated = { ...(r.confidence === undefined ? {} : { confidence: r.confidence }), ...(r.abstained ? { abstained: true as const } : {}) };
        }
      }
      return { mention, sentence: sentence ?? "", beams, ...(error === undefined ? {} : { error }), ...calibrated };
    }),
  }));
}

/**
 * Link every mention of every document, in document order, one LinkedDocument at a time. With a signal that
 * aborts, the generator ends early (before the documents whose calls were interrupted).
 */
export async function* linkDataset(documents: Iterable<Document>, linker: Linker, options: LinkDatasetOptions = {}): AsyncGenerator<LinkedDocument> {
  const batchSize = Math.max(1, options.batchSize ?? 32);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const cache = new SegmentationCache();
  const jobOf = (document: Document): DocumentJob => ({ document, queries: documentQueries(document, { ...(options.language === undefined ? {} : { language: options.language }), cache }) });
  const source = documents[Symbol.iterator]();
  let pending = source.next();
  const takeJobs = (): DocumentJob[] => {
    const jobs: DocumentJob[] = [];
    let n = 0;
    while (!pending.done && (jobs.length === 0 || n + pending.value.mentions.length <= batchSize)) {
      jobs.push(jobOf(pending.value));
      n += pending.value.mentions.length;
      pending = source.next();
    }
    return jobs;
  };
  // Batches in document order; up to `concurrency` are being linked while the oldest is awaited and returned.
  const inFlight: Batch[] = [];
  while (!pending.done || inFlight.length > 0) {
    await yieldToEventLoop();
    if (options.signal?.aborted) return;
    if (!pending.done && inFlight.length < concurrency) {
      inFlight.push(startBatch(linker, takeJobs(), options, batchSize));
      continue;
    }
    const batch = inFlight.shift() as Batch;
    const outcome = await batch.outcome;
    if (outcome.aborted) return;
    for (const linked of linkedDocuments(batch, outcome)) {
      if (options.signal?.aborted) return;
      yield linked;
    }
  }
}

/** Link every mention of one document (its mentions' document context comes from the document itself). */
export async function linkDocument(document: Document, linker: Linker, options: Omit<LinkDatasetOptions, "concurrency"> = {}): Promise<LinkedDocument> {
  for await (const linked of linkDataset([document], linker, { ...options, batchSize: Math.max(1, options.batchSize ?? document.mentions.length) })) return linked;
  throw new SyncabelError("INTERRUPTED", `linking document ${document.id} was interrupted`, { document: document.id });
}
