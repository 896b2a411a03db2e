/**
 * Upper bounds of a model configuration's sizes, checked before anything is allocated from them: a `config.json`
 * asking for 1e8 layers or a 2^40 vocabulary fails with MODEL_CONFIG_INVALID instead of running out of memory.
 * Each is far above every published checkpoint (Llama-3.1-405B: 126 layers, 16,384 hidden, 128 heads,
 * 53,248 intermediate, 128,256 vocabulary, 131,072 positions).
 */
export const CONFIG_LIMITS = {
  num_hidden_layers: 1024,
  hidden_size: 65_536,
  intermediate_size: 1 << 20,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 1024,
  vocab_size: 1 << 24,
  max_position_embeddings: 1 << 21,
} as const;

export type LimitedKey = keyof typeof CONFIG_LIMITS;

/**
 * The problem with a size field (undefined: a positive integer within its limit). `field` names it in the message
 * when the config calls it otherwise (mBART's encoder_layers is bounded as num_hidden_layers).
 */
export function sizeProblem(key: LimitedKey, value: unknown, field: string = key): string | undefined {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) return `${field} must be a positive integer, got ${JSON.stringify(value)}`;
  if ((value as number) > CONFIG_LIMITS[key]) return `${field} ${value as number} is above ${CONFIG_LIMITS[key]}, more than any model this runtime can hold`;
  return undefined;
}
