import { SyncabelError } from "../errors.js";
import { openKnowledgeBase } from "../kb/index.js";
import { readEosTokenIds } from "../lm/generation-config.js";
import { loadOnnxCausalLM } from "../lm/onnx-lm.js";
import { loadTokenizer } from "../lm/tokenizer.js";
import { verbFor } from "../markup/index.js";
import { GenerativeLinker } from "./generative-linker.js";
import { TfidfLinker } from "./tfidf-linker.js";
import type { Linker as LinkerInterface } from "./types.js";

export interface OpenLinkerOptions {
  /** Path of a KB index file (`syncabel kb build`). */
  readonly kb: string;
  /** Model folder (config.json, tokenizer files, onnx/model.onnx). Without it the lexical linker is used. */
  readonly model?: string;
  /** es | fr | en: chooses the prompt verb (default es). */
  readonly language?: string;
  /** Override the prompt verb. */
  readonly verb?: string;
  readonly linker?: "generative" | "tfidf";
  /** `<SEP>`-joined composite answers, for checkpoints trained with them (SPACCC). Default off. */
  readonly multipleAnswers?: boolean;
  readonly threads?: number;
  /** Where the model runs: "cpu" (default) or "cuda" (needs onnxruntime-node's CUDA provider libraries and a GPU). */
  readonly device?: "cpu" | "cuda";
}

/** Open a linker from paths: the generative linker with a model, the TF-IDF lexical linker without. */
export async function openLinker(options: OpenLinkerOptions): Promise<LinkerInterface> {
  const kind = options.linker ?? (options.model ? "generative" : "tfidf");
  const kb = openKnowledgeBase(options.kb);
  try {
    if (kind === "tfidf") {
      // The lexical index lives in memory once loaded: the KB file is not needed any more.
      const linker = TfidfLinker.fromKnowledgeBase(kb);
      kb.close();
      return linker;
    }
    if (!options.model) throw new SyncabelError("LINKER_INVALID_OPTIONS", "the generative linker needs a model folder (--model DIR)");
    const verb = verbFor(options.language ?? "es", options.verb);
    const tokenizer = await loadTokenizer(options.model);
    const lm = await loadOnnxCausalLM(options.model, {
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      executionProviders: options.device === "cuda" ? ["cuda", "cpu"] : ["cpu"],
    });
    const eosTokenIds = readEosTokenIds(options.model);
    return new GenerativeLinker({ kb, lm, tokenizer, verb, multipleAnswers: options.multipleAnswers ?? false, ...(eosTokenIds ? { eosTokenIds } : {}) });
  } catch (e) {
    kb.close();
    throw e;
  }
}

/** `Linker.open({kb, model, language})`: the same as openLinker, under the name the API is usually called by. */
export const Linker = { open: openLinker } as const;
/** A linker (generative, lexical, ...): see src/linker/types.ts. */
export type Linker = LinkerInterface;
