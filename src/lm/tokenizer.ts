import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PreTrainedTokenizer } from "@huggingface/transformers";
import { SyncabelError } from "../errors.js";
import { SEP_TOKEN } from "../markup/prompt.js";
import { allSpecialTokens } from "./special-tokens.js";
import type { TextTokenizer } from "./types.js";

/** A chat message for `applyChatTemplate` (synthetic-data generation with a local model). */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

/** TextTokenizer over transformers.js, built straight from the folder's JSON files (never the network). */
export class HfTokenizer implements TextTokenizer {
  readonly eosTokenId: number;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly sepTokenId: number | null;
  readonly vocabSize: number;

  constructor(
    private readonly inner: PreTrainedTokenizer,
    readonly fingerprint: string,
    /** transformers' all_special_tokens of the checkpoint (src/lm/special-tokens.ts). */
    readonly specialTokens?: readonly string[],
  ) {
    const eos = inner.eos_token_id;
    if (typeof eos !== "number") {
      throw new SyncabelError("TOKENIZER_INVALID", "the tokenizer has no EOS token (tokenizer_config.json eos_token)");
    }
    this.eosTokenId = eos;
    this.bosTokenId = typeof inner.bos_token_id === "number" ? inner.bos_token_id : null;
    this.padTokenId = typeof inner.pad_token_id === "number" ? inner.pad_token_id : null;
    const vocab = inner.get_vocab();
    const sep = vocab.get(SEP_TOKEN);
    this.sepTokenId = typeof inner.sep_token_id === "number" ? inner.sep_token_id : sep ?? null;
    let max = -1;
    for (const id of vocab.values()) if (id > max) max = id;
    this.vocabSize = max + 1;
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return ""; // transformers.js rejects an empty list
    return this.inner.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  /** The checkpoint's chat template rendered as text (for instruction-tuned generators). */
  applyChatTemplate(messages: readonly ChatMessage[]): string {
    const out = this.inner.apply_chat_template(messages.map((m) => ({ role: m.role, content: m.content })), {
      tokenize: false,
      add_generation_prompt: true,
    });
    if (typeof out !== "string") throw new SyncabelError("TOKENIZER_INVALID", "the chat template did not render to text");
    return out;
  }

  get hasChatTemplate(): boolean {
    return Boolean((this.inner as unknown as { chat_template?: unknown }).chat_template);
  }
}

function readJson(path: string, what: string): Record<string, unknown> {
  if (!existsSync(path)) {
    throw new SyncabelError("MODEL_FILE_MISSING", `missing ${what}: ${path}`, { path });
  }
  try {
    const value: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (e) {
    throw new SyncabelError("TOKENIZER_INVALID", `cannot parse ${what} ${path}: ${(e as Error).message}`, { path });
  }
}

/**
 * Load the tokenizer of a model folder (`tokenizer.json` + `tokenizer_config.json`, added special tokens such as
 * `<SEP>` included). EOS is the tokenizer's own eos_token: completions were trained to end with it (conventions 2).
 */
export async function loadTokenizer(dir: string): Promise<HfTokenizer> {
  const tokenizerPath = join(dir, "tokenizer.json");
  const configPath = join(dir, "tokenizer_config.json");
  const tokenizerJson = readJson(tokenizerPath, "tokenizer file");
  const tokenizerConfig = readJson(configPath, "tokenizer config");
  const hash = createHash("sha256");
  hash.update(readFileSync(tokenizerPath));
  hash.update(readFileSync(configPath));
  const fingerprint = hash.digest("hex").slice(0, 32);
  let inner: PreTrainedTokenizer;
  try {
    inner = new PreTrainedTokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new SyncabelError("TOKENIZER_INVALID", `cannot build the tokenizer of ${dir}: ${(e as Error).message}`, { path: dir });
  }
  const mapPath = join(dir, "special_tokens_map.json");
  const specialTokensMap = existsSync(mapPath) ? readJson(mapPath, "special tokens map") : undefined;
  return new HfTokenizer(inner, fingerprint, allSpecialTokens(tokenizerConfig, specialTokensMap));
}
