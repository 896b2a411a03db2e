/**
 * Hugging Face Llama checkpoint folder -> the model folder `Linker.open` loads: config.json, the tokenizer files
 * (added tokens such as `<SEP>` kept byte for byte), generation_config.json, onnx/model.onnx + model.onnx_data.
 *
 * Streams: the ONNX writer asks for one tensor at a time, which is read from its shard by offset, converted,
 * written and dropped, so memory stays bounded by a few of the largest tensors. Atomic: everything is written
 * into a hidden sibling folder `.OUT.partial-<pid>` that is renamed to OUT at the end; config.json (which the
 * loader needs) is written last, so the partial folder never loads. An abort removes the partial folder.
 */
import { copyFileSync, existsSync, fsyncSync, closeSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve, isAbsolute } from "node:path";
import { SyncabelError } from "../errors.js";
import { processAlive } from "../io/atomic-write.js";
import { openLlamaCheckpoint, type HfCheckpoint } from "./checkpoint.js";
import { isSeq2SeqModelDir, type DecoderStart } from "./mbart-config.js";
import { convertSeq2SeqCheckpoint } from "./convert-seq2seq.js";
import { writeLlamaOnnx, type WriteOnnxOptions } from "./onnx-llama-graph.js";
import type { Float32Tensor } from "./safetensors.js";

export type ConvertDtype = "fp32" | "fp16" | "int8" | "int4";
export const CONVERT_DTYPES: readonly ConvertDtype[] = ["fp32", "fp16", "int8", "int4"];

/** Files copied from the checkpoint when present (tokenizer.json is required). */
export const COPIED_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "chat_template.jinja"];

/** Marks a model folder `model convert` wrote: the only kind `--force` replaces (with the same layout unmarked). */
export const CONVERTED_MARKER = ".syncabel-model.json";
const LAYOUT = new Set(["config.json", "onnx", CONVERTED_MARKER, ...COPIED_FILES]);
const ONNX_LAYOUT = new Set(["model.onnx", "model.onnx_data"]);

/**
 * Why `force` must not replace the existing folder `dir` (undefined: it may). Replacing removes the folder, so
 * only one syncabel wrote qualifies: its marker, or exactly the layout convert writes (folders converted before
 * the marker), or an empty folder. Anything else (`-o .`, a checkpoint, a project folder) is refused.
 */
function notOursToReplace(dir: string): string | undefined {
  const entries = readdirSync(dir);
  if (entries.length === 0 || entries.includes(CONVERTED_MARKER)) return undefined;
  const stranger = entries.find((e) => !LAYOUT.has(e));
  if (stranger !== undefined) return `it holds ${JSON.stringify(stranger)}`;
  if (!entries.includes("config.json") || !existsSync(join(dir, "onnx", "model.onnx"))) return "it lacks config.json or onnx/model.onnx";
  const onnxStranger = statSync(join(dir, "onnx")).isDirectory() ? readdirSync(join(dir, "onnx")).find((e) => !ONNX_LAYOUT.has(e)) : "onnx";
  return onnxStranger === undefined ? undefined : `it holds onnx/${onnxStranger}`;
}

export interface ConvertProgress {
  /** Checkpoint bytes read so far and in all (a tied embedding counts twice: it is read for both uses). */
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensor: string;
}

export interface ConvertOptions {
  /** Weight type in the ONNX model (default fp32). int8 / int4: com.microsoft.MatMulNBits, block-wise. */
  readonly dtype?: ConvertDtype;
  /** Quantization block size (default 32; a power of two >= 16). */
  readonly blockSize?: number;
  /**
   * MatMulNBits accuracy_level. Default 4 (int8 activations) for int4 and int8: ONNX Runtime's 8-bit kernel at
   * level 0 is about 100x slower on CPU (441 ms vs 4 ms for one row through a 4096x4096 layer, 2 threads), its 4-bit
   * one 2-4x (bench:peer); level 4 agreed with level 0 on the next token of 99.9 % of the SPACCC dev prompts
   * (docs/cpu-performance.md). 0 keeps float activations: the output equals the float model with the dequantized
   * weights.
   */
  readonly accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** Replace an existing output folder (the new one is complete before the old one goes). */
  readonly force?: boolean;
  readonly onProgress?: (p: ConvertProgress) => void;
  /** Abort between tensors: the partial output is removed and CONVERT_INTERRUPTED thrown. */
  readonly signal?: AbortSignal;
  /** Milliseconds to sleep before reading each tensor: a test hook to make a tiny conversion slow. */
  readonly throttleMs?: number;
  /** Encoder-decoder checkpoints: the decoder start stored in generation_config.json (default "config": unchanged). */
  readonly decoderStart?: DecoderStart;
  /** Encoder-decoder checkpoints: es | fr | en, the target language when tokenizer_config.json names none ("lang" start). */
  readonly language?: string;
}

export interface ConvertResult {
  readonly outputDir: string;
  readonly dtype: ConvertDtype;
  /** Bytes of weights read from the checkpoint. */
  readonly inputBytes: number;
  /** Bytes of onnx/model.onnx + onnx/model.onnx_data. */
  readonly onnxBytes: number;
  readonly seconds: number;
  readonly files: readonly string[];
}

function outputError(message: string, path: string): SyncabelError {
  return new SyncabelError("CONVERT_OUTPUT_INVALID", message, { file: path });
}

/** Real path of `p`, or of its nearest existing ancestor joined with the rest (for a folder not yet created). */
function realish(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : join(realish(parent), basename(abs));
}

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** OUT must not be the input, inside it or around it, nor exist unless `force`. */
export function checkOutput(inputDir: string, outputDir: string, force: boolean): void {
  const input = realish(inputDir);
  const output = realish(outputDir);
  if (inside(output, input)) throw outputError(`output ${outputDir} is the checkpoint folder or inside it: choose another folder`, outputDir);
  if (inside(input, output)) throw outputError(`output ${outputDir} contains the checkpoint folder ${inputDir}: choose another folder`, outputDir);
  if (existsSync(outputDir)) {
    if (!statSync(outputDir).isDirectory()) throw outputError(`output ${outputDir} exists and is not a folder`, outputDir);
    if (!force) throw outputError(`output ${outputDir} exists: remove it or pass --force to replace it`, outputDir);
    const why = notOursToReplace(outputDir);
    if (why !== undefined) {
      throw outputError(`output ${outputDir} is not a model folder 'syncabel model convert' wrote (${why}): --force only replaces those; remove it yourself or choose another folder`, outputDir);
    }
  }
}

/** tokenizer.json must exist and its added tokens (e.g. <SEP>) must have rows in the embedding. */
export function checkTokenizer(checkpoint: HfCheckpoint<{ readonly vocabSize: number }>): void {
  const path = join(checkpoint.dir, "tokenizer.json");
  if (!existsSync(path)) throw new SyncabelError("MODEL_FILE_MISSING", `${path}: tokenizer.json not found`, { file: path });
  let added: unknown;
  try {
    added = (JSON.parse(readFileSync(path, "utf8")) as { added_tokens?: unknown }).added_tokens;
  } catch (e) {
    throw new SyncabelError("TOKENIZER_INVALID", `${path}: not valid JSON (${(e as Error).message})`, { file: path });
  }
  const vocab = checkpoint.config.vocabSize;
  for (const t of Array.isArray(added) ? added : []) {
    const { id, content } = t as { id?: unknown; content?: unknown };
    if (typeof id === "number" && id >= vocab) {
      throw new SyncabelError(
        "MODEL_CONFIG_INVALID",
        `${path}: added token ${JSON.stringify(content)} has id ${id}, outside the embedding of config.json (vocab_size ${vocab}); resize the token embeddings before saving`,
        { file: path },
      );
    }
  }
}

export const PARTIAL_PREFIX = (outputDir: string): string => `.${basename(outputDir)}.partial-`;

/** Remove partial folders left by conversions that were killed (their process is gone). */
export function removeStalePartials(outputDir: string): void {
  const parent = dirname(outputDir);
  if (!existsSync(parent)) return;
  const prefix = PARTIAL_PREFIX(outputDir);
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isSafeInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    rmSync(join(parent, name), { recursive: true, force: true });
  }
}


export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // Some file systems do not fsync folders; the rename is still atomic.
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function interrupted(): SyncabelError {
  return new SyncabelError("CONVERT_INTERRUPTED", "conversion interrupted; the partial output was removed");
}

export function defaultAccuracyLevel(dtype: ConvertDtype): 0 | 4 {
  return dtype === "int8" || dtype === "int4" ? 4 : 0;
}

/**
 * ONNX writer options: external data always (the loader finds model.onnx_data beside model.onnx), and a
 * `num_logits_to_keep` input so prefill computes the vocabulary projection at the last position only.
 */
function writerOptions(options: ConvertOptions): WriteOnnxOptions {
  return {
    externalDataThreshold: 0,
    weightDtype: options.dtype ?? "fp32",
    quantization: { blockSize: options.blockSize ?? 32, accuracyLevel: options.accuracyLevel ?? defaultAccuracyLevel(options.dtype ?? "fp32") },
    logits: "num_logits_to_keep",
  };
}

/**
 * Convert the checkpoint in `inputDir` into a model folder at `outputDir`. Checks everything readable before
 * writing anything; errors name the file and problem (see openLlamaCheckpoint), CONVERT_OUTPUT_INVALID for an
 * output folder that exists (without `force`) or overlaps the input.
 */
export async function convertCheckpoint(inputDir: string, outputDir: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  if (isSeq2SeqModelDir(resolve(inputDir))) return convertSeq2SeqCheckpoint(inputDir, outputDir, options); // mBART / BART (#19)
  const started = performance.now();
  const dtype = options.dtype ?? "fp32";
  if (!CONVERT_DTYPES.includes(dtype)) throw new SyncabelError("MODEL_CONFIG_INVALID", `dtype ${JSON.stringify(dtype)} is not one of ${CONVERT_DTYPES.join(", ")}`);
  const out = resolve(outputDir);
  checkOutput(inputDir, out, options.force ?? false);
  const checkpoint = openLlamaCheckpoint(resolve(inputDir));
  const partial = join(dirname(out), `${PARTIAL_PREFIX(out)}${process.pid}`);
  try {
    checkTokenizer(checkpoint);
    removeStalePartials(out);
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(join(partial, "onnx"), { recursive: true });
    const copied = COPIED_FILES.filter((f) => existsSync(join(checkpoint.dir, f)));
    for (const f of copied) copyFileSync(join(checkpoint.dir, f), join(partial, f));

    const embed = checkpoint.tensors.get("model.embed_tokens.weight")!.entry;
    const bytesTotal = checkpoint.weightBytes + (checkpoint.config.tieWordEmbeddings ? embed.end - embed.begin : 0);
    let bytesDone = 0;
    const weight = async (name: string): Promise<Float32Tensor> => {
      // Yield between tensors so SIGINT/SIGTERM handlers (and progress output) run during a long conversion.
      await (options.throttleMs ? sleep(options.throttleMs) : new Promise<void>((r) => setImmediate(r)));
      if (options.signal?.aborted) throw interrupted();
      const t = checkpoint.weight(name);
      const e = checkpoint.tensors.get(name)!.entry;
      bytesDone += e.end - e.begin;
      options.onProgress?.({ bytesDone, bytesTotal, tensor: name });
      return t;
    };
    const modelPath = join(partial, "onnx", "model.onnx");
    const result = await writeLlamaOnnx(checkpoint.config, weight, modelPath, writerOptions(options));
    if (options.signal?.aborted) throw interrupted();
    writeFileSync(join(partial, CONVERTED_MARKER), `${JSON.stringify({ format: "syncabel-model", writer: "syncabel model convert", dtype, source: checkpoint.dir })}\n`);
    copyFileSync(join(checkpoint.dir, "config.json"), join(partial, "config.json")); // last: the loader needs it
    fsyncDir(join(partial, "onnx"));
    fsyncDir(partial);
    publish(partial, out);
    const onnxFiles = ["onnx/model.onnx", ...(result.externalDataPath !== null ? ["onnx/model.onnx_data"] : [])];
    const onnxBytes = onnxFiles.reduce((n, f) => n + statSync(join(out, f)).size, 0);
    return {
      outputDir: out,
      dtype,
      inputBytes: bytesDone,
      onnxBytes,
      seconds: (performance.now() - started) / 1000,
      files: ["config.json", ...copied, ...onnxFiles],
    };
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    throw e;
  } finally {
    checkpoint.close();
  }
}

/** Rename the finished folder into place; an existing OUT (only with force) is moved aside first, then removed. */
export function publish(partial: string, out: string): void {
  if (existsSync(out)) {
    const old = join(dirname(out), `.${basename(out)}.old-${process.pid}`);
    renameSync(out, old);
    renameSync(partial, out);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(partial, out);
  }
  fsyncDir(dirname(out));
}
