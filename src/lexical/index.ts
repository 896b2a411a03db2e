export { charWbNgrams } from "./char-ngrams.js";
export { sparseCosine, sparseDot, sparseNorm, type SparseVector } from "./sparse.js";
export { TfidfCharVectorizer, type TfidfFitOptions } from "./tfidf-vectorizer.js";
export { TfidfIndex, type ScoredRow } from "./tfidf-index.js";
export { LexicalIndex, type LexicalCandidate, type LexicalEntry } from "./lexical-index.js";
