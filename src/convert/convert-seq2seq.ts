/**
 * Hugging Face mBART / BART checkpoint folder -> the model folder the linker loads: config.json, the tokenizer files,
 * generation_config.json (with the chosen decoder start), onnx/encoder_model.onnx and onnx/decoder_model_merged.onnx
 * (+ their `_data` files). Streaming, atomic and interruptible like the Llama conversion (convert.ts), whose output
 * folder handling it shares.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { SyncabelError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import {
  checkOutput,
  checkTokenizer,
  CONVERT_DTYPES,
  COPIED_FILES,
  defaultAccuracyLevel,
  fsyncDir,
  interrupted,
  PARTIAL_PREFIX,
  publish,
  removeStalePartials,
  sleep,
  type ConvertOptions,
  type ConvertResult,
} from "./convert.js";
import { openSeq2SeqCheckpoint, type Seq2SeqCheckpoint } from "./mbart-checkpoint.js";
import { LANGUAGE_CODE } from "./mbart-config.js";
import { SHARED_EMBEDDING } from "./mbart-weights.js";
import { writeSeq2SeqOnnx } from "./onnx-seq2seq-graph.js";
import type { Float32Tensor } from "./safetensors.js";

function readJson(path: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `${path}: ${(e as Error).message}`, { file: path });
  }
}

/**
 * The decoder_start_token_id to store in generation_config.json, or null to keep the checkpoint's ("config"). "lang"
 * is the id of the target language code (tokenizer_config.json's tgt_lang, else the --language's, es -> es_XX) among
 * tokenizer.json's added tokens.
 */
function storedDecoderStart(checkpoint: Seq2SeqCheckpoint, options: ConvertOptions): number | null {
  const choice = options.decoderStart ?? "config";
  if (choice === "config") return null;
  const vocab = checkpoint.config.vocabSize;
  if (typeof choice === "number") {
    if (!Number.isSafeInteger(choice) || choice < 0 || choice >= vocab) throw new SyncabelError("DECODE_INVALID_OPTIONS", `decoder start ${choice} is outside the vocabulary (vocab_size ${vocab})`);
    return choice;
  }
  const configPath = join(checkpoint.dir, "tokenizer_config.json");
  const tgt = existsSync(configPath) ? readJson(configPath).tgt_lang : undefined;
  const code = typeof tgt === "string" && tgt !== "" ? tgt : LANGUAGE_CODE[options.language ?? "es"];
  if (code === undefined) throw new SyncabelError("DECODE_INVALID_OPTIONS", `no target language code for ${JSON.stringify(options.language)}: use es, fr or en`);
  const added = readJson(join(checkpoint.dir, "tokenizer.json")).added_tokens;
  const hit = (Array.isArray(added) ? added : []).find((t) => (t as { content?: unknown }).content === code) as { id?: unknown } | undefined;
  if (hit === undefined || !Number.isSafeInteger(hit.id)) {
    throw new SyncabelError("DECODE_INVALID_OPTIONS", `decoder start "lang": the tokenizer has no language code ${code} (not an mBART-50 tokenizer?)`, { token: code });
  }
  return hit.id as number;
}

/** Convert an mBART / BART checkpoint (see convertCheckpoint for the options, errors and atomicity). */
export async function convertSeq2SeqCheckpoint(inputDir: string, outputDir: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const started = performance.now();
  const dtype = options.dtype ?? "fp32";
  if (!CONVERT_DTYPES.includes(dtype)) throw new SyncabelError("MODEL_CONFIG_INVALID", `dtype ${JSON.stringify(dtype)} is not one of ${CONVERT_DTYPES.join(", ")}`);
  const out = resolve(outputDir);
  checkOutput(inputDir, out, options.force ?? false);
  const checkpoint = openSeq2SeqCheckpoint(resolve(inputDir));
  const partial = join(dirname(out), `${PARTIAL_PREFIX(out)}${process.pid}`);
  try {
    checkTokenizer(checkpoint);
    const decoderStart = storedDecoderStart(checkpoint, options);
    removeStalePartials(out);
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(join(partial, "onnx"), { recursive: true });
    const copied = COPIED_FILES.filter((f) => existsSync(join(checkpoint.dir, f)));
    for (const f of copied) copyFileSync(join(checkpoint.dir, f), join(partial, f));

    const bytesOf = (name: string): number => {
      const e = checkpoint.tensors.get(name)?.entry;
      return e === undefined ? 0 : e.end - e.begin;
    };
    // The shared embedding is read by the encoder and the decoder, and again for a quantized vocabulary projection.
    const bytesTotal = checkpoint.weightBytes + bytesOf(SHARED_EMBEDDING) * (dtype === "fp32" ? 1 : 2);
    let bytesDone = 0;
    const weight = async (name: string): Promise<Float32Tensor> => {
      await (options.throttleMs ? sleep(options.throttleMs) : new Promise<void>((r) => setImmediate(r)));
      if (options.signal?.aborted) throw interrupted();
      const t = checkpoint.weight(name);
      bytesDone += bytesOf(name);
      options.onProgress?.({ bytesDone, bytesTotal, tensor: name });
      return t;
    };
    const result = await writeSeq2SeqOnnx(checkpoint.config, weight, join(partial, "onnx"), {
      weightDtype: dtype,
      quantization: { blockSize: options.blockSize ?? 32, accuracyLevel: options.accuracyLevel ?? defaultAccuracyLevel(dtype) },
      externalDataThreshold: 0,
    });
    if (options.signal?.aborted) throw interrupted();
    if (decoderStart !== null) {
      const path = join(checkpoint.dir, "generation_config.json");
      const generation = existsSync(path) ? readJson(path) : {};
      writeFileAtomic(join(partial, "generation_config.json"), JSON.stringify({ ...generation, decoder_start_token_id: decoderStart }, null, 2) + "\n");
      if (!copied.includes("generation_config.json")) copied.push("generation_config.json");
    }
    copyFileSync(join(checkpoint.dir, "config.json"), join(partial, "config.json")); // last: the loader needs it
    fsyncDir(join(partial, "onnx"));
    fsyncDir(partial);
    publish(partial, out);
    const onnxFiles = result.files.map((f) => `onnx/${f}`);
    return {
      outputDir: out,
      dtype,
      inputBytes: bytesDone,
      onnxBytes: onnxFiles.reduce((n, f) => n + statSync(join(out, f)).size, 0),
      seconds: (performance.now() - started) / 1000,
      files: ["config.json", ...copied, ...onnxFiles],
    };
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    if (e instanceof Error && e.name === "AbortError") throw interrupted();
    throw e;
  } finally {
    checkpoint.close();
  }
}
