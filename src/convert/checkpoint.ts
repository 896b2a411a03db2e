/**
 * A Hugging Face Llama checkpoint folder as published: `config.json`, the weights as one `model.safetensors` or
 * as shards listed by `model.safetensors.index.json` (`weight_map`: tensor name -> shard file), in BF16, F16 or
 * F32. Opening reads and checks every header (bounds, dtypes, the tensors the config needs and their shapes)
 * without reading any weights; `weight(name)` then reads one tensor from its shard by file offset.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";
import { loadLlamaConfig, type LlamaConfig } from "./llama-config.js";
import { openSafetensors, type Float32Tensor, type SafetensorsEntry, type SafetensorsFile } from "./safetensors.js";

export const SINGLE_WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";

/** A tensor an architecture reads, with the shape config.json implies. */
export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Other names the same tensor may be saved under (a tied weight saved under one of its aliases). */
  readonly alternatives?: readonly string[];
  /** May be absent (a buffer transformers fills with zeros when missing, e.g. final_logits_bias). */
  readonly optional?: boolean;
}

/** A tensor the Llama architecture reads, with the shape config.json implies. */
export type LlamaTensorSpec = TensorSpec;

/** Where one tensor lives. */
export interface CheckpointTensor {
  readonly file: SafetensorsFile;
  readonly entry: SafetensorsEntry;
}

/** A Hugging Face checkpoint folder opened for reading, its config parsed as `C`. */
export interface HfCheckpoint<C> {
  readonly dir: string;
  readonly config: C;
  /** Weight files, in the order of the index (or the single file). */
  readonly files: readonly string[];
  /** The tensors the model uses by their canonical names (tied copies left out), in Hugging Face order. */
  readonly tensors: ReadonlyMap<string, CheckpointTensor>;
  /** Stored bytes of `tensors`. */
  readonly weightBytes: number;
  /** Read one tensor as float32 (exact for BF16 / F16). */
  weight(name: string): Float32Tensor;
  close(): void;
}

export type LlamaCheckpoint = HfCheckpoint<LlamaConfig>;

/** Every tensor of LlamaForCausalLM in state_dict order (how Hugging Face fills its shards); lm_head only when not tied. */
export function llamaTensorSpecs(config: LlamaConfig): LlamaTensorSpec[] {
  const { hiddenSize: H, headDim: D, intermediateSize: I } = config;
  const q = config.numAttentionHeads * D;
  const kv = config.numKeyValueHeads * D;
  const specs: LlamaTensorSpec[] = [{ name: "model.embed_tokens.weight", shape: [config.vocabSize, H] }];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    specs.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, H] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, H] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, H] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [H, q] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [I, H] },
      { name: `${p}.mlp.up_proj.weight`, shape: [I, H] },
      { name: `${p}.mlp.down_proj.weight`, shape: [H, I] },
      { name: `${p}.input_layernorm.weight`, shape: [H] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [H] },
    );
  }
  specs.push({ name: "model.norm.weight", shape: [H] });
  if (!config.tieWordEmbeddings) specs.push({ name: "lm_head.weight", shape: [config.vocabSize, H] });
  return specs;
}

function invalid(file: string, problem: string, details: Record<string, string> = {}): SyncabelError {
  return new SyncabelError("MODEL_CONFIG_INVALID", `${file}: ${problem}`, { file, ...details });
}

/** A shard name from an index file: a plain file name in the folder (never a path that leaves it). */
function checkShardName(indexPath: string, name: unknown, tensor: string): string {
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+\.safetensors$/.test(name) || name.startsWith(".")) {
    throw invalid(indexPath, `weight_map[${JSON.stringify(tensor)}] is ${JSON.stringify(name)}, not a .safetensors file name in the folder`);
  }
  return name;
}

/** weight_map of the index file: tensor name -> shard file name. */
function readWeightMap(indexPath: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, "utf8"));
  } catch (e) {
    throw invalid(indexPath, `not valid JSON (${(e as Error).message})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) throw invalid(indexPath, "weight_map is missing or not an object");
  const out = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) out.set(tensor, checkShardName(indexPath, shard, tensor));
  return out;
}

/** Open the weight files: every shard of the index once, or the single file. Returns tensor name -> location. */
function openWeights(dir: string, opened: SafetensorsFile[]): { files: string[]; located: Map<string, CheckpointTensor> } {
  const indexPath = join(dir, WEIGHTS_INDEX_FILE);
  const located = new Map<string, CheckpointTensor>();
  if (!existsSync(indexPath)) {
    const single = join(dir, SINGLE_WEIGHTS_FILE);
    if (!existsSync(single)) {
      const bin = existsSync(join(dir, "pytorch_model.bin")) ? " (PyTorch .bin weights are not read: save the model with safetensors)" : "";
      throw new SyncabelError("MODEL_FILE_MISSING", `${dir}: no ${WEIGHTS_INDEX_FILE} or ${SINGLE_WEIGHTS_FILE}${bin}`, { file: dir });
    }
    const file = openSafetensors(single);
    opened.push(file);
    for (const [name, entry] of file.entries) located.set(name, { file, entry });
    return { files: [single], located };
  }
  const weightMap = readWeightMap(indexPath);
  const byShard = new Map<string, SafetensorsFile>();
  for (const [tensor, shard] of weightMap) {
    let file = byShard.get(shard);
    if (file === undefined) {
      const path = join(dir, shard);
      if (!existsSync(path)) {
        throw new SyncabelError("MODEL_FILE_MISSING", `${path}: shard listed in ${indexPath} is missing`, { file: path, index: indexPath });
      }
      file = openSafetensors(path);
      opened.push(file);
      byShard.set(shard, file);
    }
    const entry = file.entries.get(tensor);
    if (entry === undefined) throw invalid(indexPath, `maps ${tensor} to ${shard}, which has no tensor of that name`, { tensor });
    located.set(tensor, { file, entry });
  }
  return { files: [...byShard.values()].map((f) => f.path), located };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Where a spec's tensor is saved: its own name, else the first alternative present. */
function locate(spec: TensorSpec, located: Map<string, CheckpointTensor>): CheckpointTensor | undefined {
  for (const name of [spec.name, ...(spec.alternatives ?? [])]) {
    const t = located.get(name);
    if (t !== undefined) return t;
  }
  return undefined;
}

/** The tensors of `specs`, located and shape-checked; all missing names are reported at once. */
function resolveTensors(dir: string, specs: readonly TensorSpec[], located: Map<string, CheckpointTensor>): Map<string, CheckpointTensor> {
  const missing = specs.filter((s) => !s.optional && locate(s, located) === undefined).map((s) => s.name);
  if (missing.length > 0) {
    const shown = missing.slice(0, 6).join(", ") + (missing.length > 6 ? `, ... (${missing.length} in all)` : "");
    throw new SyncabelError("MODEL_FILE_MISSING", `${dir}: the weights lack tensors config.json requires: ${shown}`, {
      file: dir,
      tensor: missing[0],
    });
  }
  const out = new Map<string, CheckpointTensor>();
  for (const spec of specs) {
    const t = locate(spec, located);
    if (t === undefined) continue; // optional and absent
    if (!sameShape(t.entry.shape, spec.shape)) {
      throw invalid(t.file.path, `tensor ${spec.name} has shape ${JSON.stringify(t.entry.shape)}, config.json implies ${JSON.stringify(spec.shape)}`, {
        tensor: spec.name,
      });
    }
    out.set(spec.name, t);
  }
  return out;
}

/**
 * Open a Hugging Face Llama checkpoint folder, checking config.json and every weight header against each other.
 * Errors name the file and the problem: MODEL_CONFIG_INVALID (unsupported architecture, bad header, shape that
 * contradicts the config) or MODEL_FILE_MISSING (config, index, shard or tensor missing).
 */
export function openLlamaCheckpoint(dir: string): LlamaCheckpoint {
  return openHfCheckpoint(dir, loadLlamaConfig, llamaTensorSpecs);
}

/** Open a checkpoint folder of any architecture: its config read by `loadConfig`, its tensors listed by `specsOf`. */
export function openHfCheckpoint<C>(dir: string, loadConfig: (dir: string) => C, specsOf: (config: C) => readonly TensorSpec[]): HfCheckpoint<C> {
  if (!existsSync(dir)) throw new SyncabelError("MODEL_FILE_MISSING", `${dir}: checkpoint folder not found`, { file: dir });
  const config = loadConfig(dir);
  const opened: SafetensorsFile[] = [];
  try {
    const { files, located } = openWeights(dir, opened);
    const tensors = resolveTensors(dir, specsOf(config), located);
    let weightBytes = 0;
    for (const t of tensors.values()) weightBytes += t.entry.end - t.entry.begin;
    return {
      dir,
      config,
      files,
      tensors,
      weightBytes,
      weight(name: string): Float32Tensor {
        const t = tensors.get(name);
        if (t === undefined) throw new SyncabelError("MODEL_FILE_MISSING", `${dir}: the model has no tensor ${name}`, { file: dir, tensor: name });
        return t.file.read(t.entry.name);
      },
      close(): void {
        for (const f of opened) f.close();
      },
    };
  } catch (e) {
    for (const f of opened) f.close();
    throw e;
  }
}
