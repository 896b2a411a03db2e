/**
 * `syncabel model random -o DIR [...]`: write a random-weight Llama test model (HF folder + ONNX export).
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { SyncabelError } from "../../errors.js";
import { writeRandomModel, type RandomModelShape } from "../../testing/random-model.js";
import type { CliIO } from "../io.js";
import { positiveInt } from "../args.js";

export const usage = `usage: syncabel model random -o DIR [options]

Write a random-weight Llama model folder for tests and benchmarks: config.json, generation_config.json,
the Llama-3 tokenizer with <SEP>, model.safetensors and onnx/model.onnx (KV cache, Optimum IO names).

options:
  -o, --output DIR        output folder (created; existing files are replaced)
  --layers L              decoder layers (default 4)
  --hidden H              hidden size (default 256)
  --heads A               attention heads (default 4)
  --kv-heads K            key/value heads, divides A (default 2)
  --intermediate I        MLP width (default 512)
  --seed S                PRNG seed (default 0)
  --io-dtype T            float32 (default) or float16: element type of the KV cache and logits at the ONNX
                          model's boundary, as in half-precision exports
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
  if (positionals[0] !== "random" || positionals.length !== 1) {
    throw new SyncabelError("CLI_USAGE", `expected the subcommand 'random'\n\n${usage}`);
  }
  if (values.output === undefined) throw new SyncabelError("CLI_USAGE", `missing -o DIR\n\n${usage}`);
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
