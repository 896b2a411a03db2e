/**
 * Text normalisation for lexical matching: Unicode folding (NFKD, combining marks dropped, lower case), word
 * tokens, Snowball stems (the `snowball-stemmers` package: Spanish, English, French), roman numerals as arabic
 * digits, a word-order-free key, and SNOMED-style trailing semantic tags `(trastorno)` removed from names.
 */
import snowball from "snowball-stemmers";

const COMBINING = /\p{M}+/gu;
const NON_WORD = /[^\p{L}\p{N}]+/gu;
const TRAILING_TAG = /\s*\(([^()]*)\)\s*$/u;

/** Languages with a Snowball stemmer here; anything else is stemmed as Spanish (the default corpus language). */
const STEMMER_OF: Readonly<Record<string, string>> = { es: "spanish", en: "english", fr: "french" };

/** Function words left out of the word-order-free key (BM25 down-weights them anyway through idf). */
const STOPWORDS: Readonly<Record<string, readonly string[]>> = {
  es: ["de", "del", "la", "el", "los", "las", "y", "e", "o", "u", "en", "con", "por", "para", "a", "al", "un", "una", "sin", "su", "sus", "se", "que"],
  en: ["of", "the", "and", "or", "in", "with", "by", "for", "to", "a", "an", "on", "at", "from", "without", "its"],
  fr: ["de", "du", "des", "la", "le", "les", "et", "ou", "en", "avec", "par", "pour", "a", "au", "aux", "un", "une", "sans", "d", "l"],
};

const ROMAN: ReadonlyMap<string, string> = new Map(
  ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii", "xviii", "xix", "xx"].map((r, i) => [r, String(i + 1)]),
);

/** Lower case, compatibility-decomposed, accents removed, every run of non-letters/digits one space, trimmed. */
export function foldText(text: string): string {
  return text.normalize("NFKD").replace(COMBINING, "").toLowerCase().replace(NON_WORD, " ").trim();
}

/** A KB name without a trailing parenthesised semantic tag of one or two words (`glaucoma (trastorno)`). */
export function stripSemanticTag(name: string): string {
  const m = TRAILING_TAG.exec(name);
  if (m === null || m.index === 0) return name;
  const inner = (m[1] ?? "").trim();
  // Only word tags: a parenthesised acronym or code (`(HTA)`, `(T2)`) carries meaning and stays.
  return /^\p{Ll}[\p{L} ]*$/u.test(inner) && inner.split(" ").length <= 2 ? name.slice(0, m.index) : name;
}

/** The text inside a trailing parenthesis when it looks like an acronym (`insuficiencia renal (IRC)` -> `IRC`). */
export function trailingAcronym(name: string): string | undefined {
  const m = TRAILING_TAG.exec(name);
  if (m === null || m.index === 0) return undefined;
  const inner = (m[1] ?? "").trim();
  return /^[\p{Lu}\p{N}-]{2,8}$/u.test(inner) && /\p{Lu}/u.test(inner) ? inner : undefined;
}

/**
 * Spanish plural to singular before stemming: Snowball leaves `pulmonares`/`pulmonar` and `nodulares`/`nodular`
 * apart (different suffixes are removed), which splits the most common adjective pairs of clinical names.
 */
function singularEs(word: string): string {
  if (word.length <= 4) return word;
  if (word.endsWith("es") && !/[aeiou]/.test(word[word.length - 3] as string)) return word.slice(0, -2);
  if (word.endsWith("s") && /[aeiou]/.test(word[word.length - 2] as string)) return word.slice(0, -1);
  return word;
}

export interface NormalizedText {
  /** `foldText` of the text. */
  readonly folded: string;
  /** Folded word tokens with roman numerals as digits. */
  readonly tokens: readonly string[];
  /** Snowball stems of `tokens` (digits unchanged). */
  readonly stems: readonly string[];
  /** Sorted distinct stems without stop words: equal for `cancer de mama` and `mama, cancer`. */
  readonly key: string;
}

type Stem = (word: string) => string;

/** Per-language normaliser with a memo of stems (a corpus repeats few distinct words). */
export class Normalizer {
  private readonly stemmer: { stem(word: string): string };
  private readonly stopwords: ReadonlySet<string>;
  private readonly memo = new Map<string, string>();

  constructor(readonly language = "es") {
    this.stemmer = snowball.newStemmer(STEMMER_OF[language] ?? "spanish");
    this.stopwords = new Set(STOPWORDS[language] ?? STOPWORDS.es);
  }

  readonly stem: Stem = (word) => {
    let s = this.memo.get(word);
    if (s === undefined) {
      s = /^\p{N}+$/u.test(word) ? word : this.stemmer.stem(this.language === "es" ? singularEs(word) : word);
      if (this.memo.size < 500_000) this.memo.set(word, s);
    }
    return s;
  };

  isStopword(token: string): boolean {
    return this.stopwords.has(token);
  }

  tokens(text: string): string[] {
    const folded = foldText(text);
    return folded === "" ? [] : folded.split(" ").map((t) => ROMAN.get(t) ?? t);
  }

  normalize(text: string): NormalizedText {
    const folded = foldText(text);
    const tokens = folded === "" ? [] : folded.split(" ").map((t) => ROMAN.get(t) ?? t);
    const stems = tokens.map(this.stem);
    const content = [...new Set(stems.filter((s, i) => !this.stopwords.has(tokens[i] as string)))].sort();
    return { folded, tokens, stems, key: content.join(" ") };
  }
}
