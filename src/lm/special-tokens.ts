/**
 * The special tokens a checkpoint declares, in the order Hugging Face transformers (4.57) lists them as
 * `tokenizer.all_special_tokens`: bos, eos, unk, sep, pad, cls, mask, additional_special_tokens, then the
 * model-specific `extra_special_tokens`, each string once. The 256 reserved tokens of Llama-3 are special added
 * tokens but not declared ones, so they are not in this list (which is why the SynCABEL authors' text cleanup keeps
 * them; src/linker/authors-output.ts).
 */

const ATTRIBUTES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"] as const;

/** A declared token: a string or an AddedToken object `{content, ...}`. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") return (value as { content: string }).content;
  return undefined;
}

/**
 * transformers' `all_special_tokens` from `tokenizer_config.json` and, for configs without `added_tokens_decoder`
 * (the legacy layout, where transformers reads it), `special_tokens_map.json`. Tokens a tokenizer class only sets by
 * default (e.g. LlamaTokenizerFast's "<unk>") are not known here.
 */
export function allSpecialTokens(config: Readonly<Record<string, unknown>>, specialTokensMap?: Readonly<Record<string, unknown>>): string[] {
  const values: Record<string, unknown> = { ...config };
  if (specialTokensMap && !("added_tokens_decoder" in config)) {
    const additional = Array.isArray(config.additional_special_tokens) ? [...(config.additional_special_tokens as unknown[])] : [];
    Object.assign(values, specialTokensMap);
    // The map's additional tokens are appended to the config's (transformers' legacy loading).
    if (Array.isArray(specialTokensMap.additional_special_tokens)) {
      for (const t of specialTokensMap.additional_special_tokens as unknown[]) if (!additional.some((a) => tokenText(a) === tokenText(t))) additional.push(t);
      values.additional_special_tokens = additional;
    }
  }
  const extra = values.extra_special_tokens;
  const ordered: unknown[] = ATTRIBUTES.map((a) => values[a]);
  if (extra !== null && typeof extra === "object" && !Array.isArray(extra)) ordered.push(...Object.values(extra));
  const out: string[] = [];
  const seen = new Set<string>();
  for (const value of ordered) {
    // transformers skips unset attributes (None, "", []); a list adds its tokens not seen before it.
    if (value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0)) continue;
    const texts = (Array.isArray(value) ? value : [value]).map(tokenText).filter((t): t is string => t !== undefined && !seen.has(t));
    for (const t of texts) seen.add(t);
    out.push(...texts);
  }
  return out;
}
