import { basename } from "node:path";
import { SyncabelError } from "../errors.js";
import { loadOnnxCausalLM } from "../lm/onnx-lm.js";
import { loadTokenizer } from "../lm/tokenizer.js";
import { LocalGenerator } from "./local-generator.js";

/** A local generator over a model folder (ONNX weights + tokenizer with a chat template). */
export async function loadLocalGenerator(dir: string, options: { seed?: number; threads?: number } = {}): Promise<LocalGenerator> {
  const tokenizer = await loadTokenizer(dir);
  if (!tokenizer.hasChatTemplate) {
    throw new SyncabelError("TOKENIZER_INVALID", `the tokenizer of ${dir} has no chat_template (tokenizer_config.json): the local generator needs an instruction-tuned model's template`, { path: dir });
  }
  const lm = await loadOnnxCausalLM(dir, options.threads === undefined ? {} : { threads: options.threads });
  // Llama-3 instruct ends a turn with <|eot_id|>; other templates' end-of-turn tokens are their EOS.
  const eot = tokenizer.encode("<|eot_id|>", { addSpecialTokens: false });
  const stopTokenIds = eot.length === 1 ? eot : [];
  return new LocalGenerator(lm, tokenizer, { model: basename(dir), stopTokenIds, ...(options.seed === undefined ? {} : { seed: options.seed }) });
}
