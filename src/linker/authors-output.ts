/**
 * The `pred_concept_name` and `pred_concept_code` strings the SynCABEL authors' `sample()` reports for a beam
 * (their repository's syncabel/models.py, read and restated in docs/decoding.md):
 * 1. the whole sequence (prompt + generated tokens + the end token) is decoded with special tokens kept and
 *    transformers' tokenization-space clean-up (" ," -> ",", " 's" -> "'s", ...);
 * 2. the checkpoint's declared special tokens are removed, except `<SEP>` (their list: transformers'
 *    all_special_tokens, minus its last 3 when a token contains "tag", else its last 4 when one contains "{"), so
 *    undeclared special tokens such as Llama-3's `<|reserved_special_token_70|>` stay; whitespace after `<SEP>` is
 *    removed and the text stripped;
 * 3. the name is the text after the first `] {verb}` (up to a next one), stripped, or NO_PREDICTION when empty;
 * 4. the code is the KB code of the name; in multiple-answers mode each `<SEP>` part's code (part stripped) joined
 *    with `+`, repeats kept and NO_CODE for an unknown part (`A+A+NO_CODE`).
 */
import { NO_CODE, SEP_TOKEN } from "../constants.js";

/** The name the authors report when nothing follows the prompt's verb. */
export const NO_PREDICTION = "NO_PREDICTION";

/** Python's str.isspace() characters (str.strip() and re's \s): JS's \s differs (no \x1c-\x1f, \x85; adds \ufeff). */
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");

/** Python's str.strip(). */
export function pyStrip(text: string): string {
  return text.replace(PY_STRIP, "");
}

/** transformers' clean_up_tokenization: the authors decode with clean_up_tokenization_spaces=True. */
export function cleanUpTokenizationSpaces(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** What the authors' clean-up removes from decoded text, and the separator it keeps. */
export interface AuthorsCleanup {
  readonly removed: readonly string[];
  readonly sepToken: string | null;
}

/** Their list of tokens to remove, from the checkpoint's all_special_tokens (src/lm/special-tokens.ts). */
export function authorsCleanup(allSpecialTokens: readonly string[], sepToken: string | null): AuthorsCleanup {
  let removed = [...allSpecialTokens];
  if (removed.some((t) => t.includes("tag"))) removed = removed.slice(0, -3);
  else if (removed.some((t) => t.includes("{"))) removed = removed.slice(0, -4);
  if (sepToken !== null) removed = removed.filter((t) => t !== sepToken);
  return { removed, sepToken };
}

/**
 * Steps 1-3: the answer in a sequence decoded with special tokens kept (prompt text included, no space clean-up yet);
 * null when there is none (reported as NO_PREDICTION).
 */
export function authorsAnswer(decoded: string, verb: string, cleanup: AuthorsCleanup): string | null {
  let text = cleanUpTokenizationSpaces(decoded);
  for (const token of cleanup.removed) text = text.replaceAll(token, "");
  if (cleanup.sepToken !== null) text = text.replace(new RegExp(`(${escapeRegExp(cleanup.sepToken)})[${PY_SPACE}]+`, "g"), "$1");
  const parts = pyStrip(text).split(`] ${verb}`);
  const answer = parts.length > 1 ? pyStrip(parts[1]) : "";
  return answer === "" ? null : answer;
}

/** Step 4: the reported code of an answer (`lookup`: the code of a KB name of the mention's group). */
export function authorsCode(answer: string | null, lookup: (name: string) => string | undefined, multipleAnswers: boolean): string {
  if (answer === null) return NO_CODE;
  if (!multipleAnswers) return lookup(answer) ?? NO_CODE;
  return answer
    .split(SEP_TOKEN)
    .map((part) => lookup(pyStrip(part)) ?? NO_CODE)
    .join("+");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
