import { SyncabelError, asSyncabelError } from "../errors.js";
import { chatWithRetries } from "./chat-retry.js";
import type { ConceptCard, KnowledgeBase } from "../kb/types.js";
import { type HumanExamples, NO_HUMAN_EXAMPLES } from "./human-examples.js";
import type { SynthLanguage } from "./language.js";
import { type PromptTemplates, renderConceptPrompt } from "./prompt-template.js";
import { hashString, mulberry32, sampleWithoutReplacement } from "../util/random.js";
import { describeShortfall, parseReply } from "./reply-parser.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry-policy.js";
import { SynthWriter, scanAndRepair } from "./jsonl-store.js";
import { acquireRunLock } from "./run-lock.js";
import type { ConceptRecord, Generator, SentenceRecord } from "./types.js";

/** One concept to write sentences for, with the group its sentences are marked with. */
export interface ConceptJob {
  readonly code: string;
  readonly group: string;
}

export interface SynthRunOptions {
  readonly kb: KnowledgeBase;
  readonly generator: Generator;
  readonly templates: PromptTemplates;
  readonly language: SynthLanguage;
  readonly jobs: readonly ConceptJob[];
  readonly outPath: string;
  readonly perConcept: number;
  readonly concurrency: number;
  readonly human?: HumanExamples;
  /** Style examples per prompt (conventions: 5). */
  readonly styleExamples?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly maxTokens?: number;
  readonly retry?: RetryPolicy;
  readonly seed?: number;
  /** Attempt again the concepts a previous run recorded as failed (their new marker supersedes). */
  readonly retryFailed?: boolean;
  /** Stop taking new concepts (in-flight ones finish and are written). */
  readonly signal?: AbortSignal;
  /** Called once per concept finished in this run. */
  readonly onConcept?: (marker: ConceptRecord) => void;
  /** Called once at start with the resume scan. */
  readonly onResume?: (info: { skipped: number; pending: number; truncatedBytes: number }) => void;
}

export interface SynthSummary {
  readonly selected: number;
  /** Complete in the file before this run (skipped). */
  readonly skipped: number;
  readonly done: number;
  readonly failed: number;
  /** Concepts that needed more than one attempt. */
  readonly retried: number;
  readonly sentences: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Whether any reply reported token usage. */
  readonly usageReported: boolean;
  readonly wallSeconds: number;
  /** Failure reasons (first words) with counts. */
  readonly failureReasons: Readonly<Record<string, number>>;
  /** True when the run stopped early (signal, or a fatal endpoint error). */
  readonly interrupted: boolean;
}

/** Everything about one concept's prompt, from its KB card and the human data. */
function promptInput(card: ConceptCard, job: ConceptJob, human: HumanExamples, styleCount: number, seed: number) {
  const random = mulberry32(hashString(`${seed}:style:${job.code}`));
  return {
    code: card.code,
    title: card.title,
    group: job.group,
    semanticTypes: card.semanticTypes,
    definitions: card.definitions,
    names: card.names,
    mentions: human.mentionsOfCode(card.code),
    styleExamples: sampleWithoutReplacement(human.sentencesOfGroup(job.group), styleCount, random),
  };
}

interface ConceptOutcome {
  readonly sentences: SentenceRecord[];
  readonly marker: ConceptRecord;
}

async function synthesizeConcept(job: ConceptJob, o: SynthRunOptions, retry: RetryPolicy, seed: number): Promise<ConceptOutcome> {
  const info = o.generator.info;
  const card = o.kb.concept(job.code);
  if (card === undefined) {
    const marker: ConceptRecord = { type: "concept", code: job.code, group: job.group, status: "failed", sentences: 0, attempts: 0, reason: "code not in the knowledge base", errorCode: "KB_ROW_INVALID", generator: info };
    return { sentences: [], marker };
  }
  const messages = renderConceptPrompt(o.templates, promptInput(card, job, o.human ?? NO_HUMAN_EXAMPLES, o.styleExamples ?? 5, seed), o.perConcept);
  const jitter = mulberry32(hashString(`${seed}:jitter:${job.code}:${Date.now()}`));
  const outcome = await chatWithRetries<ReturnType<typeof parseReply>>(
    o.generator,
    (attempt) => ({ messages, temperature: o.temperature ?? 0.6, topP: o.topP ?? 0.9, maxTokens: o.maxTokens ?? 1024, seed: hashString(`${seed}:${job.code}:${attempt}`) }),
    (reply) => {
      const parsed = parseReply(reply.text, o.language, job.group);
      return parsed.sentences.length >= o.perConcept ? { value: parsed } : { retry: describeShortfall(parsed, o.perConcept, o.language) };
    },
    retry,
    jitter,
  );
  const usage = outcome.usage;
  if (outcome.ok) {
    const sentences = outcome.value.sentences.slice(0, o.perConcept).map(
      (s, index): SentenceRecord => ({
        type: "sentence", code: job.code, group: job.group, marked: s.marked, text: s.text, mention: s.mention,
        offsets: { start: s.start, end: s.end }, index, generator: info, attempt: outcome.attempts,
      }),
    );
    const marker: ConceptRecord = { type: "concept", code: job.code, group: job.group, status: "done", sentences: sentences.length, attempts: outcome.attempts, ...(usage ? { usage } : {}), generator: info };
    return { sentences, marker };
  }
  const marker: ConceptRecord = { type: "concept", code: job.code, group: job.group, status: "failed", sentences: 0, attempts: outcome.attempts, reason: outcome.reason, errorCode: outcome.errorCode, ...(usage ? { usage } : {}), generator: info };
  return { sentences: [], marker };
}

/** Short key of a failure reason for the summary ("3 of 5 valid lines" -> "too few valid lines"). */
function reasonKey(marker: ConceptRecord): string {
  if (marker.errorCode === "SYNTH_BAD_REPLY" && /valid lines/.test(marker.reason ?? "")) return "too few valid lines";
  return marker.errorCode ?? "unknown";
}

/**
 * Generate sentences for every job not already complete in `outPath`, with at most `concurrency`
 * requests in flight. Each finished concept is appended to the file at once (see jsonl-store.ts).
 */
export async function runSynth(o: SynthRunOptions): Promise<SynthSummary> {
  if (!Number.isInteger(o.perConcept) || o.perConcept < 1) throw new SyncabelError("SYNTH_INVALID_OPTIONS", `perConcept must be a positive integer (got ${o.perConcept})`, { perConcept: o.perConcept });
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new SyncabelError("SYNTH_INVALID_OPTIONS", `concurrency must be a positive integer (got ${o.concurrency})`, { concurrency: o.concurrency });
  const started = Date.now();
  const retry = o.retry ?? DEFAULT_RETRY_POLICY;
  const seed = o.seed ?? 0;
  const releaseLock = acquireRunLock(o.outPath);
  try {
    return await runLocked(o, started, retry, seed);
  } finally {
    releaseLock();
  }
}

async function runLocked(o: SynthRunOptions, started: number, retry: RetryPolicy, seed: number): Promise<SynthSummary> {
  const scan = scanAndRepair(o.outPath);
  const seen = new Set<string>();
  const pending: ConceptJob[] = [];
  let skipped = 0;
  for (const job of o.jobs) {
    if (seen.has(job.code)) continue; // a code listed twice is generated once
    seen.add(job.code);
    const status = scan.concepts.get(job.code);
    if (status === "done" || (status === "failed" && !o.retryFailed)) skipped++;
    else pending.push(job);
  }
  o.onResume?.({ skipped, pending: pending.length, truncatedBytes: scan.truncatedBytes });

  const writer = new SynthWriter(o.outPath);
  let next = 0;
  let done = 0, failed = 0, retried = 0, sentences = 0, promptTokens = 0, completionTokens = 0;
  let usageReported = false;
  let fatal: SyncabelError | undefined;
  const failureReasons: Record<string, number> = {};

  const worker = async (): Promise<void> => {
    while (fatal === undefined && !o.signal?.aborted && next < pending.length) {
      const job = pending[next++];
      let outcome: ConceptOutcome;
      try {
        outcome = await synthesizeConcept(job, o, retry, seed);
      } catch (e) {
        fatal ??= asSyncabelError(e, "SYNTH_ENDPOINT");
        return;
      }
      writer.appendConcept(outcome.sentences, outcome.marker);
      const m = outcome.marker;
      if (m.status === "done") done++;
      else {
        failed++;
        const key = reasonKey(m);
        failureReasons[key] = (failureReasons[key] ?? 0) + 1;
      }
      if (m.attempts > 1) retried++;
      sentences += m.sentences;
      if (m.usage) {
        usageReported = true;
        promptTokens += m.usage.promptTokens;
        completionTokens += m.usage.completionTokens;
      }
      o.onConcept?.(m);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(1, pending.length)) }, worker));
  } finally {
    writer.close();
  }
  if (fatal) throw fatal;
  return {
    selected: seen.size, skipped, done, failed, retried, sentences, promptTokens, completionTokens, usageReported,
    wallSeconds: (Date.now() - started) / 1000, failureReasons,
    interrupted: done + failed < pending.length,
  };
}
