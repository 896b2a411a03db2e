/**
 * Opens the ONNX Runtime session of a decoder: checks the external data files the model points to, appends the
 * logit read-out (src/lm/logit-readout.ts) when the graph has a `logits` output, and turns load failures into
 * errors that name the file and the providers.
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { SyncabelError } from "../errors.js";
import { findLmHeadInput, renameLmHeadInput } from "./last-position-logits.js";
import { logitReadoutBytes } from "./logit-readout.js";
import { scanOnnxModel, type OnnxScan } from "./onnx-scan.js";
import { demotePresents, findPresentSources } from "./present-sources.js";

const FLOAT = 1;
const FLOAT16 = 10;

export interface SessionChoice {
  readonly threads?: number;
  readonly executionProviders?: readonly string[];
  /** Append the logit read-out (default true; false runs the file as is, for comparisons). */
  readonly readout?: boolean;
  /**
   * Let idle intra-op threads spin for the next call (ORT's default) instead of sleeping. Default false: between
   * decoding steps the JavaScript side (beam search, HTTP) needs a core, and spinning threads take it; on a shared
   * 2-core machine sleeping threads made linking 1.3-1.9x faster.
   */
  readonly spinThreads?: boolean;
  /**
   * Let each layer's `present` output be freed after its attention (src/lm/present-sources.ts): the read-out then
   * outputs the new positions instead (OpenedSession.newKv). For callers that read presents only through them.
   */
  readonly demotePresents?: boolean;
}

export interface OpenedSession {
  readonly session: ort.InferenceSession;
  readonly scan: OnnxScan;
  /** The logit read-out outputs exist (false only when the graph has no `logits` output to read). */
  readonly readout: boolean;
  /** The lm_head was made to read the last position only (the graph computed logits for every position). */
  readonly lastPosition: boolean;
  /**
   * With `demotePresents` on a graph that allows it: per present (in the scan's order), the output holding that
   * layer's new positions (the whole cache at prefill, the new slot at a step); the presents are no outputs then.
   */
  readonly newKv: ReadonlyMap<string, string> | null;
}

function sessionOptions(choice: SessionChoice, folder: string): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: choice.threads ?? availableParallelism(),
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionProviders: [...(choice.executionProviders ?? ["cpu"])],
    logSeverityLevel: 3,
    // A model given as bytes finds its external data (model.onnx_data, _data_1...) in its own folder.
    extra: { session: { model_external_initializers_file_folder_path: folder, "intra_op.allow_spinning": choice.spinThreads ? "1" : "0" } },
  };
}

function loadError(modelFile: string, choice: SessionChoice, e: unknown): SyncabelError {
  const providers = choice.executionProviders ?? ["cpu"];
  const hint = providers.includes("cuda")
    ? " (the CUDA provider needs a GPU, CUDA 12 and onnxruntime-node's CUDA libraries, which an install with ONNXRUNTIME_NODE_INSTALL=skip leaves out)"
    : "";
  return new SyncabelError("MODEL_RUNTIME", `onnxruntime cannot load ${modelFile} with providers ${providers.join(", ")}: ${(e as Error).message}${hint}`, { path: modelFile });
}

export async function openDecoderSession(modelFile: string, choice: SessionChoice): Promise<OpenedSession> {
  const folder = dirname(modelFile);
  const scan = scanOnnxModel(modelFile);
  const missing = [...scan.externalData].filter((f) => !existsSync(join(folder, f)));
  if (missing.length > 0) {
    throw new SyncabelError("MODEL_FILE_MISSING", `${basename(modelFile)} keeps its weights in ${missing.join(", ")}, not found beside it in ${folder}`, { path: join(folder, missing[0]) });
  }
  // A provider that cannot load logs ORT's own raw error to stderr before our message: keep only fatal logs.
  if ((choice.executionProviders ?? []).some((p) => p !== "cpu")) ort.env.logLevel = "fatal";
  const logitsType = scan.outputs.get("logits");
  if ((choice.readout ?? true) && (logitsType === FLOAT || logitsType === FLOAT16)) {
    const bytes = readFileSync(modelFile);
    const presents = [...scan.outputs].filter(([name]) => name.startsWith("present.")).map(([name, elemType]) => ({ name, elemType }));
    const type = logitsType === FLOAT ? "float32" : "float16";
    const lmHead = findLmHeadInput(bytes);
    const sources = choice.demotePresents ? findPresentSources(bytes, presents) : null;
    // Last-position lm_head and demoted presents + read-out, then without either: a graph the renames do not suit
    // still loads.
    const attempts = (lmHead ? [lmHead, null] : [null]).flatMap((lm) => (sources ? [sources, null] : [null]).map((demoted) => ({ lm, sources: demoted })));
    for (const { lm, sources } of attempts) {
      const extra = logitReadoutBytes("logits", type, sources ? [] : presents, lm ?? undefined, sources ?? []);
      try {
        const merged = concatBytes(bytes, extra);
        if (lm) renameLmHeadInput(merged, lm);
        if (sources) demotePresents(merged, sources);
        const session = await ort.InferenceSession.create(merged, sessionOptions(choice, folder));
        const newKv = sources ? new Map(sources.map((s) => [s.present, s.output])) : null;
        return { session, scan, readout: true, lastPosition: lm !== null, newKv };
      } catch {
        // Fall through: the next attempt, or the plain file gives the precise error / runs without the read-out.
      }
    }
  }
  try {
    return { session: await ort.InferenceSession.create(modelFile, sessionOptions(choice, folder)), scan, readout: false, lastPosition: false, newKv: null };
  } catch (e) {
    throw loadError(modelFile, choice, e);
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
