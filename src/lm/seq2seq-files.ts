/**
 * Which ONNX files of an encoder-decoder model folder to load (Optimum / transformers.js layout, in `onnx/` or the
 * folder itself): `encoder_model{suffix}.onnx` with `decoder_model_merged{suffix}.onnx`, else
 * `decoder_model{suffix}.onnx` + `decoder_with_past_model{suffix}.onnx`; the suffix is the transformers.js dtype's
 * (fp32 "", fp16 "_fp16", q8 "_quantized", q4 "_q4", ...). An explicit decoder file takes the encoder beside it.
 */
import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import { SyncabelError } from "../errors.js";
import { SEQ2SEQ_FILES } from "../convert/onnx-seq2seq-graph.js";
import { DTYPE_SUFFIXES, isModelDtype, listOnnxFiles } from "./model-file.js";

export interface Seq2SeqFiles {
  readonly encoder: string;
  /** decoder_model_merged (merged: true) or decoder_model (the first call of split decoders). */
  readonly decoder: string;
  /** decoder_with_past_model of split decoders, else null. */
  readonly decoderWithPast: string | null;
}

export interface Seq2SeqFileChoice {
  /** transformers.js dtype: picks the files' suffix. */
  readonly dtype?: string;
  /** The decoder file (merged or decoder_model), relative to the folder or absolute. */
  readonly modelFile?: string;
}

const FOLDERS = ["onnx", ""];

function missing(dir: string, looked: readonly string[]): SyncabelError {
  const present = listOnnxFiles(dir);
  return new SyncabelError(
    "MODEL_FILE_MISSING",
    `no encoder-decoder ONNX files in ${dir}: looked for ${looked.join(", ")} (ONNX files present: ${present.length > 0 ? present.join(", ") : "none"})`,
    { path: dir },
  );
}

/** The files of one folder and suffix, or null when incomplete. */
function filesIn(folder: string, suffix: string): Seq2SeqFiles | null {
  const path = (base: string): string => join(folder, `${base}${suffix}.onnx`);
  if (!existsSync(path(SEQ2SEQ_FILES.encoder))) return null;
  if (existsSync(path(SEQ2SEQ_FILES.decoderMerged))) return { encoder: path(SEQ2SEQ_FILES.encoder), decoder: path(SEQ2SEQ_FILES.decoderMerged), decoderWithPast: null };
  if (existsSync(path(SEQ2SEQ_FILES.decoder)) && existsSync(path(SEQ2SEQ_FILES.decoderWithPast))) {
    return { encoder: path(SEQ2SEQ_FILES.encoder), decoder: path(SEQ2SEQ_FILES.decoder), decoderWithPast: path(SEQ2SEQ_FILES.decoderWithPast) };
  }
  return null;
}

/** The encoder and decoder file(s) to load from `dir`. */
export function resolveSeq2SeqFiles(dir: string, choice: Seq2SeqFileChoice = {}): Seq2SeqFiles {
  if (choice.modelFile !== undefined) {
    const decoder = isAbsolute(choice.modelFile) ? choice.modelFile : join(dir, choice.modelFile);
    if (!existsSync(decoder)) throw missing(dir, [choice.modelFile]);
    const name = basename(decoder, ".onnx");
    const base = [SEQ2SEQ_FILES.decoderMerged, SEQ2SEQ_FILES.decoderWithPast, SEQ2SEQ_FILES.decoder].find((b) => name.startsWith(b));
    if (base === undefined || base === SEQ2SEQ_FILES.decoderWithPast) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `${choice.modelFile}: give the decoder_model_merged or decoder_model file of an encoder-decoder model`, { path: decoder });
    }
    const files = filesIn(dirname(decoder), name.slice(base.length));
    if (files === null || files.decoder !== decoder) throw missing(dirname(decoder), [`${SEQ2SEQ_FILES.encoder}${name.slice(base.length)}.onnx beside ${basename(decoder)}`]);
    return files;
  }
  const dtype = choice.dtype ?? "fp32";
  if (!isModelDtype(dtype)) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `unknown dtype ${JSON.stringify(dtype)}: use one of ${Object.keys(DTYPE_SUFFIXES).join(", ")}`, { dtype });
  }
  const suffix = DTYPE_SUFFIXES[dtype];
  for (const sub of FOLDERS) {
    const files = filesIn(join(dir, sub), suffix);
    if (files !== null) return files;
  }
  const names = [SEQ2SEQ_FILES.encoder, SEQ2SEQ_FILES.decoderMerged, SEQ2SEQ_FILES.decoder, SEQ2SEQ_FILES.decoderWithPast].map((b) => `onnx/${b}${suffix}.onnx`);
  throw missing(dir, names);
}
