export { createLinkServer, startLinkServer, closeLinkServer, isLoopbackHost, type LinkServer, type ServerOptions } from "./link-server.js";
export type { LinkRequest, LinkRequestLimits } from "./link-request.js";
export { SentenceBatcher, type BatcherOptions, type DecodeOptions } from "./batcher.js";
export { DictionaryMatcher, type DictionaryMatch } from "./dictionary-matcher.js";
export { exportDocument, type ExportDocument, type ExportFormat, type ExportMention } from "./annotation-export.js";
