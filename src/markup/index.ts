export { cleanText } from "./clean.js";
export { parseMarkedSentence, markSentence, type MarkedSentence, type Span, type ParseOptions } from "./marked-sentence.js";
export { buildPrompt, buildCompletionText, verbFor, SEP_TOKEN, VERB_BY_LANGUAGE } from "./prompt.js";
