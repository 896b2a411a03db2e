/**
 * Which ONNX file of a model folder to load, chosen as transformers.js chooses it: a dtype names a file suffix
 * (onnx-community folders hold `onnx/model.onnx`, `model_fp16.onnx`, `model_q4.onnx`, `model_quantized.onnx`...),
 * an explicit path wins, and without either the plain fp32 file is taken (`model.onnx`, else the merged decoder),
 * else the only ONNX file present.
 */
import { existsSync, readdirSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { SyncabelError } from "../errors.js";

/** transformers.js's DEFAULT_DTYPE_SUFFIX_MAPPING (utils/dtypes.js), plus its `quantized` file name as a dtype. */
export const DTYPE_SUFFIXES = {
  fp32: "",
  fp16: "_fp16",
  int8: "_int8",
  uint8: "_uint8",
  q8: "_quantized",
  quantized: "_quantized",
  q4: "_q4",
  q4f16: "_q4f16",
  bnb4: "_bnb4",
  q2: "_q2",
  q2f16: "_q2f16",
  q1: "_q1",
  q1f16: "_q1f16",
} as const satisfies Readonly<Record<string, string>>;

export type ModelDtype = keyof typeof DTYPE_SUFFIXES;

export interface ModelFileChoice {
  /** Path of the .onnx file, relative to the folder or absolute. */
  readonly modelFile?: string;
  /** transformers.js dtype: picks `{name}{suffix}.onnx`. */
  readonly dtype?: string;
}

/** Decoder file names, in order of preference (Optimum / onnx-community layouts). */
const BASE_NAMES = ["model", "decoder_model_merged"];
const FOLDERS = ["onnx", ""];

export function isModelDtype(value: string): value is ModelDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_SUFFIXES, value);
}

/** Every .onnx file of the folder and of its `onnx/` subfolder, relative to the folder. */
export function listOnnxFiles(dir: string): string[] {
  const found: string[] = [];
  for (const sub of FOLDERS) {
    const path = join(dir, sub);
    if (!existsSync(path)) continue;
    for (const name of readdirSync(path).sort()) if (name.endsWith(".onnx")) found.push(sub ? `${sub}/${name}` : name);
  }
  return found;
}

function candidates(suffix: string): string[] {
  return FOLDERS.flatMap((sub) => BASE_NAMES.map((base) => (sub ? `${sub}/${base}${suffix}.onnx` : `${base}${suffix}.onnx`)));
}

/** The absolute path of the model file to load from `dir`, or a MODEL_FILE_MISSING / MODEL_CONFIG_INVALID error naming what is there. */
export function resolveModelFile(dir: string, choice: ModelFileChoice = {}): string {
  const present = (): string => {
    const files = listOnnxFiles(dir);
    return files.length > 0 ? files.join(", ") : "none";
  };
  if (choice.modelFile !== undefined) {
    const path = isAbsolute(choice.modelFile) ? choice.modelFile : join(dir, choice.modelFile);
    if (!existsSync(path)) {
      throw new SyncabelError("MODEL_FILE_MISSING", `model file ${choice.modelFile} not found in ${dir} (ONNX files present: ${present()})`, { path });
    }
    return path;
  }
  if (choice.dtype !== undefined) {
    if (!isModelDtype(choice.dtype)) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `unknown dtype ${JSON.stringify(choice.dtype)}: use one of ${Object.keys(DTYPE_SUFFIXES).join(", ")}`, { dtype: choice.dtype });
    }
    const names = candidates(DTYPE_SUFFIXES[choice.dtype]);
    const hit = names.find((f) => existsSync(join(dir, f)));
    if (hit === undefined) {
      throw new SyncabelError("MODEL_FILE_MISSING", `no ${choice.dtype} model in ${dir}: looked for ${names.join(", ")} (ONNX files present: ${present()})`, { path: dir, dtype: choice.dtype });
    }
    return join(dir, hit);
  }
  const hit = candidates("").find((f) => existsSync(join(dir, f)));
  if (hit !== undefined) return join(dir, hit);
  const files = listOnnxFiles(dir);
  if (files.length === 1) return join(dir, files[0]);
  if (files.length === 0) {
    throw new SyncabelError("MODEL_FILE_MISSING", `missing ONNX model in ${dir}: looked for ${candidates("").join(", ")}`, { path: dir });
  }
  throw new SyncabelError(
    "MODEL_FILE_MISSING",
    `${dir} has several ONNX variants and no model.onnx: ${files.join(", ")}; choose one by dtype (${Object.keys(DTYPE_SUFFIXES).join("|")}) or by model file`,
    { path: dir },
  );
}
