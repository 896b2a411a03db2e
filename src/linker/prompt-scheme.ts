/**
 * How one model family turns a marked sentence into model inputs and a KB name into trie tokens. Decoder-only
 * models (Llama): the prompt `{sentence}<SEP>[{mention}] {verb}` and names `" {verb} {name}"` + EOS (conventions,
 * sections 2-3). Encoder-decoder models: src/linker/seq2seq-prompt.ts.
 */
import type { TextTokenizer } from "../lm/types.js";
import { buildPrompt, type MarkedSentence } from "../markup/index.js";
import { nameTokenSequence, type NameTokenization } from "../trie/kb-tries.js";
import { promptTokens } from "./prompt-tokens.js";

/** The model inputs of one mention. */
export interface ModelInputs {
  /** The (decoder) prompt: given, not scored; it ends with the tokens every trie sequence starts with. */
  readonly prompt: number[];
  /** The encoder's input (encoder-decoder models only). */
  readonly encoderInput?: number[];
}

export interface PromptScheme {
  /** Whether the inputs carry an encoder input (the model must be an encoder-decoder model). */
  readonly encoderDecoder: boolean;
  /** A mention's inputs; SENTENCE_TOO_LONG beyond `maxPromptTokens`. */
  inputs(sentence: MarkedSentence, maxPromptTokens: number): ModelInputs;
  /** How the names of a group become trie sequences (their shared first tokens end every prompt). */
  readonly names: NameTokenization;
  /** A beam as the authors decode it (special tokens kept): their prompt text, then the generated tokens. */
  decodedText(sentence: MarkedSentence, prompt: readonly number[], generated: readonly number[]): string;
}

/** The decoder-only scheme of the SynCABEL Llama checkpoints. */
export function decoderOnlyScheme(tokenizer: TextTokenizer, verb: string): PromptScheme {
  let root: readonly number[] | undefined;
  return {
    encoderDecoder: false,
    inputs: (sentence, max) => ({ prompt: promptTokens(tokenizer, sentence, verb, max) }),
    // The prompt as text, not its tokens: a prompt cut at max_prompt_tokens still reads whole.
    decodedText: (sentence, _prompt, generated) => buildPrompt(sentence, verb) + tokenizer.decode([...generated]),
    names: {
      key: "",
      get root() {
        root ??= tokenizer.encode(` ${verb}`, { addSpecialTokens: false });
        return root;
      },
      sequence: (name) => nameTokenSequence(tokenizer, verb, name),
    },
  };
}
