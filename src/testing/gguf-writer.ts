/**
 * Writes a Hugging Face Llama checkpoint folder (as `writeRandomCheckpoint` makes it) as a GGUF file that llama.cpp
 * loads, for side-by-side benchmarks (bench/peer.bench.ts). What llama.cpp's own `convert_hf_to_gguf.py` writes for
 * a LlamaForCausalLM, in the three types the bench compares:
 *
 *   F32    every tensor float32
 *   Q8_0   2-D weights in blocks of 32: float16 scale d = max|x| / 127, int8 codes round(x / d)
 *   Q4_0   2-D weights in blocks of 32: float16 scale d = x_m / -8 (x_m the value of largest magnitude), 4-bit codes
 *          min(15, trunc(x / d + 8.5)); byte j holds element j (low nibble) and element j + 16 (high nibble)
 *
 * (ggml's reference quantizers `quantize_row_q8_0_ref` / `quantize_row_q4_0_ref`; norms and rope factors stay F32.)
 * Layout details llama.cpp expects: tensor dims in ggml order (fastest first: a [out, in] Linear is [in, out]); the
 * q/k projection rows permuted from Hugging Face's rotate-half pairing to llama.cpp's adjacent pairs; tied
 * embeddings as `token_embd.weight` alone (no `output.weight`); llama3 rope scaling as the `rope_freqs.weight`
 * factors; the tokenizer as `gpt2` / `llama-bpe` tokens, types and merges from tokenizer.json.
 *
 * Streams one tensor at a time (the header is computed first from the shapes), so a 1B model in F32 (5 GB) needs
 * a few hundred MB; the file is written beside its path and renamed into place.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";
import { openLlamaCheckpoint } from "../convert/checkpoint.js";
import type { LlamaConfig } from "../convert/llama-config.js";
import { llama3Scaling, plainInverseFrequencies, ropeInverseFrequencies } from "../convert/rope.js";
import { floatToHalfBits } from "../convert/safetensors.js";
import { writeAll, writeFileAtomicWith } from "../io/atomic-write.js";

export type GgufWeightType = "F32" | "Q8_0" | "Q4_0";

/** ggml_type ids and bytes per block of 32 (F32: per element). */
const GGML_TYPE = { F32: 0, Q4_0: 2, Q8_0: 8 } as const;
/** llama_ftype of the whole file (general.file_type). */
const FILE_TYPE = { F32: 0, Q4_0: 2, Q8_0: 7 } as const;
export const GGUF_BLOCK = 32;
const BLOCK_BYTES = { Q4_0: 18, Q8_0: 34 } as const;
const ALIGNMENT = 32;

/** GGUF metadata value types. */
const V = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10 } as const;

type MetaValue =
  | { readonly t: "u32" | "i32" | "f32"; readonly v: number }
  | { readonly t: "bool"; readonly v: boolean }
  | { readonly t: "str"; readonly v: string }
  | { readonly t: "strs"; readonly v: readonly string[] }
  | { readonly t: "i32s" | "f32s"; readonly v: ArrayLike<number> };

// ---------------------------------------------------------------- quantizers (ggml reference, float32 arithmetic)

/** Q8_0 blocks of a row-major float32 array whose length is a multiple of 32. */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const f = Math.fround;
  const out = new Uint8Array((x.length / GGUF_BLOCK) * BLOCK_BYTES.Q8_0);
  const view = new DataView(out.buffer);
  const codes = new Int8Array(out.buffer);
  for (let b = 0; b < x.length / GGUF_BLOCK; b++) {
    const base = b * GGUF_BLOCK;
    let amax = 0;
    for (let j = 0; j < GGUF_BLOCK; j++) amax = Math.max(amax, Math.abs(x[base + j]));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    const at = b * BLOCK_BYTES.Q8_0;
    view.setUint16(at, floatToHalfBits(d), true);
    // roundf: halves away from zero.
    for (let j = 0; j < GGUF_BLOCK; j++) {
      const v = f(x[base + j] * id);
      codes[at + 2 + j] = v < 0 ? -Math.round(-v) : Math.round(v);
    }
  }
  return out;
}

/** Q4_0 blocks of a row-major float32 array whose length is a multiple of 32. */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const f = Math.fround;
  const out = new Uint8Array((x.length / GGUF_BLOCK) * BLOCK_BYTES.Q4_0);
  const view = new DataView(out.buffer);
  const half = GGUF_BLOCK / 2;
  for (let b = 0; b < x.length / GGUF_BLOCK; b++) {
    const base = b * GGUF_BLOCK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < GGUF_BLOCK; j++) {
      if (amax < Math.abs(x[base + j])) {
        amax = Math.abs(x[base + j]);
        max = x[base + j];
      }
    }
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    const at = b * BLOCK_BYTES.Q4_0;
    view.setUint16(at, floatToHalfBits(d), true);
    const code = (v: number): number => Math.min(15, Math.trunc(f(f(v * id) + 8.5)));
    for (let j = 0; j < half; j++) out[at + 2 + j] = code(x[base + j]) | (code(x[base + half + j]) << 4);
  }
  return out;
}

function encode(x: Float32Array, type: GgufWeightType): Uint8Array {
  if (type === "Q8_0") return quantizeQ8_0(x);
  if (type === "Q4_0") return quantizeQ4_0(x);
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

// ---------------------------------------------------------------- tensors

interface TensorPlan {
  readonly name: string;
  /** ggml dims, fastest first. */
  readonly dims: readonly number[];
  readonly type: GgufWeightType;
  readonly bytes: number;
  readonly data: () => Float32Array;
}

function tensorBytes(elements: number, type: GgufWeightType): number {
  return type === "F32" ? elements * 4 : (elements / GGUF_BLOCK) * BLOCK_BYTES[type];
}

/**
 * Rows of a [heads * headDim, cols] q/k projection reordered from rotate-half pairs (i, i + headDim/2) to adjacent
 * pairs (2i, 2i + 1), as convert_hf_to_gguf.py's `permute` does for LLaMA.
 */
export function permuteRotaryRows(w: Float32Array, heads: number, cols: number): Float32Array {
  const headDim = w.length / cols / heads;
  const halfDim = headDim / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < halfDim; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * headDim + j * halfDim + i) * cols;
        out.set(w.subarray(from, from + cols), (h * headDim + 2 * i + j) * cols);
      }
    }
  }
  return out;
}

/** llama.cpp's rope_freqs: per frequency, the divisor of the plain angle (1 where llama3 scaling keeps it). */
export function ropeFactors(config: LlamaConfig): Float32Array | null {
  if (llama3Scaling(config) === null) return null;
  const plain = plainInverseFrequencies(config.headDim, config.ropeTheta);
  const scaled = ropeInverseFrequencies(config);
  return plain.map((p, i) => p / scaled[i]);
}

function planTensors(config: LlamaConfig, weight: (name: string) => Float32Array, type: GgufWeightType): TensorPlan[] {
  const { hiddenSize: H, intermediateSize: I, headDim: D, numAttentionHeads: nH, numKeyValueHeads: KV } = config;
  const plans: TensorPlan[] = [];
  const add = (name: string, dims: number[], t: GgufWeightType, data: () => Float32Array): void => {
    const elements = dims.reduce((a, b) => a * b, 1);
    if (t !== "F32" && dims[0] % GGUF_BLOCK !== 0) {
      throw new SyncabelError("MODEL_CONFIG_INVALID", `GGUF ${t}: ${name} has rows of ${dims[0]} values, not a multiple of ${GGUF_BLOCK}`);
    }
    plans.push({ name, dims, type: t, bytes: tensorBytes(elements, t), data });
  };
  const matrix = (name: string, hf: string, rows: number, cols: number, permuteHeads = 0): void =>
    add(name, [cols, rows], type, () => (permuteHeads > 0 ? permuteRotaryRows(weight(hf), permuteHeads, cols) : weight(hf)));
  const vector = (name: string, hf: string, n: number): void => add(name, [n], "F32", () => weight(hf));
  matrix("token_embd.weight", "model.embed_tokens.weight", config.vocabSize, H);
  const factors = ropeFactors(config);
  if (factors !== null) add("rope_freqs.weight", [D / 2], "F32", () => factors);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    vector(`blk.${l}.attn_norm.weight`, `${p}.input_layernorm.weight`, H);
    matrix(`blk.${l}.attn_q.weight`, `${p}.self_attn.q_proj.weight`, nH * D, H, nH);
    matrix(`blk.${l}.attn_k.weight`, `${p}.self_attn.k_proj.weight`, KV * D, H, KV);
    matrix(`blk.${l}.attn_v.weight`, `${p}.self_attn.v_proj.weight`, KV * D, H);
    matrix(`blk.${l}.attn_output.weight`, `${p}.self_attn.o_proj.weight`, H, nH * D);
    vector(`blk.${l}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`, H);
    matrix(`blk.${l}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight`, I, H);
    matrix(`blk.${l}.ffn_up.weight`, `${p}.mlp.up_proj.weight`, I, H);
    matrix(`blk.${l}.ffn_down.weight`, `${p}.mlp.down_proj.weight`, H, I);
  }
  vector("output_norm.weight", "model.norm.weight", H);
  if (!config.tieWordEmbeddings) matrix("output.weight", "lm_head.weight", config.vocabSize, H);
  return plans;
}

// ---------------------------------------------------------------- metadata

/** Tokens, types and merges of a byte-level BPE tokenizer.json, with added tokens at their ids. */
function tokenizerMetadata(dir: string, config: LlamaConfig): [string, MetaValue][] {
  const path = join(dir, "tokenizer.json");
  const json = JSON.parse(readFileSync(path, "utf8")) as {
    model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
    added_tokens?: { id: number; content: string; special?: boolean }[];
  };
  if (json.model?.type !== "BPE" || json.model.vocab === undefined) {
    throw new SyncabelError("TOKENIZER_INVALID", `${path}: GGUF needs a byte-level BPE tokenizer (model.type "BPE")`, { file: path });
  }
  const n = config.vocabSize;
  const tokens: string[] = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types = new Int32Array(n).fill(1); // NORMAL
  for (const [token, id] of Object.entries(json.model.vocab)) if (id < n) tokens[id] = token;
  for (const added of json.added_tokens ?? []) {
    if (added.id >= n) continue;
    tokens[added.id] = added.content;
    types[added.id] = added.special ? 3 : 4; // CONTROL / USER_DEFINED
  }
  const merges = (json.model.merges ?? []).map((m) => (typeof m === "string" ? m : m.join(" ")));
  const entries: [string, MetaValue][] = [
    ["tokenizer.ggml.model", { t: "str", v: "gpt2" }],
    ["tokenizer.ggml.pre", { t: "str", v: "llama-bpe" }],
    ["tokenizer.ggml.tokens", { t: "strs", v: tokens }],
    ["tokenizer.ggml.token_type", { t: "i32s", v: types }],
    ["tokenizer.ggml.merges", { t: "strs", v: merges }],
  ];
  if (config.bosTokenId !== null) entries.push(["tokenizer.ggml.bos_token_id", { t: "u32", v: config.bosTokenId }]);
  if (config.eosTokenIds.length > 0) entries.push(["tokenizer.ggml.eos_token_id", { t: "u32", v: config.eosTokenIds[0] }]);
  if (config.padTokenId !== null) entries.push(["tokenizer.ggml.padding_token_id", { t: "u32", v: config.padTokenId }]);
  entries.push(["tokenizer.ggml.add_bos_token", { t: "bool", v: config.bosTokenId !== null }]);
  return entries;
}

function modelMetadata(config: LlamaConfig, type: GgufWeightType, name: string): [string, MetaValue][] {
  return [
    ["general.architecture", { t: "str", v: "llama" }],
    ["general.name", { t: "str", v: name }],
    ["general.file_type", { t: "u32", v: FILE_TYPE[type] }],
    ["general.alignment", { t: "u32", v: ALIGNMENT }],
    ["llama.vocab_size", { t: "u32", v: config.vocabSize }],
    ["llama.context_length", { t: "u32", v: config.maxPositionEmbeddings }],
    ["llama.embedding_length", { t: "u32", v: config.hiddenSize }],
    ["llama.block_count", { t: "u32", v: config.numHiddenLayers }],
    ["llama.feed_forward_length", { t: "u32", v: config.intermediateSize }],
    ["llama.rope.dimension_count", { t: "u32", v: config.headDim }],
    ["llama.attention.head_count", { t: "u32", v: config.numAttentionHeads }],
    ["llama.attention.head_count_kv", { t: "u32", v: config.numKeyValueHeads }],
    ["llama.attention.key_length", { t: "u32", v: config.headDim }],
    ["llama.attention.value_length", { t: "u32", v: config.headDim }],
    ["llama.attention.layer_norm_rms_epsilon", { t: "f32", v: config.rmsNormEps }],
    ["llama.rope.freq_base", { t: "f32", v: config.ropeTheta }],
  ];
}

// ---------------------------------------------------------------- encoding

/** The header's bytes, appended into one growing buffer (the tokenizer alone is ~400k strings). */
class ByteSink {
  private buf = Buffer.alloc(1 << 20);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length); // first: reserve may replace the buffer
    this.buf.set(b, at);
  }

  u32(v: number): void {
    const at = this.reserve(4);
    this.buf.writeUInt32LE(v, at);
  }

  i32(v: number): void {
    const at = this.reserve(4);
    this.buf.writeInt32LE(v, at);
  }

  f32(v: number): void {
    const at = this.reserve(4);
    this.buf.writeFloatLE(v, at);
  }

  u64(v: number): void {
    const at = this.reserve(8);
    this.buf.writeBigUInt64LE(BigInt(v), at);
  }

  string(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(n);
    const at = this.reserve(n);
    this.buf.write(s, at, "utf8");
  }

  value(m: MetaValue): void {
    switch (m.t) {
      case "u32":
        this.u32(V.UINT32);
        return this.u32(m.v);
      case "i32":
        this.u32(V.INT32);
        return this.i32(m.v);
      case "f32":
        this.u32(V.FLOAT32);
        return this.f32(m.v);
      case "bool":
        this.u32(V.BOOL);
        return this.bytes(new Uint8Array([m.v ? 1 : 0]));
      case "str":
        this.u32(V.STRING);
        return this.string(m.v);
      case "strs":
      case "i32s":
      case "f32s": {
        this.u32(V.ARRAY);
        this.u32(m.t === "strs" ? V.STRING : m.t === "i32s" ? V.INT32 : V.FLOAT32);
        this.u64(m.v.length);
        if (m.t === "strs") for (const s of m.v) this.string(s);
        else for (let i = 0; i < m.v.length; i++) (m.t === "i32s" ? this.i32(m.v[i]) : this.f32(m.v[i]));
        return;
      }
    }
  }

  pad(alignment: number): void {
    this.reserve((alignment - (this.length % alignment)) % alignment);
  }

  concat(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const padded = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

export interface GgufWriteResult {
  readonly path: string;
  readonly bytes: number;
  readonly tensors: number;
}

/**
 * Write `outPath` (GGUF v3) from the checkpoint folder `hfDir` with 2-D weights in `type`. Embeddings are quantized
 * like the other matrices (with tied embeddings they are also the output projection).
 */
export function writeLlamaGguf(hfDir: string, outPath: string, type: GgufWeightType, name = "syncabel-bench"): GgufWriteResult {
  const checkpoint = openLlamaCheckpoint(hfDir);
  try {
    const config = checkpoint.config;
    const plans = planTensors(config, (n) => checkpoint.weight(n).data, type);
    const meta = [...modelMetadata(config, type, name), ...tokenizerMetadata(hfDir, config)];
    const header = new ByteSink();
    header.bytes(Buffer.from("GGUF", "latin1"));
    header.u32(3);
    header.u64(plans.length);
    header.u64(meta.length);
    for (const [key, value] of meta) {
      header.string(key);
      header.value(value);
    }
    let offset = 0;
    for (const p of plans) {
      header.string(p.name);
      header.u32(p.dims.length);
      for (const d of p.dims) header.u64(d);
      header.u32(GGML_TYPE[p.type]);
      header.u64(offset);
      offset += padded(p.bytes);
    }
    header.pad(ALIGNMENT);
    const head = header.concat();
    writeFileAtomicWith(outPath, (fd) => {
      writeAll(fd, head);
      for (const p of plans) {
        const bytes = encode(p.data(), p.type);
        if (bytes.length !== p.bytes) throw new SyncabelError("INTERNAL", `GGUF ${p.name}: ${bytes.length} bytes, planned ${p.bytes}`);
        writeAll(fd, bytes);
        if (padded(p.bytes) > p.bytes) writeAll(fd, new Uint8Array(padded(p.bytes) - p.bytes));
      }
    });
    return { path: outPath, bytes: head.length + offset, tensors: plans.length };
  } finally {
    checkpoint.close();
  }
}
