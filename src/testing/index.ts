/**
 * syncabel/testing: tools for tests and capacity planning, kept out of the runtime API. Random-weight Llama
 * models in the Hugging Face layout, an independent pure-TypeScript reference forward pass, and the Llama-3
 * test tokenizer with `<SEP>`.
 */
export {
  writeRandomModel,
  randomModelConfigJson,
  randomLlamaWeights,
  type RandomModelShape,
  type RandomModelInfo,
  type RandomModelOnnxOptions,
} from "./random-model.js";
export { hfWeightsFromOnnx } from "./onnx-weights.js";
export {
  writeRandomCheckpoint,
  presetConfigJson,
  type CheckpointPreset,
  type RandomCheckpointOptions,
  type RandomCheckpointInfo,
} from "./random-checkpoint.js";
export { loadReferenceLlama, type ReferenceLlama } from "./reference-llama.js";
export { loadReferenceSeq2Seq, type ReferenceSeq2Seq } from "./reference-mbart.js";
export { writeRandomSeq2SeqCheckpoint, writeRandomSeq2SeqModel, type RandomSeq2SeqShape } from "./random-seq2seq.js";
export { writeUnigramTokenizer } from "./unigram-tokenizer.js";
export { writeTestTokenizer, LLAMA3_BOS_ID, LLAMA3_EOS_ID, LLAMA3_SEP_ID, TEST_TOKENIZER_VOCAB_SIZE } from "./test-tokenizer.js";
export { logProbsOfRow } from "./log-softmax.js";
