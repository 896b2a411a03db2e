/**
 * The authors' output strings (src/linker/authors-output.ts) and the special-token list they depend on
 * (src/lm/special-tokens.ts). Expected special-token lists were printed by transformers 4.57.6
 * (`AutoTokenizer.from_pretrained(dir).all_special_tokens`) for the same files; expected strings follow the rules
 * of the authors' sample() as docs/decoding.md states them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { authorsAnswer, authorsCleanup, authorsCode, cleanUpTokenizationSpaces, pyStrip } from "../../src/linker/authors-output.js";
import { loadTokenizer } from "../../src/lm/tokenizer.js";
import { allSpecialTokens } from "../../src/lm/special-tokens.js";
import { writeTestTokenizer } from "../../src/testing/test-tokenizer.js";
import { DISEASES } from "../support/linker-fixtures.js";

const PROMPT = "<|begin_of_text|>Antecedentes de [asma]{ENFERMEDAD} en la infancia.<SEP>[asma] es";
const LLAMA3 = authorsCleanup(["<|begin_of_text|>", "<|end_of_text|>", "<SEP>"], "<SEP>");

describe("transformers' all_special_tokens of a checkpoint", () => {
  it("matches transformers 4.57 for the Llama-3 + <SEP> tokenizer, a legacy special_tokens_map.json and extra tokens", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-special-"));
    try {
      writeTestTokenizer(dir);
      const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
      const map0 = JSON.parse(readFileSync(join(dir, "special_tokens_map.json"), "utf8")) as Record<string, unknown>;
      // The reserved tokens are special added tokens but not declared ones.
      expect(allSpecialTokens(config, map0)).toEqual(["<|begin_of_text|>", "<|end_of_text|>", "<SEP>"]);

      const { added_tokens_decoder: _, sep_token: __, pad_token: ___, ...legacy } = config;
      const eos = { content: "</s>", lstrip: false, normalized: false, rstrip: false, single_word: false };
      const legacyConfig = { ...legacy, bos_token: "<s>", eos_token: eos, unk_token: "<unk>", additional_special_tokens: ["<a>"] };
      const map = { pad_token: "<pad>", additional_special_tokens: ["<b>", "<a>"], eos_token: "</eos>" };
      expect(allSpecialTokens(legacyConfig, map)).toEqual(["<s>", "</eos>", "<unk>", "<pad>", "<a>", "<b>"]);

      // loadTokenizer reads special_tokens_map.json for a legacy config (no added_tokens_decoder).
      const reserved = (i: number) => `<|reserved_special_token_${i}|>`;
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...legacy, bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>", additional_special_tokens: [reserved(2)] }));
      writeFileSync(join(dir, "special_tokens_map.json"), JSON.stringify({ pad_token: reserved(0), additional_special_tokens: [reserved(1), reserved(2)], eos_token: "<|eot_id|>" }));
      expect((await loadTokenizer(dir)).specialTokens).toEqual(["<|begin_of_text|>", "<|eot_id|>", reserved(0), reserved(2), reserved(1)]);

      const extra = { ...config, extra_special_tokens: { image_token: "<img>", audio_token: "<|end_of_text|>" }, additional_special_tokens: ["<x>", "<|begin_of_text|>", "<x>"] };
      expect(allSpecialTokens(extra, map)).toEqual(["<|begin_of_text|>", "<|end_of_text|>", "<SEP>", "<x>", "<x>", "<img>"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the authors' text clean-up", () => {
  it("removes the declared special tokens but <SEP>, cut by 3 after a 'tag' token or by 4 after a '{' token", () => {
    expect(LLAMA3.removed).toEqual(["<|begin_of_text|>", "<|end_of_text|>"]);
    expect(authorsCleanup(["<s>", "</s>", "<SEP>", "<tag_a>", "<x>", "<y>"], "<SEP>").removed).toEqual(["<s>", "</s>"]);
    expect(authorsCleanup(["<s>", "</s>", "<pad>", "<SEP>", "{a}", "<x>", "<y>", "<z>"], "<SEP>").removed).toEqual(["<s>", "</s>", "<pad>"]);
    expect(authorsCleanup(["<s>", "</s>", "<SEP>"], null).removed).toEqual(["<s>", "</s>", "<SEP>"]);
  });

  it("cleans tokenization spaces as transformers' decode(clean_up_tokenization_spaces=True)", () => {
    expect(cleanUpTokenizationSpaces("diabetes , tipo 2 . ¿ ok ? sí ! it 's he 's I 'm we 've they 're don't do n't a ' b")).toBe(
      "diabetes, tipo 2. ¿ ok? sí! it's he's I'm we've they're don't don't a'b",
    );
  });

  it("strips as Python's str.strip() does", () => {
    expect(pyStrip("\x1c\x85 asma\u3000\t")).toBe("asma");
    expect(pyStrip("\ufeffasma\ufeff")).toBe("\ufeffasma\ufeff");
  });
});

describe("the authors' answer and code", () => {
  const answer = (generated: string): string | null => authorsAnswer(PROMPT + generated, "es", LLAMA3);

  it("is the text after the prompt's '] {verb}', undeclared special tokens kept, spaces after <SEP> removed", () => {
    expect(answer(" asma bronquial<|end_of_text|>")).toBe("asma bronquial");
    expect(answer(" asma<|reserved_special_token_70|><|end_of_text|>")).toBe("asma<|reserved_special_token_70|>");
    expect(answer(" asma <SEP> gripe<SEP>  \ttos<|end_of_text|>")).toBe("asma <SEP>gripe<SEP>tos");
    expect(answer(" diabetes , tipo 2 .")).toBe("diabetes, tipo 2.");
    expect(answer(" a] es b<|end_of_text|>")).toBe("a");
    expect(answer("<|end_of_text|>")).toBeNull();
    expect(answer(" \x1c<|begin_of_text|>")).toBeNull();
  });

  it("joins each <SEP> part's code with +, keeping repeats and NO_CODE parts (codes from the KB rows)", () => {
    const rows = new Map(DISEASES.map(([code, name]): [string, string] => [name, code]).reverse()); // first (lowest) code of a name wins
    const lookup = (name: string) => rows.get(name);
    expect(authorsCode("asma<SEP>asma <SEP> gripe<SEP>tos convulsiva", lookup, true)).toBe("109+109+119+NO_CODE");
    expect(authorsCode("sepsis", lookup, true)).toBe("129");
    expect(authorsCode("asma<SEP>gripe", lookup, false)).toBe("NO_CODE");
    expect(authorsCode("asma", lookup, false)).toBe("109");
    expect(authorsCode(null, lookup, true)).toBe("NO_CODE");
  });
});
