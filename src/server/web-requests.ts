/**
 * Parsing and checking of the web page's JSON request bodies (untrusted): every field is type-checked, offsets are
 * integers, sizes are bounded by the caller's limits.
 */
import { checkFragments } from "../data/offsets.js";
import { SyncabelError } from "../errors.js";
import type { DecodeOptions } from "./batcher.js";
import { REVIEW_STATES, type ExportDocument, type ExportFormat, type ExportMention, type ReviewState } from "./annotation-export.js";
import type { Beam } from "../linker/types.js";

type Obj = Record<string, unknown>;

function invalid(message: string, field?: string): SyncabelError {
  return new SyncabelError("REQUEST_INVALID", message, field === undefined ? {} : { field });
}

export function parseJsonObject(raw: Buffer): Obj {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (e) {
    throw invalid(`the body is not valid UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObj(body)) throw invalid("the body must be a JSON object");
  return body;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(o: Obj, field: string, where: string, optional = false): string | undefined {
  const v = o[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== "string") throw invalid(`${where}.${field} must be a string`, field);
  return v;
}

function arr(o: Obj, field: string, where: string, max: number): unknown[] {
  const v = o[field];
  if (!Array.isArray(v)) throw invalid(`${where}.${field} must be an array`, field);
  if (v.length > max) throw new SyncabelError("REQUEST_TOO_LARGE", `${where}.${field} has ${v.length} items, the server allows at most ${max}`, { field, max });
  return v;
}

function obj(v: unknown, where: string): Obj {
  if (!isObj(v)) throw invalid(`${where} must be an object`);
  return v;
}

function offset(v: unknown, where: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw invalid(`${where} must be a non-negative integer`);
  return v;
}

/** `[{start, end}]` or `[[start, end]]`, each start < end. */
function fragments(v: unknown, where: string): { start: number; end: number }[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 64) throw invalid(`${where}.fragments must be a non-empty array of spans`);
  return v.map((f, i) => {
    const [s, e] = Array.isArray(f) ? f : [obj(f, `${where}.fragments[${i}]`).start, (f as Obj).end];
    const start = offset(s, `${where}.fragments[${i}].start`);
    const end = offset(e, `${where}.fragments[${i}].end`);
    if (end <= start) throw invalid(`${where}.fragments[${i}] ends before it starts`);
    return { start, end };
  });
}

export const DOCUMENT_FORMATS = ["txt", "brat", "pubtator", "bigbio"] as const;
export type DocumentFormat = (typeof DOCUMENT_FORMATS)[number];

export interface UploadedFile {
  readonly name: string;
  readonly content: string;
}

/** POST /v1/documents: `{format, files: [{name, content}]}`. */
export function parseDocumentsRequest(body: Obj): { format: DocumentFormat; files: UploadedFile[] } {
  const format = str(body, "format", "body") as DocumentFormat;
  if (!DOCUMENT_FORMATS.includes(format)) throw invalid(`body.format must be one of ${DOCUMENT_FORMATS.join(", ")}, got ${JSON.stringify(format).slice(0, 40)}`, "format");
  const files = arr(body, "files", "body", 64).map((f, i) => {
    const o = obj(f, `files[${i}]`);
    const name = (str(o, "name", `files[${i}]`) as string).split(/[\\/]/).pop() ?? "";
    if (!/^[\w.() -]{1,200}$/u.test(name) || name.startsWith(".")) throw invalid(`files[${i}].name ${JSON.stringify(name).slice(0, 60)} is not a plain file name`, "name");
    return { name, content: str(o, "content", `files[${i}]`) as string };
  });
  if (files.length === 0) throw invalid("body.files is empty", "files");
  return { format, files };
}

export interface LinkDocumentRequest {
  readonly document: { readonly id: string; readonly text: string; readonly language?: string };
  /** Every mention of the document: the document context of the ones linked. */
  readonly mentions: readonly { readonly id: string; readonly label: string; readonly fragments: readonly { start: number; end: number }[] }[];
  /** Indices into `mentions` of the mentions to link, in answer order. */
  readonly link: readonly number[];
  readonly options: DecodeOptions;
}

function decodeOptions(body: Obj): DecodeOptions {
  const out: { num_beams?: number; constrained?: boolean; max_new_tokens?: number } = {};
  for (const field of ["num_beams", "max_new_tokens"] as const) {
    const v = body[field];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw invalid(`"${field}" must be a positive integer`, field);
    out[field] = v;
  }
  if (body.constrained !== undefined) {
    if (typeof body.constrained !== "boolean") throw invalid('"constrained" must be true or false', "constrained");
    out.constrained = body.constrained;
  }
  return out;
}

/**
 * POST /v1/link-document: `{document: {id, text, language?}, mentions: [{id, label, fragments}], link?: [id],
 * num_beams?, ...}`. `mentions` are all the document's mentions (at most `maxMentions`); `link` names those to link
 * (at most `maxLinked`; default all of them), so a client may link a long document in parts with the same context.
 */
export function parseLinkDocumentRequest(body: Obj, maxLinked: number, maxMentions = maxLinked): LinkDocumentRequest {
  const d = obj(body.document, "document");
  const language = str(d, "language", "document", true);
  const document = { id: str(d, "id", "document") as string, text: str(d, "text", "document") as string, ...(language === undefined ? {} : { language }) };
  const mentions = arr(body, "mentions", "body", maxMentions).map((m, i) => {
    const o = obj(m, `mentions[${i}]`);
    return { id: str(o, "id", `mentions[${i}]`) as string, label: str(o, "label", `mentions[${i}]`) as string, fragments: fragments(o.fragments, `mentions[${i}]`) };
  });
  return { document, mentions, link: linkedIndices(body, mentions, maxLinked), options: decodeOptions(body) };
}

/** The indices of the mentions `body.link` names (every mention when it is absent). */
function linkedIndices(body: Obj, mentions: readonly { readonly id: string }[], maxLinked: number): number[] {
  if (body.link === undefined) {
    if (mentions.length > maxLinked) {
      throw new SyncabelError("REQUEST_TOO_LARGE", `body.mentions has ${mentions.length} items, the server links at most ${maxLinked} per request: name the ones to link in body.link`, { field: "mentions", max: maxLinked });
    }
    return mentions.map((_, i) => i);
  }
  const byId = new Map<string, number>();
  const duplicated = new Set<string>();
  mentions.forEach((m, i) => (byId.has(m.id) ? duplicated.add(m.id) : byId.set(m.id, i)));
  return arr(body, "link", "body", maxLinked).map((id, i) => {
    if (typeof id !== "string") throw invalid(`link[${i}] must be a mention id (a string)`, "link");
    const at = byId.get(id);
    if (at === undefined) throw invalid(`link[${i}] ${JSON.stringify(id).slice(0, 60)} is not the id of a mention of body.mentions`, "link");
    if (duplicated.has(id)) throw invalid(`link[${i}] ${JSON.stringify(id).slice(0, 60)} names several mentions: mention ids must be unique`, "link");
    return at;
  });
}

function beams(v: unknown): Beam[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.filter(isObj).map((b) => ({
    mention: String(b.mention ?? ""),
    semantic_group: String(b.semantic_group ?? ""),
    pred_concept_name: String(b.pred_concept_name ?? ""),
    pred_concept_code: String(b.pred_concept_code ?? ""),
    beam_score: typeof b.beam_score === "number" && Number.isFinite(b.beam_score) ? b.beam_score : 0,
    pred_concept_codes: Array.isArray(b.pred_concept_codes) ? b.pred_concept_codes.filter((c): c is string => typeof c === "string") : [],
  }));
}

/**
 * POST /v1/export: `{format, all?, document: {id, text, mentions: [{id, label, fragments, review?, code?, name?,
 * suggested_code?, confidence?, beams?, sentence?}]}}`.
 */
export function parseExportRequest(body: Obj, maxMentions: number): { format: ExportFormat; document: ExportDocument; all: boolean } {
  const format = str(body, "format", "body") as ExportFormat;
  if (!["jsonl", "brat", "pubtator"].includes(format)) throw invalid(`body.format must be jsonl, brat or pubtator`, "format");
  const d = obj(body.document, "document");
  const text = str(d, "text", "document") as string;
  const mentions = arr(d, "mentions", "document", maxMentions).map((m, i): ExportMention => {
    const where = `mentions[${i}]`;
    const o = obj(m, where);
    const frags = fragments(o.fragments, where);
    const check = checkFragments(text, frags, undefined); // every fragment inside the text, in order, not overlapping
    if (!check.ok) throw invalid(`${where}: ${check.reason}`);
    const code = str(o, "code", where, true);
    const name = str(o, "name", where, true);
    const sentence = str(o, "sentence", where, true);
    const b = beams(o.beams);
    const review = str(o, "review", where, true);
    if (review !== undefined && !(REVIEW_STATES as readonly string[]).includes(review)) throw invalid(`${where}.review must be one of ${REVIEW_STATES.join(", ")}`, "review");
    const suggested = str(o, "suggested_code", where, true);
    const confidence = o.confidence;
    if (confidence !== undefined && (typeof confidence !== "number" || !(confidence >= 0 && confidence <= 1))) throw invalid(`${where}.confidence must be a number in [0, 1]`, "confidence");
    return {
      ...(review === undefined ? {} : { review: review as ReviewState }),
      ...(suggested === undefined ? {} : { suggested_code: suggested }),
      ...(confidence === undefined ? {} : { confidence }),
      id: str(o, "id", where) as string,
      label: str(o, "label", where) as string,
      fragments: frags,
      ...(code === undefined ? {} : { code }),
      ...(name === undefined ? {} : { name }),
      ...(sentence === undefined ? {} : { sentence }),
      ...(b === undefined ? {} : { beams: b }),
    };
  });
  if (body.all !== undefined && typeof body.all !== "boolean") throw invalid('"all" must be true or false', "all");
  return { format, document: { id: str(d, "id", "document") as string, text, mentions }, all: body.all === true };
}
