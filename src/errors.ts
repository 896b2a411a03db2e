/**
 * The one catalogue of syncabel errors. Every error the library throws (or returns for one item of a
 * batch) is a SyncabelError with a stable `code`, so callers and the HTTP wire format can branch on it.
 * Add new codes here, grouped by area, with a one-line reason.
 */
export const ERROR_CODES = {
  // markup: a marked sentence `[mention]{GROUP}`
  MARKUP_NO_BRACKETS: "the sentence has no [mention] bracket",
  MARKUP_NO_GROUP: "no {GROUP} follows the last closing bracket",
  MARKUP_UNBALANCED: "brackets are unbalanced",
  MARKUP_NESTED: "brackets are nested",
  MARKUP_EMPTY_MENTION: "the bracketed mention is empty",
  MARKUP_MULTIPLE_MENTIONS: "more than one mention is marked in the sentence",
  MARKUP_UNKNOWN_GROUP: "the group is not a group of the knowledge base",
  MARKUP_BAD_OFFSETS: "mention offsets do not fit the text",
  SENTENCE_TOO_LONG: "the sentence's prompt has more tokens than the linker accepts",
  // knowledge base
  KB_FILE_INVALID: "the terminology file cannot be read",
  KB_ROW_INVALID: "a terminology row is missing a field",
  KB_INDEX_INVALID: "the knowledge-base index file is missing, corrupt or of another version",
  KB_EMPTY: "the knowledge base has no names",
  KB_INVALID_OPTIONS: "knowledge-base options are invalid (sources of a build, relation kinds)",
  KB_UNKNOWN_VOCABULARY: "the knowledge base has no cross-references to the vocabulary asked for",
  KB_NO_RELATIONS: "the knowledge-base index holds no relations of the kind asked",
  // token tries
  TRIE_INVALID: "serialised trie bytes are corrupt or of another version",
  TRIE_BUILD_FAILED: "the names of a group cannot be placed in one token trie",
  // models and tokenizers
  MODEL_FILE_MISSING: "a file of the model folder is missing",
  MODEL_CONFIG_INVALID: "the model configuration is invalid or unsupported",
  MODEL_RUNTIME: "the model runtime failed",
  TOKENIZER_INVALID: "the tokenizer files are invalid",
  CONVERT_OUTPUT_INVALID: "the conversion's output folder exists already or overlaps its input",
  CONVERT_INTERRUPTED: "the conversion was interrupted; nothing was written",
  // decoding and linking
  DECODE_INVALID_OPTIONS: "decoding options are invalid",
  LINKER_INVALID_OPTIONS: "linker options are invalid",
  LINKER_WORKER_FAILED: "a linker worker thread could not start or stopped unexpectedly",
  INTERRUPTED: "the work was stopped by a signal (Ctrl-C, SIGTERM) or a cancelled request",
  RUN_OPTIONS_MISMATCH: "an output being resumed was written with other options",
  MERGE_INVALID_INPUT: "the shard outputs to merge are incomplete, repeated or inconsistent, or the output would overwrite an input",
  DATA_INVALID_SHARD: "a shard is not K/N with 0 <= K < N",
  // datasets
  DATA_FILE_MISSING: "a dataset file is missing",
  DATA_BAD_COLUMNS: "a dataset file has missing or unexpected columns",
  DATA_BAD_ROW: "a dataset row is malformed",
  DATA_OFFSET_MISMATCH: "a mention's offsets do not match the document text",
  DATA_UNKNOWN_FORMAT: "the dataset format is not one of the formats read",
  // evaluation
  EVAL_INVALID_INPUT: "evaluation input is invalid",
  EVAL_INVALID_OPTIONS: "evaluation options are invalid",
  // synthetic data and fine-tuning data
  SYNTH_ENDPOINT: "the LLM endpoint failed",
  SYNTH_TIMEOUT: "the LLM endpoint did not answer in time",
  SYNTH_BAD_REPLY: "the LLM reply could not be parsed into enough valid lines",
  SYNTH_PROMPT_MISSING: "a prompt template file is missing",
  TRAIN_INVALID_INPUT: "fine-tuning data input is invalid",
  TRAIN_INVALID_OPTIONS: "fine-tuning data options are invalid",
  SYNTH_INVALID_OPTIONS: "synthetic-data options are invalid",
  // LLM-as-judge
  JUDGE_PROMPT_INVALID: "the judge's prompt file is missing or malformed",
  JUDGE_BAD_REPLY: "the judge's reply is not a JSON verdict with a known label",
  JUDGE_INVALID_INPUT: "the judge's gold or predictions input is invalid",
  JUDGE_INVALID_OPTIONS: "the judge's options are invalid",
  // server and CLI
  REQUEST_INVALID: "the request is malformed",
  REQUEST_TOO_LARGE: "the request exceeds a size or batch limit",
  SERVER_BUSY: "too many requests in flight",
  SERVER_NOT_READY: "the server is loading its knowledge base and model, or shutting down",
  REQUEST_TIMEOUT: "the request body did not arrive in time",
  REQUEST_UNAUTHORIZED: "the request lacks the bearer token the server requires",
  REQUEST_HOST_NOT_ALLOWED: "the request's Host names neither this server nor an allowed host (DNS-rebinding guard)",
  NOT_FOUND: "the requested endpoint or resource does not exist",
  SERVER_INVALID_OPTIONS: "server options are invalid",
  CLI_USAGE: "the command line is invalid",
  IO_ERROR: "a file could not be read or written",
  INTERNAL: "an unexpected internal error (a bug: please report it)",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Extra, machine-readable facts about an error: which file, line, sentence, etc. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** A SyncabelError as plain JSON: a per-item error in batch results and on the wire. */
export interface ErrorJson {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: ErrorDetails;
}

export class SyncabelError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SyncabelError";
    this.code = code;
    this.details = details;
  }

  /** Plain JSON form, used for per-item errors in batch results and on the wire. */
  toJSON(): ErrorJson {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isSyncabelError(e: unknown): e is SyncabelError {
  return e instanceof SyncabelError;
}

/** Wrap anything thrown into a SyncabelError (keeping the original as cause). */
export function asSyncabelError(e: unknown, fallback: ErrorCode = "IO_ERROR"): SyncabelError {
  if (e instanceof SyncabelError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new SyncabelError(fallback, message, {}, { cause: e });
}
