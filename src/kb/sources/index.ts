/** Every terminology reader, and one entry point that picks a reader by format name. */
import { SyncabelError } from "../../errors.js";
import { guessFormat } from "../gazetteer.js";
import { gazetteerSource } from "./gazetteer-source.js";
import { oboSource } from "./obo.js";
import type { OboOptions } from "./obo-common.js";
import { oboGraphSource } from "./obograph.js";
import { rf2Source, type Rf2Options } from "./rf2.js";
import { translationSource, type TranslationOptions } from "./translations.js";
import type { TermSource } from "./types.js";
import { umlsSource, type UmlsOptions } from "./umls.js";

export const SOURCE_FORMATS = ["tsv", "jsonl", "rf2", "umls", "obo", "obograph"] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

export interface SourceOptions {
  readonly rf2?: Rf2Options;
  readonly umls?: UmlsOptions;
  readonly obo?: OboOptions;
  /** Translation tables whose names are added to the concepts of the main sources. */
  readonly translations?: readonly string[];
  readonly translation?: TranslationOptions;
}

/**
 * The sources of one build: the main files in `format` (`undefined`: gazetteer, by extension), then the
 * translation tables. rf2 takes every path as one release (files and folders; editions merged); umls takes
 * MRCONSO.RRF paths (MRSTY and SemGroups in the options); the others take one source per file.
 */
export function openSources(format: SourceFormat | undefined, paths: readonly string[], options: SourceOptions = {}): TermSource[] {
  if (paths.length === 0) throw new SyncabelError("KB_INVALID_OPTIONS", "no terminology file given");
  const main: TermSource[] = (() => {
    switch (format) {
      case undefined:
        return paths.map((p) => gazetteerSource(p, guessFormat(p)));
      case "tsv":
      case "jsonl":
        return paths.map((p) => gazetteerSource(p, format));
      case "rf2":
        return [rf2Source(paths, options.rf2)];
      case "umls":
        return paths.map((p) => umlsSource(p, options.umls));
      case "obo":
        return paths.map((p) => oboSource(p, options.obo));
      case "obograph":
        return paths.map((p) => oboGraphSource(p, options.obo));
    }
  })();
  return [...main, ...(options.translations ?? []).map((p) => translationSource(p, options.translation))];
}

export { findRf2Files, rf2Source, semanticTag, DEFAULT_SEMANTIC_TAG_GROUPS, RF2, type Rf2Options } from "./rf2.js";
export { umlsSource, readSemGroups, MRCONSO_COLUMNS, MRSTY_COLUMNS, type UmlsOptions } from "./umls.js";
export { oboSource, readQuoted } from "./obo.js";
export { oboGraphSource, streamGraphNodes, curieOf } from "./obograph.js";
export { translationSource, DEFAULT_WRONG_PATTERN, type TranslationOptions } from "./translations.js";
export { DEFAULT_SCOPES, SYNONYM_SCOPES, parseScopes, type OboOptions, type SynonymScope } from "./obo-common.js";
export { readGroupMap, groupMapFrom, type GroupMap } from "./group-map.js";
export { gazetteerSource } from "./gazetteer-source.js";
export { readLines, readQuotedRecords } from "./lines.js";
export { parseXref, type ProgressSink, type SourceItem, type SourceRow, type TermSource, type Xref } from "./types.js";
