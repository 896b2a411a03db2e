/**
 * The weights of a Llama ONNX graph (see GraphWeights): the token embedding and the vocabulary projection by their
 * Llama names, tied or not.
 */
import type { LlamaConfig } from "./llama-config.js";
import { GraphWeights, type LinearOp, type LinearStorage } from "./graph-weights.js";
import type { GraphBuilder } from "./onnx-graph-builder.js";

export { transpose2d, type FloatStorage, type LinearOp, type LinearStorage, type WeightProgress, type WeightSource } from "./graph-weights.js";

export class LlamaWeights extends GraphWeights<LlamaConfig> {
  /** Tensors the source will be asked for (the embedding twice when tied). */
  get tensorsTotal(): number {
    return 3 + 9 * this.config.numHiddenLayers;
  }

  /** Token embedding lookup on `ids` (see GraphWeights.embeddingTable). */
  embedding(storage: LinearStorage): Promise<(g: GraphBuilder, ids: string) => string> {
    return this.embeddingTable("model.embed_tokens.weight", this.config.vocabSize, this.config.hiddenSize, storage);
  }

  /** The vocabulary projection (tied embeddings: the embedding matrix, stored again in lm_head's form). */
  lmHead(storage: LinearStorage): Promise<LinearOp> {
    const { vocabSize: V, hiddenSize: H } = this.config;
    const source = this.config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    return this.linear("lm_head.weight", [source], [V], H, storage);
  }
}
