/**
 * Synthetic terminology releases in the exact published layouts, for tests and the `bench:kb` scale benchmark:
 * a SNOMED CT RF2 Snapshot (concepts, Spanish descriptions with FSN semantic tags, a language refset with
 * preferred / acceptable members; SCTIDs with their Verhoeff check digit; CRLF lines) and a UMLS RRF subset
 * (MRCONSO with its 18 fields, MRSTY, SemGroups.txt). Names are Spanish-like clinical phrases of 2-8 words built
 * from a medical vocabulary, so n-gram statistics and lengths resemble the real Spanish edition.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "../util/random.js";

const STEMS = ["cardi", "gastr", "neur", "hepat", "nefr", "oste", "derm", "arteri", "bronqu", "colec", "pancre", "mielo", "encefal", "linf", "trombo", "angi", "esplen", "cist", "rin", "otor", "oftalm", "hemat", "mio", "artr", "col", "tiroid", "adeno", "fibr", "lipo", "quer", "pleur", "peric", "endocard", "glomerul", "vascul", "uret", "prost", "ovar", "laring", "faring"];
const SUFFIXES = ["itis", "osis", "algia", "oma", "ectomía", "patía", "grafía", "scopia", "plastia", "emia", "ólisis", "ostomía", "megalia", "rragia", "ismo", "al", "ico", "ía", "otomía", "ectasia"];
const HEADS = ["fractura", "infección", "dolor", "lesión", "biopsia", "resección", "drenaje", "quiste", "absceso", "hernia", "estenosis", "obstrucción", "perforación", "reparación", "sustitución", "insuficiencia", "malformación", "neoplasia", "tumor", "úlcera", "hemorragia", "trombosis", "inflamación", "trasplante", "amputación", "exploración", "ecografía", "tomografía", "inyección", "extracción"];
const ORGANS = ["fémur", "tibia", "húmero", "riñón", "hígado", "pulmón", "corazón", "estómago", "colon", "vejiga", "páncreas", "bazo", "tiroides", "mama", "piel", "cerebro", "médula espinal", "ojo", "oído", "laringe", "tráquea", "esófago", "duodeno", "recto", "útero", "ovario", "próstata", "arteria coronaria", "vena femoral", "rodilla", "cadera", "hombro", "muñeca", "tobillo", "columna lumbar"];
const ADJECTIVES = ["agudo", "crónico", "izquierdo", "derecho", "bilateral", "primario", "secundario", "congénito", "maligno", "benigno", "grave", "leve", "recurrente", "difuso", "focal", "superior", "inferior", "posterior", "anterior", "distal", "proximal", "abierto", "cerrado", "parcial", "total", "laparoscópico", "endoscópico", "percutáneo"];
const LINKS = ["de", "del", "de la", "con", "sin", "por", "en", "y"];
const SYLLABLES = ["ca", "lo", "mi", "ra", "ne", "to", "sa", "pu", "ri", "ve", "gu", "ce", "do", "ma", "ti", "que", "bra", "zo", "ña", "li", "fe", "no", "cu", "per", "tan", "sal", "mor"];

/** Semantic tags of the generated concepts (Spanish edition tags) with their share, their TUI and type name. */
export const GENERATED_TAGS = [
  { tag: "trastorno", share: 0.48, tui: "T047", type: "Disease or Syndrome", abbr: "DISO", group: "Disorders" },
  { tag: "procedimiento", share: 0.25, tui: "T061", type: "Therapeutic or Preventive Procedure", abbr: "PROC", group: "Procedures" },
  { tag: "hallazgo", share: 0.22, tui: "T184", type: "Sign or Symptom", abbr: "DISO", group: "Disorders" },
  { tag: "estructura corporal", share: 0.05, tui: "T023", type: "Body Part, Organ, or Organ Component", abbr: "ANAT", group: "Anatomy" },
] as const;

/** Seeded Spanish-like clinical names: a head noun or a stem+suffix word, organs, adjectives, links. */
export function clinicalNameGenerator(seed = 42): () => string {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const word = (): string => {
    const r = rand();
    if (r < 0.35) return pick(STEMS) + pick(SUFFIXES);
    if (r < 0.6) return pick(ADJECTIVES);
    if (r < 0.85) return pick(ORGANS);
    let w = "";
    for (let k = 2 + Math.floor(rand() * 3); k > 0; k--) w += pick(SYLLABLES);
    return w;
  };
  return () => {
    const words = 2 + Math.floor(rand() * 7);
    const parts = [rand() < 0.5 ? pick(HEADS) : pick(STEMS) + pick(SUFFIXES)];
    while (parts.length < words) parts.push(rand() < 0.3 && parts.length < words - 1 ? pick(LINKS) : word());
    return parts.join(" ");
  };
}

const VERHOEFF_D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
const VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/** The Verhoeff check digit of a digit string (the last digit of every SCTID). */
export function verhoeffDigit(digits: string): number {
  let c = 0;
  for (let i = 0; i < digits.length; i++) c = VERHOEFF_D[c][VERHOEFF_P[(i + 1) % 8][digits.charCodeAt(digits.length - 1 - i) - 48]];
  return VERHOEFF_INV[c];
}

/** Namespace of the generated ids (an extension namespace: ids never collide with International Edition ones). */
export const GENERATED_NAMESPACE = "1000999";

/** An extension SCTID: item identifier, namespace, partition (10 concept, 11 description, 12 relationship), check digit. */
export function sctid(item: number, kind: "concept" | "description" | "relationship"): string {
  const body = `${item}${GENERATED_NAMESPACE}${kind === "concept" ? "10" : kind === "description" ? "11" : "12"}`;
  return `${body}${verhoeffDigit(body)}`;
}

/** Buffered line writer with back-pressure (CRLF for RF2, LF for RRF). */
class LineWriter {
  private buf: string[] = [];
  private readonly out: WriteStream;
  constructor(path: string, private readonly eol: string) {
    this.out = createWriteStream(path, { encoding: "utf8" });
  }
  async line(text: string): Promise<void> {
    this.buf.push(text);
    if (this.buf.length >= 4096) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const ok = this.out.write(this.buf.join(this.eol) + this.eol);
    this.buf = [];
    if (!ok) await new Promise<void>((r) => this.out.once("drain", () => r()));
  }
  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
}

export interface GeneratedConcept {
  readonly index: number;
  readonly tag: (typeof GENERATED_TAGS)[number];
  /** [FSN base (without tag), preferred term, acceptable synonyms...]. */
  readonly names: readonly string[];
}

export interface GeneratorOptions {
  readonly concepts: number;
  /** Average descriptions per concept including the FSN (default 3: 1M concepts -> 3M descriptions). */
  readonly descriptionsPerConcept?: number;
  readonly seed?: number;
  /** Also write an inferred relationship snapshot: an is-a DAG per semantic tag (see `isaParents`). Default false. */
  readonly relationships?: boolean;
}

/** The concepts of a release, deterministic for a seed. */
export function* generatedConcepts(options: GeneratorOptions): Generator<GeneratedConcept> {
  const rand = mulberry32((options.seed ?? 7) ^ 0x5bd1e995);
  const name = clinicalNameGenerator(options.seed ?? 7);
  const perConcept = options.descriptionsPerConcept ?? 3;
  for (let i = 0; i < options.concepts; i++) {
    let r = rand();
    let tag: (typeof GENERATED_TAGS)[number] = GENERATED_TAGS[0];
    for (const t of GENERATED_TAGS) {
      tag = t;
      if (r < t.share) break;
      r -= t.share;
    }
    // 1 FSN + 1 preferred term + a random number of synonyms averaging perConcept - 2.
    const extra = Math.max(0, Math.round(perConcept - 2 + (rand() - 0.5) * 2));
    const names = [name(), name()];
    for (let k = 0; k < extra; k++) names.push(name());
    yield { index: i, tag, names };
  }
}

export const RF2_EFFECTIVE_TIME = "20250131";
const MODULE = "900000000000207008";
const PRIMITIVE = "900000000000074008";
const CASE_INSENSITIVE = "900000000000448009";
/** The Latin-American Spanish language reference set of the Spanish edition. */
export const SPANISH_LANGUAGE_REFSET = "450828004";

function uuid(rand: () => number): string {
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(rand() * 4)]}${hex(3)}-${hex(12)}`;
}

export interface Rf2Release {
  readonly folder: string;
  readonly concepts: number;
  readonly descriptions: number;
  /** Is-a rows written (0 without `relationships`). */
  readonly relationships: number;
  readonly files: { readonly concept: string; readonly description: string; readonly language: string; readonly relationship?: string };
}

/** Level of the j-th concept of a tag: level L holds 3^L concepts (level 0: the tag's root). */
function levelStart(level: number): number {
  return (3 ** level - 1) / 2;
}

/**
 * The is-a parents (tag-local indices) of the j-th concept of a tag: a SNOMED CT-like DAG about a dozen levels deep
 * at 10^6 concepts, each level three times the one above; one parent on the level above, a second one there for a
 * quarter of the concepts, a third one two levels up for one in twenty.
 */
export function isaParents(j: number, rand: () => number): number[] {
  if (j === 0) return [];
  let level = 0;
  while (levelStart(level + 1) <= j) level++;
  const pick = (l: number): number => levelStart(l) + Math.floor(rand() * 3 ** l);
  const parents = new Set([pick(level - 1)]);
  if (rand() < 0.25) parents.add(pick(level - 1));
  if (level >= 2 && rand() < 0.05) parents.add(pick(level - 2));
  return [...parents];
}

/** Write an RF2 Snapshot release (SnomedCT_..._PRODUCTION layout) under `root`. */
export async function writeRf2Release(root: string, options: GeneratorOptions): Promise<Rf2Release> {
  const folder = join(root, `SnomedCT_SpanishSyntheticRF2_PRODUCTION_${RF2_EFFECTIVE_TIME}T120000Z`);
  const term = join(folder, "Snapshot", "Terminology");
  const lang = join(folder, "Snapshot", "Refset", "Language");
  mkdirSync(term, { recursive: true });
  mkdirSync(lang, { recursive: true });
  const files = {
    concept: join(term, `sct2_Concept_SpanishExtensionSnapshot_INT_${RF2_EFFECTIVE_TIME}.txt`),
    description: join(term, `sct2_Description_SpanishExtensionSnapshot-es_INT_${RF2_EFFECTIVE_TIME}.txt`),
    language: join(lang, `der2_cRefset_LanguageSpanishExtensionSnapshot-es_INT_${RF2_EFFECTIVE_TIME}.txt`),
    ...(options.relationships ? { relationship: join(term, `sct2_Relationship_SpanishExtensionSnapshot_INT_${RF2_EFFECTIVE_TIME}.txt`) } : {}),
  };
  const c = new LineWriter(files.concept, "\r\n");
  const d = new LineWriter(files.description, "\r\n");
  const l = new LineWriter(files.language, "\r\n");
  await c.line("id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId");
  await d.line("id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId");
  await l.line("id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\tacceptabilityId");
  const rand = mulberry32((options.seed ?? 7) + 101);
  const r = files.relationship === undefined ? undefined : new LineWriter(files.relationship, "\r\n");
  await r?.line("id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId\tcharacteristicTypeId\tmodifierId");
  const dagRand = mulberry32((options.seed ?? 7) + 202);
  const byTag = new Map<string, number[]>(); // tag -> global indices of its concepts, in order
  let relationships = 0;
  let descriptions = 0;
  let descItem = 1;
  for (const concept of generatedConcepts(options)) {
    const conceptId = sctid(concept.index + 1, "concept");
    await c.line(`${conceptId}\t${RF2_EFFECTIVE_TIME}\t1\t${MODULE}\t${PRIMITIVE}`);
    if (r !== undefined) {
      const members = byTag.get(concept.tag.tag) ?? [];
      byTag.set(concept.tag.tag, members);
      for (const p of isaParents(members.length, dagRand)) {
        const id = sctid(++relationships, "relationship");
        await r.line(`${id}\t${RF2_EFFECTIVE_TIME}\t1\t${MODULE}\t${conceptId}\t${sctid(members[p] + 1, "concept")}\t0\t116680003\t900000000000011006\t900000000000451002`);
      }
      members.push(concept.index);
    }
    for (const [k, text] of concept.names.entries()) {
      const id = sctid(descItem++, "description");
      const type = k === 0 ? "900000000000003001" : "900000000000013009";
      const shown = k === 0 ? `${text} (${concept.tag.tag})` : text;
      await d.line(`${id}\t${RF2_EFFECTIVE_TIME}\t1\t${MODULE}\t${conceptId}\tes\t${type}\t${shown}\t${CASE_INSENSITIVE}`);
      const acceptability = k <= 1 ? "900000000000548007" : "900000000000549004";
      await l.line(`${uuid(rand)}\t${RF2_EFFECTIVE_TIME}\t1\t${MODULE}\t${SPANISH_LANGUAGE_REFSET}\t${id}\t${acceptability}`);
      descriptions++;
    }
  }
  await Promise.all([c.close(), d.close(), l.close(), r?.close()]);
  return { folder, concepts: options.concepts, descriptions, relationships, files };
}

export interface RrfRelease {
  readonly folder: string;
  readonly mrconso: string;
  readonly mrsty: string;
  readonly semGroups: string;
  readonly atoms: number;
}

const cuiOf = (i: number): string => `C${String(i + 1).padStart(7, "0")}`;

/** Write MRCONSO.RRF, MRSTY.RRF (META layout) and SemGroups.txt: one Spanish SNOMED CT (SCTSPA) atom per name,
 * plus an English MeSH (MSH) atom for every fifth concept (a cross-reference). */
export async function writeRrfRelease(root: string, options: GeneratorOptions): Promise<RrfRelease> {
  const folder = join(root, "2025AA", "META");
  mkdirSync(folder, { recursive: true });
  const mrconso = join(folder, "MRCONSO.RRF");
  const mrsty = join(folder, "MRSTY.RRF");
  const semGroups = join(root, "SemGroups.txt");
  const conso = new LineWriter(mrconso, "\n");
  const sty = new LineWriter(mrsty, "\n");
  const groups = new LineWriter(semGroups, "\n");
  for (const t of GENERATED_TAGS) await groups.line(`${t.abbr}|${t.group}|${t.tui}|${t.type}`);
  let atoms = 0;
  let lui = 0;
  for (const concept of generatedConcepts(options)) {
    const cui = cuiOf(concept.index);
    const code = sctid(concept.index + 1, "concept");
    for (const [k, text] of concept.names.entries()) {
      atoms++;
      lui++;
      const tty = k === 0 ? "FN" : k === 1 ? "PT" : "SY";
      const ts = k === 1 ? "P" : "S";
      const stt = "PF";
      const ispref = k === 1 ? "Y" : "N";
      const str = k === 0 ? `${text} (${concept.tag.tag})` : text;
      const aui = `A${String(atoms).padStart(8, "0")}`;
      await conso.line(`${cui}|SPA|${ts}|L${String(lui).padStart(7, "0")}|${stt}|S${String(atoms).padStart(7, "0")}|${ispref}|${aui}||${code}||SCTSPA|${tty}|${code}|${str}|9|N|256|`);
    }
    if (concept.index % 5 === 0) {
      atoms++;
      await conso.line(`${cui}|ENG|P|L9${String(concept.index).padStart(7, "0")}|PF|S9${String(concept.index).padStart(7, "0")}|Y|A9${String(concept.index).padStart(8, "0")}||||MSH|MH|D${String(concept.index).padStart(6, "0")}|${concept.names[1]}|0|N|256|`);
    }
    await sty.line(`${cui}|${concept.tag.tui}|B2.2.1.2.1|${concept.tag.type}|AT${String(concept.index + 1).padStart(8, "0")}|256|`);
  }
  await Promise.all([conso.close(), sty.close(), groups.close()]);
  return { folder, mrconso, mrsty, semGroups, atoms };
}
