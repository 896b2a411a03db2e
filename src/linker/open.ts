import { SyncabelError } from "../errors.js";
import { openKnowledgeBase } from "../kb/index.js";
import type { EarlyStopping } from "../decode/beam-search.js";
import { readEosTokenIds, readGenerationSettings } from "../lm/generation-config.js";
import { loadOnnxCausalLM } from "../lm/onnx-lm.js";
import { isSeq2SeqModelDir } from "../convert/mbart-config.js";
import { loadOnnxSeq2SeqLM } from "../lm/onnx-seq2seq-lm.js";
import type { PromptScheme } from "./prompt-scheme.js";
import { loadSeq2SeqScheme, type DecoderStart } from "./seq2seq-prompt.js";
import { loadTokenizer } from "../lm/tokenizer.js";
import type { ModelDtype } from "../lm/model-file.js";
import { verbFor, type PromptLanguage } from "../markup/prompt.js";
import { GenerativeLinker } from "./generative-linker.js";
import { HYBRID_ARTIFACT_KEY, HybridLinker, requireHybridModel } from "./hybrid-linker.js";
import { hybridRetriever, lexicalRetriever, RetrieveGenerateLinker, type RetrieveGenerateMode } from "./retrieve-generate.js";
import { TfidfLinker } from "./tfidf-linker.js";
import type { Linker as LinkerInterface, LinkerKind } from "./types.js";
import { WorkerPoolLinker } from "./worker-pool-linker.js";
import { checkMinConfidence, readCalibration, storesInKb, withCalibration } from "./calibrated-linker.js";
import type { Calibrator } from "./calibration.js";

export interface OpenLinkerOptions {
  /** Path of a KB index file (`syncabel kb build`). */
  readonly kb: string;
  /** Model folder (config.json, tokenizer files, onnx/model.onnx). Without it the lexical linker is used. */
  readonly model?: string;
  /** es | fr | en: chooses the prompt verb (default es). */
  readonly language?: PromptLanguage;
  /** Override the prompt verb. */
  readonly verb?: string;
  /** Default: see `defaultLinkerKind`. */
  readonly linker?: LinkerKind;
  /** retrieve-generate: concepts retrieved per mention (default 64) and how the model ranks them (default "score"). */
  readonly candidates?: number;
  readonly rgMode?: RetrieveGenerateMode;
  /** `<SEP>`-joined composite answers, for checkpoints trained with them (SPACCC). Default off. */
  readonly multipleAnswers?: boolean;
  /** Beam search's early stopping (true, false, "never"); default: the model's generation_config.json, else false. */
  readonly earlyStopping?: EarlyStopping;
  readonly threads?: number;
  /**
   * Worker threads for the model-free linkers (hybrid, tfidf), each with its own index: > 1 links on that many
   * cores (src/linker/worker-pool-linker.ts). Default 1: linking runs in the calling thread.
   */
  readonly workers?: number;
  /** Where the model runs: "cpu" (default) or "cuda" (needs onnxruntime-node's CUDA provider libraries and a GPU). */
  readonly device?: "cpu" | "cuda";
  /** ONNX file of the model folder to load (relative to it, or absolute); default: see src/lm/model-file.ts. */
  readonly modelFile?: string;
  /** transformers.js dtype choosing `onnx/model{suffix}.onnx`: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4, quantized. */
  readonly dtype?: ModelDtype;
  /** Told what the user should know about the model on this machine (e.g. int8 kernels that saturate here). */
  readonly onWarning?: (message: string) => void;
  /**
   * Encoder-decoder models (mBART, BART): the decoder's first token. "config" (default): generation_config.json's
   * decoder_start_token_id, as Hugging Face generate; "lang": the target language code; or a token id.
   */
  readonly decoderStart?: DecoderStart;
  /**
   * Below this calibrated confidence a result abstains (code NO_CODE, `abstained: true`, beams kept); needs a
   * stored calibration (src/linker/calibrated-linker.ts).
   */
  readonly minConfidence?: number;
  /** Apply the stored calibration, when there is one (default true; `syncabel calibrate` reads raw scores). */
  readonly calibrated?: boolean;
  /** Aborting it stops worker threads that are still starting (the open rejects with INTERRUPTED). */
  readonly signal?: AbortSignal;
}

/**
 * The linker `openLinker` opens when none is asked for (the one place this is decided): the generative linker with
 * a model; without, the hybrid linker when the KB index holds a trained one, else TF-IDF.
 */
export function defaultLinkerKind(options: Pick<OpenLinkerOptions, "linker" | "model">, kbHasHybridModel: boolean): LinkerKind {
  return options.linker ?? (options.model ? "generative" : kbHasHybridModel ? "hybrid" : "tfidf");
}

/**
 * Open a linker from paths (the kind: `defaultLinkerKind`). With its stored calibration, when it has one, its
 * results carry `confidence`.
 */
export async function openLinker(options: OpenLinkerOptions): Promise<LinkerInterface> {
  checkMinConfidence(options.minConfidence);
  const linker = await openUncalibratedLinker(options);
  if (options.calibrated === false) return linker;
  let calibrator: Calibrator | undefined;
  try {
    const kb = openKnowledgeBase(options.kb);
    try {
      calibrator = readCalibration(kb, linker.kind, options.model);
    } finally {
      kb.close();
    }
  } catch (e) {
    await linker.close();
    throw e;
  }
  if (calibrator === undefined) {
    if (options.minConfidence === undefined) return linker;
    await linker.close();
    const how = storesInKb(linker.kind) && linker.kind === "hybrid" ? "trainLinker (the train-linker command)" : `calibrateLinker for the ${linker.kind} linker (the calibrate command)`;
    throw new SyncabelError("LINKER_INVALID_OPTIONS", `a minimum confidence needs a calibrated ${linker.kind} linker: none is stored for it${options.model === undefined ? ` in ${options.kb}` : ""}; run ${how} on training files first`, { linker: linker.kind });
  }
  return withCalibration(linker, calibrator, options.minConfidence);
}

async function openUncalibratedLinker(options: OpenLinkerOptions): Promise<LinkerInterface> {
  const kb = openKnowledgeBase(options.kb);
  const kind = defaultLinkerKind(options, kb.getArtifact(HYBRID_ARTIFACT_KEY) !== undefined);
  try {
    if ((kind === "hybrid" || kind === "tfidf") && (options.workers ?? 1) > 1) {
      if (kind === "hybrid") requireHybridModel(kb); // a missing or stale model fails here, not in each worker
      kb.close();
      return await WorkerPoolLinker.open({ kb: options.kb, linker: kind, workers: options.workers ?? 1, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    }
    if (kind === "hybrid") {
      // Built in memory from the KB's names and training memory: the KB file is not needed any more.
      const linker = HybridLinker.fromKnowledgeBase(kb);
      kb.close();
      return linker;
    }
    if (kind === "tfidf") {
      // The lexical index lives in memory once loaded: the KB file is not needed any more.
      const linker = TfidfLinker.fromKnowledgeBase(kb);
      kb.close();
      return linker;
    }
    if (!options.model) throw new SyncabelError("LINKER_INVALID_OPTIONS", `the ${kind} linker needs a model folder (option model)`, { linker: kind });
    if (kind === "retrieve-generate" && options.multipleAnswers) {
      throw new SyncabelError("LINKER_INVALID_OPTIONS", "the retrieve-generate linker ranks single KB names: multiple answers (<SEP>-joined) are not supported");
    }
    const verb = verbFor(options.language ?? "es", options.verb);
    const tokenizer = await loadTokenizer(options.model);
    const lmOptions = {
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      executionProviders: options.device === "cuda" ? ["cuda", "cpu"] : ["cpu"],
      ...(options.modelFile === undefined ? {} : { modelFile: options.modelFile }),
      ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
    };
    // An encoder-decoder checkpoint (config.json model_type mbart / bart) gets the seq2seq runtime and prompt (#19).
    const seq2seq = isSeq2SeqModelDir(options.model);
    if (!seq2seq && options.decoderStart !== undefined) throw new SyncabelError("LINKER_INVALID_OPTIONS", "--decoder-start is for encoder-decoder models (mBART, BART)");
    const scheme: PromptScheme | undefined = seq2seq ? loadSeq2SeqScheme(options.model, tokenizer, { verb, language: options.language ?? "es", ...(options.decoderStart === undefined ? {} : { decoderStart: options.decoderStart }) }) : undefined;
    const lm = seq2seq ? await loadOnnxSeq2SeqLM(options.model, lmOptions) : await loadOnnxCausalLM(options.model, lmOptions);
    for (const warning of lm.warnings) options.onWarning?.(warning);
    const eosTokenIds = readEosTokenIds(options.model);
    if (kind === "retrieve-generate") {
      // The hybrid linker's reranked candidates when the KB holds a trained one, else TF-IDF's.
      const retriever = kb.getArtifact(HYBRID_ARTIFACT_KEY) !== undefined ? hybridRetriever(HybridLinker.fromKnowledgeBase(kb), kb) : lexicalRetriever(TfidfLinker.fromKnowledgeBase(kb).index);
      return new RetrieveGenerateLinker({
        kb, lm, tokenizer, verb, retriever,
        ...(options.candidates === undefined ? {} : { candidates: options.candidates }),
        ...(options.rgMode === undefined ? {} : { mode: options.rgMode }),
        ...(eosTokenIds ? { eosTokenIds } : {}),
        ...(scheme ? { scheme } : {}),
      });
    }
    const generation = readGenerationSettings(options.model);
    const earlyStopping = options.earlyStopping ?? generation.earlyStopping;
    return new GenerativeLinker({
      kb, lm, tokenizer, verb, multipleAnswers: options.multipleAnswers ?? false,
      ...(eosTokenIds ? { eosTokenIds } : {}),
      ...(earlyStopping === undefined ? {} : { earlyStopping }),
      ...(generation.lengthPenalty === undefined ? {} : { lengthPenalty: generation.lengthPenalty }),
      ...(scheme ? { scheme } : {}),
    });
  } catch (e) {
    kb.close();
    throw e;
  }
}

/** `Linker.open({kb, model, language})`: the same as openLinker, under the name the API is usually called by. */
export const Linker = { open: openLinker } as const;
/** A linker (generative, lexical, ...): see src/linker/types.ts. */
export type Linker = LinkerInterface;
