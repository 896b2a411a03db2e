/**
 * Readings of a coordinated mention as several concept mentions: `renal and hepatic failure` -> `renal failure`,
 * `hepatic failure` (shared head after the conjuncts, usual in English); `edema periorbital y palpebral` ->
 * `edema periorbital`, `edema palpebral` (shared head before, usual in Spanish); `radiografía de tórax y ecografía
 * abdominal` -> both conjuncts as they are. Corpora annotate such mentions with a composite code (`a+b`, BC5CDR
 * `a|b`); the hybrid linker links each piece and offers the union of their codes as one more candidate.
 */

/** Conjunctions per language (anything else is read as Spanish, the default corpus language). */
const CONJUNCTIONS: Readonly<Record<string, readonly string[]>> = {
  en: ["and", "or", "and/or", "&"],
  es: ["y", "e", "o", "u", "y/o"],
  fr: ["et", "ou"],
};

/** Prepositions after which a shared head's modifiers start (`cancer of the [renal pelvis and bladder]`). */
const PREPOSITIONS: Readonly<Record<string, readonly string[]>> = {
  en: ["of", "in"],
  es: ["de", "del", "en"],
  fr: ["de", "du", "des"],
};

/** Leading determiners dropped from a conjunct (`la ecografía`). */
const DETERMINERS: Readonly<Record<string, readonly string[]>> = {
  en: ["the", "a", "an"],
  es: ["el", "la", "los", "las", "un", "una"],
  fr: ["le", "la", "les", "l", "un", "une"],
};

const MAX_CONJUNCTS = 4;
const MAX_LENGTH = 160;
/** A conjunct of at most this many words can share the other conjuncts' head. */
const MODIFIER_WORDS = 2;

const lang = (language: string): string => (language in CONJUNCTIONS ? language : "es");

/** The conjuncts of a text split at its conjunctions and commas, or [] when it has no conjunction (commas alone mostly join a finding and its result). */
export function conjuncts(text: string, language: string): string[][] {
  const l = lang(language);
  const conj = new Set(CONJUNCTIONS[l]);
  const det = new Set(DETERMINERS[l]);
  if (text.length > MAX_LENGTH) return [];
  const words = text.replace(/([,;])/g, " $1 ").split(/\s+/).filter((w) => w !== "");
  const out: string[][] = [[]];
  let conjunctions = 0;
  for (const w of words) {
    const isConjunction = conj.has(w.toLowerCase());
    if (w === "," || w === ";" || isConjunction) {
      if ((out[out.length - 1] as string[]).length > 0) out.push([]);
      if (isConjunction) conjunctions++;
      continue;
    }
    const cur = out[out.length - 1] as string[];
    if (cur.length === 0 && det.has(w.toLowerCase())) continue;
    cur.push(w);
  }
  const parts = out.filter((p) => p.length > 0);
  return conjunctions > 0 && parts.length >= 2 && parts.length <= MAX_CONJUNCTS ? parts : [];
}

/**
 * Every reading of a coordinated text as a list of mention texts (distinct readings, each of at least 2 pieces):
 * the conjuncts as they are; the last conjunct's head shared by short conjuncts before it; the first conjunct's
 * head shared by short conjuncts after it (before its last word, and after its last preposition).
 */
export function coordinationReadings(text: string, language: string): string[][] {
  const parts = conjuncts(text, language);
  if (parts.length < 2) return [];
  const l = lang(language);
  const preps = new Set(PREPOSITIONS[l]);
  const readings: string[][] = [parts.map((p) => p.join(" "))];
  const first = parts[0] as string[];
  const last = parts[parts.length - 1] as string[];
  const middle = parts.slice(0, -1);
  const tail = parts.slice(1);
  // renal and hepatic failure: every conjunct but the last is a modifier of the last one's head.
  if (last.length >= 2 && middle.every((p) => p.length <= MODIFIER_WORDS)) {
    const head = last.slice(1).join(" ");
    readings.push([...middle.map((p) => `${p.join(" ")} ${head}`), last.join(" ")]);
  }
  // edema periorbital y palpebral: every conjunct but the first modifies the first one's head.
  if (first.length >= 2 && tail.every((p) => p.length <= MODIFIER_WORDS)) {
    const head = first.slice(0, first.length - 1).join(" ");
    readings.push([first.join(" "), ...tail.map((p) => `${head} ${p.join(" ")}`)]);
    let prep = -1;
    first.forEach((w, i) => {
      if (preps.has(w.toLowerCase()) && i > 0 && i < first.length - 1) prep = i;
    });
    if (prep > 0 && prep < first.length - 2) {
      const prefix = first.slice(0, prep + 1).join(" ");
      readings.push([first.join(" "), ...tail.map((p) => `${prefix} ${p.join(" ")}`)]);
    }
  }
  const seen = new Set<string>();
  return readings.filter((r) => {
    const key = r.join("\u0000").toLowerCase();
    if (seen.has(key) || new Set(r.map((x) => x.toLowerCase())).size < 2) return false;
    seen.add(key);
    return true;
  });
}
