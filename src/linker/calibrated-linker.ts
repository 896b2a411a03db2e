/**
 * A linker with calibrated confidence: wraps any Linker, asks it for at least the calibration's number of
 * candidates, gives each result `confidence`, `code` and each beam `probability` (src/linker/calibration.ts), and
 * abstains below `minConfidence` (`code` NO_CODE, `abstained: true`, beams kept for a person to review).
 * Calibrations live in the KB index (hybrid, TF-IDF: artefact `calibration/<kind>/v1`) or beside the model
 * (generative, retrieve-generate: `<model>/syncabel-calibration.<kind>.json`).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NO_CODE } from "../constants.js";
import { SyncabelError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import type { KnowledgeBase } from "../kb/types.js";
import { Calibrator } from "./calibration.js";
import { isContinuousLinker, type ContinuousLinker, type ContinuousOptions, type QueryFeed } from "./query-feed.js";
import { sampleSentences } from "./sample.js";
import type { Linker, LinkerKind, LinkOptions, LinkResult, MentionQuery, SampleOptions, SampleResult } from "./types.js";

export const calibrationArtifactKey = (kind: string): string => `calibration/${kind}/v1`;
export const calibrationFileOf = (model: string, kind: string): string => join(model, `syncabel-calibration.${kind}.json`);

/** Linker kinds whose calibration is stored in the KB index (the others' beside their model). */
const KB_KINDS = new Set(["hybrid", "tfidf"]);

/** Where a kind's calibration is kept: the KB (hybrid, tfidf) or the model folder. */
export function storesInKb(kind: string): boolean {
  return KB_KINDS.has(kind);
}

/** The stored calibration of a linker kind, if any. */
export function readCalibration(kb: KnowledgeBase, kind: string, model?: string): Calibrator | undefined {
  if (storesInKb(kind)) {
    const bytes = kb.getArtifact(calibrationArtifactKey(kind));
    if (bytes === undefined) return undefined;
    const value = parse(Buffer.from(bytes).toString("utf8"), `the ${kind} calibration in the KB index`);
    // null: train-linker had too few training mentions to calibrate the model it stored.
    return value === null ? undefined : Calibrator.fromJSON(value, `the ${kind} calibration in the KB index`);
  }
  if (model === undefined) return undefined;
  const path = calibrationFileOf(model, kind);
  if (!existsSync(path)) return undefined;
  return Calibrator.fromJSON(parse(readFileSync(path, "utf8"), path), path);
}

function parse(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyncabelError("KB_INDEX_INVALID", `${where} is unreadable: ${(e as Error).message}; re-run 'syncabel calibrate'`, {}, { cause: e });
  }
}

/** Mark a kind's calibration in the KB as absent (a retrained model must not keep an old model's calibration). */
export function clearCalibration(kb: KnowledgeBase, kind: string): void {
  kb.putArtifact(calibrationArtifactKey(kind), Buffer.from("null", "utf8"));
}

/** Store a calibration where `readCalibration` finds it; returns the place. */
export function storeCalibration(kb: KnowledgeBase, calibrator: Calibrator, model?: string): string {
  const kind = calibrator.json.linker;
  if (storesInKb(kind)) {
    kb.putArtifact(calibrationArtifactKey(kind), Buffer.from(JSON.stringify(calibrator.toJSON()), "utf8"));
    return `the KB index (${calibrationArtifactKey(kind)})`;
  }
  if (model === undefined) throw new SyncabelError("LINKER_INVALID_OPTIONS", `the ${kind} linker's calibration is stored beside its model: give the model folder`);
  const path = calibrationFileOf(model, kind);
  writeFileAtomic(path, `${JSON.stringify(calibrator.toJSON(), null, 1)}\n`);
  return path;
}

/** Check a --min-confidence value: a probability in [0, 1]. */
export function checkMinConfidence(value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0 && value <= 1)) {
    throw new SyncabelError("LINKER_INVALID_OPTIONS", `the minimum confidence must be a probability in [0, 1], got ${value}`);
  }
}

export class CalibratedLinker implements Linker {
  readonly kind: LinkerKind;

  constructor(
    readonly inner: Linker,
    readonly calibrator: Calibrator,
    readonly minConfidence?: number,
  ) {
    checkMinConfidence(minConfidence);
    this.kind = inner.kind;
  }

  /** A result with its confidence, answer and per-beam probabilities, cut to `wanted` beams. */
  calibrate(result: LinkResult, wanted: number): LinkResult {
    if (result.error !== undefined) return result;
    const scores = result.beams.map((b) => b.beam_score);
    const confidence = this.calibrator.confidence(scores);
    const probabilities = this.calibrator.probabilities(scores, confidence);
    const beams = result.beams.slice(0, wanted).map((b, i) => ({ ...b, probability: probabilities[i] as number }));
    const top = beams[0]?.pred_concept_code ?? NO_CODE;
    const abstain = this.minConfidence !== undefined && confidence < this.minConfidence && top !== NO_CODE;
    return { beams, confidence, code: abstain ? NO_CODE : top, ...(abstain ? { abstained: true as const } : {}) };
  }

  protected widen(options: LinkOptions | ContinuousOptions): { wanted: number; k: number } {
    const wanted = options.numBeams ?? 5;
    return { wanted, k: Math.max(wanted, this.calibrator.beams) };
  }

  async link(queries: readonly MentionQuery[], options: LinkOptions = {}): Promise<LinkResult[]> {
    const { wanted, k } = this.widen(options);
    const results = await this.inner.link(queries, { ...options, numBeams: k });
    return results.map((r) => this.calibrate(r, wanted));
  }

  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The calibrated wrapper of a linker that also takes mentions between decoding steps (server batching). */
class CalibratedContinuousLinker extends CalibratedLinker implements ContinuousLinker {
  linkContinuously(feed: QueryFeed, options: ContinuousOptions = {}): Promise<void> {
    const { wanted, k } = this.widen(options);
    const take = (room: number) => feed.take(room).map((s) => ({ query: s.query, wanted: () => s.wanted(), deliver: (r: LinkResult) => s.deliver(this.calibrate(r, wanted)) }));
    return (this.inner as ContinuousLinker).linkContinuously({ take }, { ...options, numBeams: k });
  }
}

/** `linker` with calibrated confidence (and abstention below `minConfidence`). */
export function withCalibration(linker: Linker, calibrator: Calibrator, minConfidence?: number): CalibratedLinker {
  return isContinuousLinker(linker) ? new CalibratedContinuousLinker(linker, calibrator, minConfidence) : new CalibratedLinker(linker, calibrator, minConfidence);
}

/** The linker doing the work under a calibration wrapper (for checks such as worker counts). */
export function innerLinker(linker: Linker): Linker {
  return linker instanceof CalibratedLinker ? linker.inner : linker;
}
