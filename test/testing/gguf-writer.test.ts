/**
 * The bench's GGUF writer against the GGUF v3 spec and ggml's block formats, read back by a small reader written
 * here from the spec (bench:peer also reads every file back with llama.cpp itself and compares logits; the
 * quantized blocks were also checked byte for byte against the `gguf` Python package's quantizers).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLlamaCheckpoint } from "../../src/convert/checkpoint.js";
import { halfToFloat } from "../../src/convert/safetensors.js";
import { permuteRotaryRows, quantizeQ4_0, quantizeQ8_0, writeLlamaGguf } from "../../src/testing/gguf-writer.js";
import { writeRandomCheckpoint } from "../../src/testing/random-checkpoint.js";

interface GgufTensor {
  dims: number[];
  type: number;
  offset: number;
}

/** GGUF v3 per the spec: header, metadata (typed values), tensor infos, data aligned to general.alignment. */
function readGguf(bytes: Buffer): { version: number; meta: Map<string, unknown>; tensors: Map<string, GgufTensor>; dataStart: number } {
  let at = 0;
  const u32 = (): number => ((at += 4), bytes.readUInt32LE(at - 4));
  const u64 = (): number => ((at += 8), Number(bytes.readBigUInt64LE(at - 8)));
  const str = (): string => {
    const n = u64();
    at += n;
    return bytes.toString("utf8", at - n, at);
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 4:
        return u32();
      case 5:
        return ((at += 4), bytes.readInt32LE(at - 4));
      case 6:
        return ((at += 4), bytes.readFloatLE(at - 4));
      case 7:
        return bytes[at++] !== 0;
      case 8:
        return str();
      case 9: {
        const itemType = u32();
        return Array.from({ length: u64() }, () => value(itemType));
      }
      default:
        throw new Error(`value type ${type} not expected here`);
    }
  };
  expect(bytes.toString("latin1", 0, 4)).toBe("GGUF");
  at = 4;
  const version = u32();
  const tensorCount = u64();
  const kvCount = u64();
  const meta = new Map<string, unknown>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    meta.set(key, value(u32()));
  }
  const tensors = new Map<string, GgufTensor>();
  for (let i = 0; i < tensorCount; i++) {
    const name = str();
    const dims = Array.from({ length: u32() }, () => u64());
    tensors.set(name, { dims, type: u32(), offset: u64() });
  }
  const alignment = (meta.get("general.alignment") as number | undefined) ?? 32;
  return { version, meta, tensors, dataStart: Math.ceil(at / alignment) * alignment };
}

/** ggml's dequantize_row_q8_0 / q4_0: value = d * q (Q8_0), d * (q - 8) with element j low / j + 16 high (Q4_0). */
function dequantize(data: Uint8Array, type: "Q8_0" | "Q4_0", count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const blockBytes = type === "Q8_0" ? 34 : 18;
  for (let b = 0; b < count / 32; b++) {
    const d = halfToFloat(view.getUint16(b * blockBytes, true));
    for (let j = 0; j < 32; j++) {
      if (type === "Q8_0") out[b * 32 + j] = d * view.getInt8(b * blockBytes + 2 + j);
      else out[b * 32 + j] = d * (((data[b * blockBytes + 2 + (j % 16)] >> (j < 16 ? 0 : 4)) & 15) - 8);
    }
  }
  return out;
}

describe("GGUF writer (bench:peer's llama.cpp models)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-gguf-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("Q4_0: scale = the largest-magnitude value / -8 as float16, codes trunc(x / d + 8.5), element j + 16 in the high nibble", () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => j - 16); // -16 is the largest magnitude: d = 2
    const block = quantizeQ4_0(x);
    expect(block.length).toBe(18);
    expect([block[0], block[1]]).toEqual([0x00, 0x40]); // float16 2.0, little-endian
    // Worked by hand: code_j = trunc(j / 2 + 0.5) capped at 15; byte j = code_j | code_(j+16) << 4.
    expect([...block.subarray(2)]).toEqual([0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8]);
  });

  it("Q8_0: scale = max|x| / 127 as float16, codes rounded half away from zero", () => {
    const x = new Float32Array(32);
    x.set([127, -2.5, 2.5, 1.4, -1.6, -127]);
    const block = quantizeQ8_0(x);
    expect(block.length).toBe(34);
    expect([block[0], block[1]]).toEqual([0x00, 0x3c]); // float16 1.0
    expect([...new Int8Array(block.buffer, 2, 6)]).toEqual([127, -3, 3, 1, -2, -127]);
    expect([...block.subarray(8)].every((b) => b === 0)).toBe(true);
  });

  it("q/k rows go from rotate-half pairs (i, i + d/2) to adjacent pairs (2i, 2i + 1), head by head", () => {
    const rows = Float32Array.from({ length: 8 }, (_, i) => i); // 2 heads x head_dim 4, one column
    expect([...permuteRotaryRows(rows, 2, 1)]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  it("writes a GGUF v3 file llama.cpp's llama architecture reads: metadata, tokenizer, ggml-order dims, aligned blocks", async () => {
    const hf = join(dir, "hf");
    const rope = { rope_type: "llama3", factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192 };
    await writeRandomCheckpoint(hf, { shape: { layers: 1, hidden: 64, heads: 2, kvHeads: 1, intermediate: 96, tieWordEmbeddings: true, ropeScaling: rope }, seed: 3 });
    const path = join(dir, "m.gguf");
    const written = writeLlamaGguf(hf, path, "Q8_0");
    const bytes = readFileSync(path);
    const { version, meta, tensors, dataStart } = readGguf(bytes);
    expect(version).toBe(3);
    expect(written.bytes).toBe(bytes.length);
    expect(Object.fromEntries([...meta].filter(([k]) => k.startsWith("llama.") || k === "general.architecture" || k === "general.file_type"))).toEqual({
      "general.architecture": "llama",
      "general.file_type": 7,
      "llama.vocab_size": 128257,
      "llama.context_length": 8192,
      "llama.embedding_length": 64,
      "llama.block_count": 1,
      "llama.feed_forward_length": 96,
      "llama.rope.dimension_count": 32,
      "llama.attention.head_count": 2,
      "llama.attention.head_count_kv": 1,
      "llama.attention.key_length": 32,
      "llama.attention.value_length": 32,
      "llama.attention.layer_norm_rms_epsilon": Math.fround(1e-5),
      "llama.rope.freq_base": 500000,
    });
    const tokens = meta.get("tokenizer.ggml.tokens") as string[];
    const types = meta.get("tokenizer.ggml.token_type") as number[];
    expect([meta.get("tokenizer.ggml.model"), meta.get("tokenizer.ggml.pre"), tokens.length]).toEqual(["gpt2", "llama-bpe", 128257]);
    expect([tokens[0], tokens[128000], tokens[128256], types[0], types[128000], types[128256]]).toEqual(["!", "<|begin_of_text|>", "<SEP>", 1, 3, 3]);
    expect((meta.get("tokenizer.ggml.merges") as string[])[0]).toBe("Ġ Ġ");
    expect([meta.get("tokenizer.ggml.bos_token_id"), meta.get("tokenizer.ggml.eos_token_id")]).toEqual([128000, 128001]);

    // Tied embeddings: token_embd only. 1 + rope_freqs + 9 per layer + output_norm.
    expect([...tensors.keys()]).toEqual([
      "token_embd.weight",
      "rope_freqs.weight",
      ...["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"].map((n) => `blk.0.${n}.weight`),
      "output_norm.weight",
    ]);
    let end = 0;
    for (const t of tensors.values()) {
      expect(t.offset % 32).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(end);
      const count = t.dims.reduce((a, b) => a * b, 1);
      end = t.offset + (t.type === 8 ? (count / 32) * 34 : count * 4);
    }
    expect(dataStart + Math.ceil(end / 32) * 32).toBe(bytes.length);

    const checkpoint = openLlamaCheckpoint(hf);
    const hfTensor = (name: string): Float32Array => checkpoint.weight(name).data;
    const data = (name: string): Uint8Array => {
      const t = tensors.get(name)!;
      return bytes.subarray(dataStart + t.offset);
    };
    const floats = (name: string, n: number): Float32Array => new Float32Array(Uint8Array.from(data(name).subarray(0, n * 4)).buffer);
    // Q8_0 within half a step of every weight; [out, in] Linear weights stored as ggml [in, out].
    const embed = hfTensor("model.embed_tokens.weight");
    expect(tensors.get("token_embd.weight")).toMatchObject({ dims: [64, 128257], type: 8 });
    const embedBack = dequantize(data("token_embd.weight"), "Q8_0", embed.length);
    let worst = 0;
    for (let b = 0; b < embed.length / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(embed[b * 32 + j]));
      for (let j = 0; j < 32; j++) worst = Math.max(worst, Math.abs(embedBack[b * 32 + j] - embed[b * 32 + j]) / (amax / 127));
    }
    // Half a step, plus the float16 rounding of d (codes are computed with the exact d): 127 * 2^-11 steps.
    expect(worst).toBeLessThan(0.57);
    // attn_q row (head h, 2i + j) is Hugging Face row (h, j * 16 + i).
    const q = hfTensor("model.layers.0.self_attn.q_proj.weight");
    const qBack = dequantize(data("blk.0.attn_q.weight"), "Q8_0", q.length);
    expect(tensors.get("blk.0.attn_q.weight")!.dims).toEqual([64, 64]);
    for (const [h, i, j] of [[0, 0, 1], [1, 5, 0], [1, 15, 1]]) {
      const ours = qBack.subarray((h * 32 + 2 * i + j) * 64, (h * 32 + 2 * i + j + 1) * 64);
      const theirs = q.subarray((h * 32 + j * 16 + i) * 64, (h * 32 + j * 16 + i + 1) * 64);
      ours.forEach((v, c) => expect(Math.abs(v - theirs[c])).toBeLessThan(0.01));
    }
    // F32 tensors verbatim; llama3 rope factors: 1 for the fastest frequency, `factor` for the slowest.
    const norm = hfTensor("model.layers.0.input_layernorm.weight");
    expect([...floats("blk.0.attn_norm.weight", 64)]).toEqual([...norm]);
    const factors = floats("rope_freqs.weight", 16);
    expect(tensors.get("rope_freqs.weight")).toMatchObject({ dims: [16], type: 0 });
    expect([factors[0], factors[15]]).toEqual([1, expect.closeTo(32, 4)]);
    checkpoint.close();
  });
});
