export type { ConceptCard, KbEntry, KbStats, KnowledgeBase } from "./types.js";
export { buildKnowledgeBase, MAX_SKIPPED_REPORTED, type BuildOptions, type BuildReport, type SkippedRow, type SkipReason } from "./build.js";
export { openSources, rf2Source, umlsSource, oboSource, oboGraphSource, translationSource, gazetteerSource, readGroupMap, SOURCE_FORMATS, type SourceFormat, type SourceOptions, type TermSource, type SourceItem, type SourceRow, type Xref } from "./sources/index.js";
export { openXrefMap, XrefMap, mapForEvaluation } from "./xrefs.js";
export { openKnowledgeBase, SqliteKnowledgeBase } from "./sqlite-kb.js";
export { chooseReportedCode, codeOrder, sortCodes } from "./disambiguate.js";
export { readGazetteer, guessFormat, type GazetteerFormat, type GazetteerRow, type GazetteerItem } from "./gazetteer.js";
export { KB_SCHEMA_VERSION } from "./schema.js";
