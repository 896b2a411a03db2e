export type { ConceptCard, KbEntry, KbStats, KnowledgeBase } from "./types.js";
export { buildKnowledgeBase, MAX_SKIPPED_REPORTED, type BuildOptions, type BuildReport, type SkippedRow } from "./build.js";
export { openKnowledgeBase, SqliteKnowledgeBase } from "./sqlite-kb.js";
export { chooseReportedCode, codeOrder, sortCodes } from "./disambiguate.js";
export { readGazetteer, guessFormat, type GazetteerFormat, type GazetteerRow, type GazetteerItem } from "./gazetteer.js";
export { KB_SCHEMA_VERSION } from "./schema.js";
