/**
 * The one document model every dataset reader produces and every writer consumes.
 *
 * Gold codes: `codes` lists the gold codes of a mention; a composite mention (SPACCC `a+b`, PubTator
 * `a|b`) has several. A mention without a gold code (SPACCC `NO_CODE`, PubTator `-1`, BRAT entity
 * without a normalisation note) has `codes: []`; writers print `NO_CODE` for it.
 */
import type { ErrorCode } from "../errors.js";
import type { Span } from "../markup/marked-sentence.js";

export type { Span };

export interface Mention {
  /** Unique inside its document (the BRAT `T` id, the row number for TSV/PubTator). */
  readonly id: string;
  /** The entity label / semantic group, used as `{GROUP}` in the marked sentence. */
  readonly label: string;
  /** [start, end) character offsets (UTF-16) into the document text, sorted; several if discontinuous. */
  readonly fragments: readonly Span[];
  /** The mention text as it stands in the document: fragments joined by one space. */
  readonly text: string;
  /** Gold codes; [] when the mention has none (see the module comment). */
  readonly codes: readonly string[];
  /** SPACCC `semantic_rel` (EXACT, NARROW, COMPOSITE, ...), when the format has it. */
  readonly semanticRel?: string;
  /** Where the mention came from, for messages: "file:line". */
  readonly source?: string;
}

export interface Document {
  readonly id: string;
  readonly text: string;
  /** Mentions in file order. */
  readonly mentions: readonly Mention[];
  /** BCP 47 language of the text when the reader knows it (e.g. "es", "en"). */
  readonly language?: string;
}

/** One thing wrong in an input file. Errors drop the item they name; warnings keep it. */
export interface ReadProblem {
  readonly severity: "error" | "warning";
  readonly code: ErrorCode;
  readonly file: string;
  /** 1-based line, when the problem is on a line. */
  readonly line?: number;
  readonly document?: string;
  readonly message: string;
}

export interface Dataset {
  readonly format: DatasetFormat;
  /** Documents in first-appearance order. */
  readonly documents: readonly Document[];
  /** Everything skipped or repaired while reading (empty for a clean file). */
  readonly problems: readonly ReadProblem[];
}

export type DatasetFormat = "spaccc" | "pubtator" | "brat" | "bigbio";

export const DATASET_FORMATS: readonly DatasetFormat[] = ["spaccc", "pubtator", "brat", "bigbio"];

export interface ReadOptions {
  /** Throw the first error-severity problem instead of collecting it (default false). */
  readonly strict?: boolean;
  /** SPACCC: the folder of `<filename>.txt` texts (default: `texts/` beside the TSV). */
  readonly textsDir?: string;
  /** Language recorded on every document (default per format: spaccc "es", pubtator "en"). */
  readonly language?: string;
}

/** The mention text of some fragments of a text: fragments joined by one space. */
export function fragmentsText(text: string, fragments: readonly Span[]): string {
  return fragments.map((f) => text.slice(f.start, f.end)).join(" ");
}
