/**
 * The SynCABEL inputs of an encoder-decoder checkpoint (mBART-50, BART), as the authors' seq2seq training built them:
 *
 *  - source (encoder): the marked sentence tokenized with src_lang: `[src_lang] tokens </s>` (BART: `<s> tokens </s>`);
 *  - decoder prompt, given and not scored: `[decoder_start] [tgt_lang] tokens("[mention] es")` (BART: `<s>` for the
 *    language code), i.e. the training target `[mention] es <name>` shifted right after the decoder start, cut after
 *    the verb;
 *  - trie sequences: each name tokenized as it continues that prompt (the tokens of `"[x] es {name}"` after those of
 *    `"[x] es"`, which must be a prefix), then `</s>`; the root is the verb's tokens, the prompt's last ones.
 *
 * The language codes come from tokenizer_config.json (src_lang / tgt_lang), else from the linker's language (es ->
 * es_XX). The decoder start is, by default, what Hugging Face `generate` uses: generation_config.json's
 * decoder_start_token_id, else config.json's (</s> = 2 for mBART-50); "lang" selects the target language code (the
 * authors' training script), a number any id.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SyncabelError } from "../errors.js";
import type { TextTokenizer } from "../lm/types.js";
import { LANGUAGE_CODE, type DecoderStart } from "../convert/mbart-config.js";
import type { MarkedSentence } from "../markup/index.js";
import type { NameTokenization } from "../trie/kb-tries.js";
import type { PromptScheme } from "./prompt-scheme.js";
import { checkPromptLength } from "./prompt-tokens.js";

export { parseDecoderStart, type DecoderStart } from "../convert/mbart-config.js";

const LANGUAGE_CODE_PATTERN = /^[a-z]{2}_[A-Z]{2}$/;
/** The mention stand-in used to tokenize names as they continue a decoder prompt. */
const PROBE_MENTION = "[x]";

export interface Seq2SeqSchemeOptions {
  readonly verb: string;
  /** es | fr | en: picks the language codes when tokenizer_config.json names none. */
  readonly language: string;
  /** Default "config". */
  readonly decoderStart?: DecoderStart;
}

/** The special tokens around sources and targets, resolved for one model folder. */
export interface Seq2SeqSpecialTokens {
  readonly sourcePrefix: readonly number[];
  readonly targetPrefix: readonly number[];
  /** After the source (and ending every target): `</s>`. */
  readonly suffix: readonly number[];
  readonly decoderStart: number;
  readonly srcLang: string | null;
  readonly tgtLang: string | null;
  /** config.json max_position_embeddings: no source or decoder sequence may be longer (learned positions). */
  readonly maxPositions: number;
}

function invalid(message: string, details: Record<string, string | number> = {}): SyncabelError {
  return new SyncabelError("LINKER_INVALID_OPTIONS", message, details);
}

function readJsonObject(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  try {
    const v: unknown = JSON.parse(readFileSync(path, "utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch (e) {
    throw new SyncabelError("MODEL_CONFIG_INVALID", `cannot parse ${path}: ${(e as Error).message}`, { path });
  }
}

/** The id of a special token such as `es_XX` (it must be one token that decodes to itself). */
function tokenId(tokenizer: TextTokenizer, token: string): number {
  const ids = tokenizer.encode(token, { addSpecialTokens: false });
  if (ids.length !== 1 || tokenizer.decode(ids) !== token) throw invalid(`the language code ${JSON.stringify(token)} is not a token of the tokenizer`, { token });
  return ids[0];
}

/** The checkpoint's prefix and suffix around a text (encode with and without special tokens). */
function specialFrame(tokenizer: TextTokenizer): { prefix: number[]; suffix: number[] } {
  const plain = tokenizer.encode("x", { addSpecialTokens: false });
  const full = tokenizer.encode("x", { addSpecialTokens: true });
  for (let at = 0; at + plain.length <= full.length; at++) {
    if (plain.every((t, i) => full[at + i] === t)) return { prefix: full.slice(0, at), suffix: full.slice(at + plain.length) };
  }
  throw new SyncabelError("TOKENIZER_INVALID", "the tokenizer's special tokens do not frame the text (encode with special tokens does not contain encode without)");
}

/** Language codes, prefixes and the decoder start of the model folder `dir`. */
export function resolveSpecialTokens(dir: string, tokenizer: TextTokenizer, options: Seq2SeqSchemeOptions): Seq2SeqSpecialTokens {
  const frame = specialFrame(tokenizer);
  const config = readJsonObject(join(dir, "config.json")) ?? {};
  const tokenizerConfig = readJsonObject(join(dir, "tokenizer_config.json")) ?? {};
  const hasCodes = frame.prefix.length === 1 && LANGUAGE_CODE_PATTERN.test(tokenizer.decode(frame.prefix));
  let srcLang: string | null = null;
  let tgtLang: string | null = null;
  let sourcePrefix = frame.prefix;
  let targetPrefix = frame.prefix;
  if (hasCodes) {
    const fallback = LANGUAGE_CODE[options.language];
    const pick = (key: string): string => {
      const v = tokenizerConfig[key];
      if (typeof v === "string" && v !== "") return v;
      if (fallback === undefined) throw invalid(`no language code for ${JSON.stringify(options.language)}: tokenizer_config.json has no ${key}; use es, fr or en`, { language: options.language });
      return fallback;
    };
    srcLang = pick("src_lang");
    tgtLang = pick("tgt_lang");
    sourcePrefix = [tokenId(tokenizer, srcLang)];
    targetPrefix = [tokenId(tokenizer, tgtLang)];
  }
  const vocab = typeof config.vocab_size === "number" ? config.vocab_size : tokenizer.vocabSize;
  const choice = options.decoderStart ?? "config";
  let decoderStart: number;
  if (choice === "lang") {
    if (tgtLang === null) throw invalid("--decoder-start lang needs a tokenizer with language codes (mBART-50)");
    decoderStart = targetPrefix[0];
  } else if (choice === "config") {
    const generation = readJsonObject(join(dir, "generation_config.json")) ?? {};
    const id = generation.decoder_start_token_id ?? config.decoder_start_token_id;
    if (!Number.isSafeInteger(id)) throw new SyncabelError("MODEL_CONFIG_INVALID", `${dir}: neither generation_config.json nor config.json gives decoder_start_token_id`, { path: dir });
    decoderStart = id as number;
  } else {
    decoderStart = choice;
  }
  if (!Number.isSafeInteger(decoderStart) || decoderStart < 0 || decoderStart >= vocab) throw invalid(`decoder start ${decoderStart} is outside the vocabulary (${vocab})`);
  const maxPositions = Number.isSafeInteger(config.max_position_embeddings) ? (config.max_position_embeddings as number) : 1024;
  return { sourcePrefix, targetPrefix, suffix: frame.suffix, decoderStart, srcLang, tgtLang, maxPositions };
}

function startsWith(seq: readonly number[], prefix: readonly number[]): boolean {
  return prefix.length <= seq.length && prefix.every((t, i) => seq[i] === t);
}

/** Names tokenized as they continue `"[x] {verb}"`, then EOS; the root is the verb's tokens there. */
function continuationTokenization(tokenizer: TextTokenizer, verb: string): NameTokenization {
  const encode = (text: string): number[] => tokenizer.encode(text, { addSpecialTokens: false });
  const context = encode(PROBE_MENTION);
  const prompt = encode(`${PROBE_MENTION} ${verb}`);
  if (!startsWith(prompt, context) || prompt.length === context.length) {
    throw new SyncabelError("TRIE_BUILD_FAILED", `the verb ${JSON.stringify(verb)} does not continue the decoder prompt in tokens of its own`, { verb });
  }
  const root = prompt.slice(context.length);
  return {
    key: "s2s",
    root,
    sequence(name: string): number[] {
      const full = encode(`${PROBE_MENTION} ${verb} ${name}`);
      if (!startsWith(full, prompt) || full.length === prompt.length) {
        throw new SyncabelError("TRIE_BUILD_FAILED", `the tokens of ${JSON.stringify(`${verb} ${name}`)} do not continue those of the decoder prompt ending in ${JSON.stringify(verb)}`, { name, verb });
      }
      return [...root, ...full.slice(prompt.length), tokenizer.eosTokenId];
    },
  };
}

/** The encoder-decoder scheme for resolved special tokens. */
export function seq2seqScheme(tokenizer: TextTokenizer, specials: Seq2SeqSpecialTokens, verb: string): PromptScheme & { readonly specials: Seq2SeqSpecialTokens } {
  const encode = (text: string): number[] => tokenizer.encode(text, { addSpecialTokens: false });
  return {
    encoderDecoder: true,
    specials,
    inputs(sentence: MarkedSentence, maxPromptTokens: number) {
      // Learned positions end at max_position_embeddings: longer inputs could not run at all.
      const limit = Math.min(maxPromptTokens, specials.maxPositions);
      const encoderInput = checkPromptLength([...specials.sourcePrefix, ...encode(sentence.marked), ...specials.suffix], limit, "the source sentence");
      const prompt = checkPromptLength([specials.decoderStart, ...specials.targetPrefix, ...encode(`[${sentence.mention}] ${verb}`)], limit - 1, "the decoder prompt");
      return { prompt, encoderInput };
    },
    names: continuationTokenization(tokenizer, verb),
    // The decoder sequence: its prompt ends "[mention] {verb}" as the decoder-only prompt does.
    decodedText: (_sentence, prompt, generated) => tokenizer.decode([...prompt, ...generated]),
  };
}

/** The scheme of the encoder-decoder model folder `dir`. */
export function loadSeq2SeqScheme(dir: string, tokenizer: TextTokenizer, options: Seq2SeqSchemeOptions): PromptScheme & { readonly specials: Seq2SeqSpecialTokens } {
  return seq2seqScheme(tokenizer, resolveSpecialTokens(dir, tokenizer, options), options.verb);
}
