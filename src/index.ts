/**
 * syncabel: biomedical entity linking with generative language models (SynCABEL) in Node.js.
 * The public API, grouped by role; examples/library.ts walks through it. Test tooling (random models, reference
 * forwards) is `syncabel/testing`.
 */

// ---- Errors: every error is a SyncabelError with a stable code ----------------------------------------------
export { SyncabelError, ERROR_CODES, isSyncabelError, type ErrorCode, type ErrorDetails, type ErrorJson } from "./errors.js";

// ---- Open a linker and link mentions ------------------------------------------------------------------------
export { openLinker, Linker, defaultLinkerKind, type OpenLinkerOptions } from "./linker/open.js";
export {
  NO_CODE,
  LINKER_KINDS,
  linkOptionsOf,
  type Beam,
  type LinkerKind,
  type LinkOptions,
  type LinkResult,
  type MentionQuery,
  type SampleOptions,
  type SampleResult,
  type SentenceError,
} from "./linker/types.js";
export { SEP_TOKEN } from "./constants.js";
// The mention model: a document's mentions as linker input (link-docs, the server and the page build them so).
export { documentQueries, queryOfSentence, mentionContext, type DocumentMentionQuery, type DocumentQueryOptions } from "./data/mention-queries.js";
// Document level: in memory (one document, or a stream of them) and the resumable prediction-file writer.
export { linkDocument, linkDataset, type LinkDatasetOptions, type LinkedDocument, type LinkedMention } from "./linker/link-dataset.js";
export { linkDocuments, type LinkDocumentsOptions, type LinkDocumentsResult, type PredictionFormat } from "./linker/link-documents.js";
export { mergePredictions, type MergeResult } from "./linker/merge-predictions.js";
// The linkers, for building one from parts.
export { GenerativeLinker, DEFAULT_MAX_PROMPT_TOKENS, type GenerativeLinkerParts } from "./linker/generative-linker.js";
export { TfidfLinker } from "./linker/tfidf-linker.js";
export { HybridLinker, type HybridCandidate } from "./linker/hybrid-linker.js";
export type { HybridQuery } from "./linker/hybrid-features.js";
export {
  RetrieveGenerateLinker,
  lexicalRetriever,
  hybridRetriever,
  type CandidateRetriever,
  type RetrievedCandidate,
  type RetrieveGenerateParts,
  type RetrieveGenerateMode,
} from "./linker/retrieve-generate.js";
export { WorkerPoolLinker, defaultLinkerWorkers, type WorkerPoolOptions, type PooledLinkerKind } from "./linker/worker-pool-linker.js";
// Calibrated confidence and abstention (a linker wrapped with its stored calibration).
export { Calibrator, fitCalibration, type CalibrationJson, type CalibrationSample } from "./linker/calibration.js";
export { CalibratedLinker, withCalibration, readCalibration, storeCalibration } from "./linker/calibrated-linker.js";
export { calibrateLinker, type CalibrateOptions, type CalibrateReport } from "./linker/calibrate.js";

// ---- Marked sentences and prompts (conventions, sections 1-2) -----------------------------------------------
export { parseMarkedSentence, markSentence, type MarkedSentence, type Span, type ParseOptions } from "./markup/marked-sentence.js";
export { buildMarkedSentence, SegmentationCache, type BuiltSentence, type BuildOptions as SentenceBuildOptions, type SentenceSource, type MentionOffsets } from "./markup/sentence-builder.js";
export { cleanText } from "./markup/clean.js";
export { buildPrompt, buildCompletionText, verbFor, isPromptLanguage, VERB_BY_LANGUAGE, type PromptLanguage } from "./markup/prompt.js";

// ---- Datasets and prediction files --------------------------------------------------------------------------
export { readDataset, readDatasets, type ReadDatasetOptions } from "./data/read-dataset.js";
export { parseShard, shardOfId, selectShard, type Shard } from "./data/shard.js";
export { DATASET_FORMATS, fragmentsText, type Dataset, type DatasetFormat, type Document, type Mention, type ReadOptions, type ReadProblem } from "./data/types.js";
export { readPredictions } from "./data/predictions-jsonl.js";
export type { PredictionRow, PredictionsFile, PredictionsProblem } from "./data/predictions-tsv.js";

// ---- Knowledge bases: build from terminology releases, open --------------------------------------------------
export { buildKnowledgeBase, type BuildOptions, type BuildReport, type SkippedRow, type SkipReason } from "./kb/build.js";
export { openKnowledgeBase } from "./kb/sqlite-kb.js";
export type { ConceptCard, KbEntry, KbStats, KnowledgeBase } from "./kb/types.js";
export {
  openSources,
  rf2Source,
  umlsSource,
  oboSource,
  oboGraphSource,
  translationSource,
  gazetteerSource,
  readGroupMap,
  SOURCE_FORMATS,
  type SourceFormat,
  type SourceOptions,
  type TermSource,
  type SourceItem,
  type SourceRow,
  type Xref,
  type Rf2Options,
  type UmlsOptions,
  type OboOptions,
  type TranslationOptions,
} from "./kb/sources/index.js";
export { openXrefMap, XrefMap, mapForEvaluation } from "./kb/xrefs.js";
export { KB_SCHEMA_VERSION } from "./kb/schema.js";
export { Hierarchy, openHierarchy, readRelationCounts, type Ancestor, type PairRelation, type RelationCounts, type ClosureStats, type HierarchyOptions } from "./kb/relations.js";
export type { RelationsReport } from "./kb/relations-build.js";
export { RELATION_KINDS, type RelationKind, type SourceRelation } from "./kb/sources/types.js";

// ---- Training: the hybrid linker's memory and reranker, synthetic sentences, fine-tuning data ----------------
export { trainLinker, type TrainLinkerOptions, type TrainLinkerReport, type TrainingFile } from "./linker/train-linker.js";
export { addTrainingMentions, readTrainingMentions, type MentionsReport, type TrainingMention } from "./kb/mentions.js";
export { fitRetrieverWeight, fitRetrieveGenerateWeight, type WeightFitExample, type WeightFit, type TrainingSentence } from "./linker/retrieve-generate-fit.js";
export { runSynth, type SynthRunOptions, type SynthSummary, type ConceptJob } from "./synth/run.js";
export { selectConcepts, type ConceptSelection } from "./synth/select-concepts.js";
export { HttpChatGenerator, type HttpGeneratorOptions } from "./synth/http-generator.js";
export { loadLocalGenerator } from "./synth/load-local-generator.js";
export { buildSftData, type SftDataOptions, type SftData, type SftDataStats } from "./train/build-sft-data.js";

// ---- Evaluation (conventions, section 8) ----------------------------------------------------------------------
export { evaluate, goldRank, mentionKey, DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED } from "./eval/evaluate.js";
export type { EvalOptions, EvalReport, GoldMention, Prediction, ScoreRow } from "./eval/types.js";
export { canonicalCode, codeSet, hasNoCode, COMPOSITE_SEPARATOR } from "./eval/codes.js";
export { codesOfDataset, goldFromDataset, goldWithPredictionCodes, predictionsFromRows } from "./eval/adapters.js";
export { renderMarkdown } from "./eval/report-markdown.js";
export { renderRecallPlot, type ReferenceLine } from "./eval/plot-svg.js";
export { expectedCalibrationError, reliabilityBins, selectiveAccuracy, coverageAtAccuracy, brierScore, type ConfidencePoint } from "./eval/calibration-metrics.js";
export { calibrationReport, renderCalibrationMarkdown, renderCalibrationSvg } from "./eval/calibration-report.js";
export { compareCodes } from "./eval/codes.js";
export { GRADES, DEFAULT_RELATED_DISTANCE, gradeMentions, gradePair, type Grade, type GradeOptions, type GradeReport, type GradedMention, type HierarchyLookup } from "./eval/hierarchy-grades.js";
export { JUDGMENT_LABELS, DEFAULT_JUDGMENT_COLUMN, parseJudgments, readJudgments, judgmentReport, agreement, cohenKappa, type Agreement, type JudgmentLabel, type JudgmentReport, type JudgmentRow, type JudgmentsFile } from "./eval/judgments.js";
export { labelTable, type LabelRow, type LabelTable } from "./eval/label-tally.js";
export { renderGradesMarkdown, renderJudgmentsMarkdown, renderAgreementMarkdown } from "./eval/report-labels.js";
export { renderLabelPlot } from "./eval/plot-labels.js";
// LLM-as-judge of predictions.
export * from "./judge/index.js";

// ---- Models: conversion of Hugging Face checkpoints, the ONNX runtime, decoding --------------------------------
export { convertCheckpoint, CONVERT_DTYPES, type ConvertDtype, type ConvertOptions, type ConvertProgress, type ConvertResult } from "./convert/convert.js";
export { openLlamaCheckpoint, type LlamaCheckpoint } from "./convert/checkpoint.js";
export { openSeq2SeqCheckpoint, type Seq2SeqCheckpoint } from "./convert/mbart-checkpoint.js";
export { loadOnnxCausalLM, OnnxCausalLM, type OnnxModelOptions } from "./lm/onnx-lm.js";
// Encoder-decoder checkpoints (mBART, BART; docs/seq2seq.md).
export { loadOnnxSeq2SeqLM, OnnxSeq2SeqLM } from "./lm/onnx-seq2seq-lm.js";
export { isModelDtype, type ModelDtype } from "./lm/model-file.js";
export { loadTokenizer, HfTokenizer, type ChatMessage } from "./lm/tokenizer.js";
export type { CausalLM, DecodeState, NextTokenLogProbs, StepResult, TextTokenizer } from "./lm/types.js";
export { beamSearch, type BeamSearchInput, type BeamSearchOptions, type BeamSearchOutput, type EarlyStopping, type Hypothesis } from "./decode/beam-search.js";
// Constraints as units (conventions, section 4): the KB trie, <SEP> between answers, end of sequence.
export { trieConstraint, TrieConstraint, MultipleAnswers, EndOfSequence, type TokenConstraint } from "./decode/token-constraints.js";
export { scoreCandidates, scoreTopCandidates, type CandidateScoringInput, type CandidateScoringOptions, type CandidateScore, type RankedCandidate } from "./decode/candidate-scoring.js";
export { TokenTrie } from "./trie/token-trie.js";
export { loadOrBuildKbTries, type KbTriesOptions } from "./trie/kb-tries.js";
export { LexicalIndex, type LexicalCandidate, type LexicalEntry } from "./lexical/lexical-index.js";
export { TfidfCharVectorizer, type TfidfFitOptions } from "./lexical/tfidf-vectorizer.js";

// ---- HTTP service (the CLI's `serve`, the web page's API) -------------------------------------------------------
export { createLinkServer, startLinkServer, closeLinkServer, type LinkServer, type ServerOptions } from "./server/link-server.js";
export { Replica, listenWhileLoading, type ReplicaPhase } from "./server/replica.js";
