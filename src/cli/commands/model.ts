/**
 * `syncabel model convert HF_DIR -o OUT [...]`: convert a Hugging Face Llama checkpoint into the model folder the
 * linker loads. `syncabel model random -o DIR [...]`: write a random-weight Llama test model.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { SyncabelError } from "../../errors.js";
import { convertCheckpoint, CONVERT_DTYPES, type ConvertDtype } from "../../convert/convert.js";
import { writeRandomModel, type RandomModelShape } from "../../testing/random-model.js";
import { writeRandomSeq2SeqModel } from "../../testing/random-seq2seq.js";
import { parseDecoderStart, type DecoderStart } from "../../convert/mbart-config.js";
import type { CliIO } from "../io.js";
import { positiveInt } from "../args.js";
import { formatSeconds, Progress } from "../../io/progress.js";

export const usage = `usage: syncabel model convert HF_DIR -o OUT [options]
       syncabel model random -o DIR [options]

convert: read a Hugging Face Llama, mBART or BART checkpoint (config.json, model.safetensors or sharded safetensors with
model.safetensors.index.json, in bf16/fp16/fp32; tokenizer files with added tokens such as <SEP>) and write
the model folder the linker loads: config.json, tokenizer files, generation_config.json, onnx/model.onnx and
onnx/model.onnx_data. Streams tensor by tensor (memory: a few of the largest tensors, not the model). OUT
appears only when complete; Ctrl-C removes the partial output.

  -o, --output OUT        output folder (must not exist, unless --force)
  --dtype T               weights in the ONNX model: fp32 (default, exact), fp16, int8, int4
                          (int8/int4: ONNX Runtime MatMulNBits, block-wise, symmetric)
  --block-size N          quantization block size for int8/int4 (default 32)
  --accuracy-level L      MatMulNBits accuracy_level 0-4 (default 4: int8 activations, 2-4x (int4) and ~100x
                          (int8) faster than 0 on CPU; 0: exact float arithmetic on the dequantized weights)
  --force                 replace an existing OUT (the old one is removed once the new one is complete); only a
                          model folder 'model convert' wrote is replaced, anything else is refused
  --decoder-start S       mBART/BART: the decoder start stored in generation_config.json: config (default, as
                          saved), lang (the target language code, as the SynCABEL seq2seq training) or a token id
  --language L            mBART: es|fr|en, the target language code for --decoder-start lang when
                          tokenizer_config.json has no tgt_lang (default es)

random: write a random-weight Llama model folder for tests and benchmarks: config.json,
generation_config.json, the Llama-3 tokenizer with <SEP>, model.safetensors and onnx/model.onnx (KV cache,
Optimum IO names).

  -o, --output DIR        output folder (created; existing files are replaced)
  --layers L              decoder layers (default 4)
  --hidden H              hidden size (default 256)
  --heads A               attention heads (default 4)
  --kv-heads K            key/value heads, divides A (default 2)
  --intermediate I        MLP width (default 512)
  --seed S                PRNG seed (default 0)
  --io-dtype T            float32 (default) or float16: element type of the KV cache and logits at the ONNX
                          model's boundary, as in half-precision exports
  --arch A                llama (default), mbart or bart: an encoder-decoder checkpoint in the layout
                          save_pretrained writes (MBart/BartForConditionalGeneration, tied embeddings, a small
                          Unigram tokenizer with the mBART-50 language codes and <SEP>) plus onnx/encoder_model.onnx
                          and onnx/decoder_model_merged.onnx; --layers is per stack, --hidden is d_model,
                          --intermediate the FFN width (--kv-heads does not apply)

  -h, --help              show this help
`;

const DEFAULTS = { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 512, seed: 0 } as const;


export async function run(args: string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        output: { type: "string", short: "o" },
        layers: { type: "string" },
        hidden: { type: "string" },
        heads: { type: "string" },
        "kv-heads": { type: "string" },
        intermediate: { type: "string" },
        seed: { type: "string" },
        "io-dtype": { type: "string" },
        dtype: { type: "string" },
        "block-size": { type: "string" },
        "accuracy-level": { type: "string" },
        force: { type: "boolean" },
        arch: { type: "string" },
        "decoder-start": { type: "string" },
        language: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new SyncabelError("CLI_USAGE", `${(e as Error).message}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals[0] === "convert") return convert(positionals, values, io);
  if (positionals[0] !== "random" || positionals.length !== 1) {
    throw new SyncabelError("CLI_USAGE", `expected the subcommand 'convert' or 'random'\n\n${usage}`);
  }
  if (values.output === undefined) throw new SyncabelError("CLI_USAGE", `missing -o DIR\n\n${usage}`);
  const arch = values.arch ?? "llama";
  if (arch !== "llama" && arch !== "mbart" && arch !== "bart") throw new SyncabelError("CLI_USAGE", `--arch must be llama, mbart or bart, got ${JSON.stringify(arch)}\n\n${usage}`);
  if (arch !== "llama") return randomSeq2Seq(arch, values, io);
  const shape: RandomModelShape = {
    layers: positiveInt(values.layers, "layers", DEFAULTS.layers),
    hidden: positiveInt(values.hidden, "hidden", DEFAULTS.hidden),
    heads: positiveInt(values.heads, "heads", DEFAULTS.heads),
    kvHeads: positiveInt(values["kv-heads"], "kv-heads", DEFAULTS.kvHeads),
    intermediate: positiveInt(values.intermediate, "intermediate", DEFAULTS.intermediate),
    seed: positiveInt(values.seed, "seed", DEFAULTS.seed, true),
  };
  if (shape.hidden % shape.heads !== 0) {
    throw new SyncabelError("CLI_USAGE", `--hidden (${shape.hidden}) must be a multiple of --heads (${shape.heads})`);
  }
  if (shape.heads % shape.kvHeads !== 0) {
    throw new SyncabelError("CLI_USAGE", `--heads (${shape.heads}) must be a multiple of --kv-heads (${shape.kvHeads})`);
  }
  if ((shape.hidden / shape.heads) % 2 !== 0) {
    throw new SyncabelError("CLI_USAGE", `head size hidden/heads (${shape.hidden / shape.heads}) must be even`);
  }
  const ioDtype = values["io-dtype"] ?? "float32";
  if (ioDtype !== "float32" && ioDtype !== "float16") throw new SyncabelError("CLI_USAGE", `--io-dtype must be float32 or float16, got ${JSON.stringify(ioDtype)}`);
  const dir = resolve(values.output);
  const started = performance.now();
  const info = await writeRandomModel(dir, shape, { ioDtype });
  const seconds = (performance.now() - started) / 1000;
  io.stdout.write(
    `wrote random Llama model to ${dir}\n` +
      `  shape: layers=${shape.layers} hidden=${shape.hidden} heads=${shape.heads} kv_heads=${shape.kvHeads} ` +
      `intermediate=${shape.intermediate} vocab=${info.config.vocabSize} seed=${shape.seed}\n` +
      `  parameters: ${info.parameterCount.toLocaleString("en-US")} (${(info.onnx.weightBytes / 1e6).toFixed(1)} MB float32)\n` +
      `  files: ${info.files.join(", ")}\n` +
      `  time: ${seconds.toFixed(2)} s\n`,
  );
  return 0;
}

/** `model random --arch mbart|bart`: a random encoder-decoder checkpoint plus its ONNX export. */
async function randomSeq2Seq(arch: "mbart" | "bart", values: { output?: string; layers?: string; hidden?: string; heads?: string; intermediate?: string; seed?: string }, io: CliIO): Promise<number> {
  const shape = {
    arch,
    layers: positiveInt(values.layers, "layers", 2),
    dModel: positiveInt(values.hidden, "hidden", 64),
    heads: positiveInt(values.heads, "heads", 4),
    ffn: positiveInt(values.intermediate, "intermediate", 128),
  };
  if (shape.dModel % shape.heads !== 0) throw new SyncabelError("CLI_USAGE", `--hidden (${shape.dModel}) must be a multiple of --heads (${shape.heads})`);
  const seed = positiveInt(values.seed, "seed", 0, true);
  const dir = resolve(values.output!);
  const started = performance.now();
  const info = await writeRandomSeq2SeqModel(dir, shape, { seed });
  io.stdout.write(
    `wrote random ${arch === "mbart" ? "mBART" : "BART"} model to ${dir}\n` +
      `  shape: layers=${shape.layers}+${shape.layers} d_model=${shape.dModel} heads=${shape.heads} ffn=${shape.ffn} vocab=${info.config.vocabSize} seed=${seed}\n` +
      `  parameters: ${info.parameterCount.toLocaleString("en-US")}\n` +
      `  files: ${info.files.join(", ")}\n` +
      `  time: ${((performance.now() - started) / 1000).toFixed(2)} s\n`,
  );
  return 0;
}

interface ConvertFlags {
  readonly output?: string;
  readonly dtype?: string;
  readonly "block-size"?: string;
  readonly "accuracy-level"?: string;
  readonly force?: boolean;
  readonly "decoder-start"?: string;
  readonly language?: string;
}

/** `model convert`: exit 0 when OUT is complete, 1 on a bad checkpoint or I/O failure, 2 on usage errors, 130/143 on signals. */
async function convert(positionals: string[], values: ConvertFlags, io: CliIO): Promise<number> {
  if (positionals.length !== 2) throw new SyncabelError("CLI_USAGE", `expected one checkpoint folder: model convert HF_DIR -o OUT\n\n${usage}`);
  if (values.output === undefined) throw new SyncabelError("CLI_USAGE", `missing -o OUT\n\n${usage}`);
  const dtype = values.dtype ?? "fp32";
  if (!CONVERT_DTYPES.includes(dtype as ConvertDtype)) {
    throw new SyncabelError("CLI_USAGE", `--dtype must be one of ${CONVERT_DTYPES.join(", ")}, got ${JSON.stringify(dtype)}`);
  }
  const blockSize = positiveInt(values["block-size"], "block-size", 32);
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new SyncabelError("CLI_USAGE", `--block-size must be a power of two >= 16, got ${blockSize}`);
  }
  const level = values["accuracy-level"];
  if (level !== undefined && !/^[0-4]$/.test(level)) throw new SyncabelError("CLI_USAGE", `--accuracy-level must be 0, 1, 2, 3 or 4, got ${JSON.stringify(level)}\n\n${usage}`);
  let decoderStart: DecoderStart | undefined;
  try {
    decoderStart = values["decoder-start"] === undefined ? undefined : parseDecoderStart(values["decoder-start"]);
  } catch (e) {
    throw new SyncabelError("CLI_USAGE", `--decoder-start: ${(e as Error).message}\n\n${usage}`);
  }
  const throttle = io.env.SYNCABEL_CONVERT_THROTTLE_MS; // test hook: slow a tiny conversion down
  const controller = new AbortController();
  let signalCode = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalCode = signal === "SIGINT" ? 130 : 143;
    io.stderr.write(`\n${signal}: stopping the conversion and removing the partial output\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let progress: Progress | undefined;
  try {
    const result = await convertCheckpoint(resolve(positionals[1]), resolve(values.output), {
      dtype: dtype as ConvertDtype,
      blockSize,
      ...(level === undefined ? {} : { accuracyLevel: Number(level) as 0 | 1 | 2 | 3 | 4 }),
      force: values.force ?? false,
      ...(decoderStart === undefined ? {} : { decoderStart }),
      ...(values.language === undefined ? {} : { language: values.language }),
      signal: controller.signal,
      throttleMs: throttle === undefined ? undefined : positiveInt(throttle, "SYNCABEL_CONVERT_THROTTLE_MS", 0, true),
      onProgress: ({ bytesDone, bytesTotal }) => {
        progress ??= new Progress({ total: Math.round(bytesTotal / 1e6), label: "convert", stream: io.stderr, tty: io.isTTY, unit: "MB" });
        progress.tick(Math.round(bytesDone / 1e6) - progress.count);
      },
    });
    progress?.finish();
    io.stdout.write(
      `converted ${resolve(positionals[1])} -> ${result.outputDir}\n` +
        `  dtype: ${result.dtype}${result.dtype.startsWith("int") ? ` (block size ${blockSize})` : ""}\n` +
        `  read: ${(result.inputBytes / 1e9).toFixed(2)} GB of weights; wrote ${(result.onnxBytes / 1e9).toFixed(2)} GB of ONNX\n` +
        `  files: ${result.files.join(", ")}\n` +
        `  time: ${formatSeconds(result.seconds)} (${result.seconds.toFixed(1)} s)\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof SyncabelError && e.code === "CONVERT_INTERRUPTED" && signalCode !== 0) {
      io.stderr.write("conversion interrupted: no output was written\n");
      return signalCode;
    }
    if (e instanceof SyncabelError && e.code === "CONVERT_OUTPUT_INVALID") throw new SyncabelError("CLI_USAGE", e.message, e.details);
    throw e;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
