/**
 * A Hugging Face mBART / BART checkpoint folder (see checkpoint.ts for the layouts read): config.json checked, every
 * tensor located and shape-checked before any weight is read. A checkpoint without `final_logits_bias` reads it as
 * zeros, as transformers does when loading one.
 */
import { openHfCheckpoint, type HfCheckpoint } from "./checkpoint.js";
import { loadSeq2SeqConfig, type Seq2SeqConfig } from "./mbart-config.js";
import { FINAL_LOGITS_BIAS, seq2seqTensorSpecs } from "./mbart-weights.js";
import type { Float32Tensor } from "./safetensors.js";

export type Seq2SeqCheckpoint = HfCheckpoint<Seq2SeqConfig>;

export function openSeq2SeqCheckpoint(dir: string): Seq2SeqCheckpoint {
  const checkpoint = openHfCheckpoint(dir, loadSeq2SeqConfig, seq2seqTensorSpecs);
  return {
    ...checkpoint,
    weight(name: string): Float32Tensor {
      if (name === FINAL_LOGITS_BIAS && !checkpoint.tensors.has(name)) return { shape: [1, checkpoint.config.vocabSize], data: new Float32Array(checkpoint.config.vocabSize) };
      return checkpoint.weight(name);
    },
  };
}
