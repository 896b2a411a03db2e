/**
 * The endpoints behind the web page: read uploaded dataset files with the project's readers, link every mention of
 * a document (marked sentences built as link-docs builds them), suggest mentions from the KB's names, show a
 * concept's names, and export the reviewed document.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDataset } from "../data/read-dataset.js";
import type { Document, ReadProblem } from "../data/types.js";
import { asSyncabelError, SyncabelError } from "../errors.js";
import type { KnowledgeBase } from "../kb/types.js";
import type { Beam, SampleResult, SentenceError } from "../linker/types.js";
import { buildMarkedSentence, SegmentationCache } from "../markup/sentence-builder.js";
import type { DecodeOptions } from "./batcher.js";
import { DictionaryMatcher, type DictionaryMatch } from "./dictionary-matcher.js";
import type { DocumentFormat, LinkDocumentRequest, UploadedFile } from "./web-requests.js";

/** Reads uploaded files in one of the supported formats into documents (via a private temp folder). */
export async function readUploadedDocuments(format: DocumentFormat, files: readonly UploadedFile[]): Promise<{ documents: Document[]; problems: ReadProblem[] }> {
  if (format === "txt") {
    return { documents: files.map((f) => ({ id: f.name.replace(/\.[^.]*$/, "") || "document", text: f.content, mentions: [] })), problems: [] };
  }
  const dir = await mkdtemp(join(tmpdir(), "syncabel-upload-"));
  try {
    for (const f of files) await writeFile(join(dir, f.name), f.content, { flag: "wx" });
    if (format === "brat" && !files.some((f) => f.name.endsWith(".ann"))) throw new SyncabelError("REQUEST_INVALID", "a BRAT document needs its .ann file beside its .txt file");
    // BRAT reads the folder (pairs); the other formats are one file each.
    const paths = format === "brat" ? [dir] : files.map((f) => join(dir, f.name));
    const documents: Document[] = [];
    const problems: ReadProblem[] = [];
    for (const p of paths) {
      const dataset = await readDataset(p, { format });
      documents.push(...dataset.documents);
      // Problems name the temp folder: show only the file name.
      problems.push(...dataset.problems.map((q) => ({ ...q, file: q.file.slice(dir.length + 1) })));
    }
    return { documents, problems };
  } catch (e) {
    // Messages name the private temp folder: keep the file names only.
    const err = asSyncabelError(e, "REQUEST_INVALID");
    throw new SyncabelError(err.code, err.message.split(`${dir}/`).join(""));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface MentionResult {
  readonly mention_id: string;
  readonly sentence?: string;
  readonly beams?: readonly Beam[];
  readonly error?: SentenceError;
  /** A calibrated linker's confidence, answer and abstention (src/linker/calibrated-linker.ts). */
  readonly confidence?: number;
  readonly code?: string;
  readonly abstained?: true;
}

/** Marked sentences of a document's mentions; a mention whose offsets do not fit gets its own error. */
export function markedSentencesOf(request: LinkDocumentRequest): { sentences: (string | undefined)[]; errors: (SentenceError | undefined)[] } {
  const cache = new SegmentationCache(1);
  const sentences: (string | undefined)[] = [];
  const errors: (SentenceError | undefined)[] = [];
  for (const m of request.mentions) {
    try {
      sentences.push(buildMarkedSentence(request.document, m, { cache }).sentence);
      errors.push(undefined);
    } catch (e) {
      sentences.push(undefined);
      errors.push(asSyncabelError(e, "MARKUP_BAD_OFFSETS").toJSON());
    }
  }
  return { sentences, errors };
}

/** Links every mention of a document with `link` (the server's batcher), results in mention order. */
export async function linkDocumentMentions(
  request: LinkDocumentRequest,
  link: (sentences: string[], options: DecodeOptions) => Promise<SampleResult[]>,
): Promise<MentionResult[]> {
  const { sentences, errors } = markedSentencesOf(request);
  const built = sentences.flatMap((s, i) => (s === undefined ? [] : [i]));
  const linked = await link(
    built.map((i) => sentences[i] as string),
    request.options,
  );
  const results: MentionResult[] = request.mentions.map((m, i) => ({ mention_id: m.id, error: errors[i] }));
  built.forEach((i, k) => {
    const r = linked[k];
    results[i] = { mention_id: request.mentions[i].id, sentence: r.sentence, ...(r.error === undefined ? { beams: r.beams, ...calibratedFields(r) } : { error: r.error }) };
  });
  return results;
}

/** The calibration fields of a result, when its linker is calibrated. */
function calibratedFields(r: SampleResult): Pick<MentionResult, "confidence" | "code" | "abstained"> {
  if (r.error !== undefined) return {};
  return { ...(r.confidence === undefined ? {} : { confidence: r.confidence }), ...(r.code === undefined ? {} : { code: r.code }), ...(r.abstained ? { abstained: true as const } : {}) };
}

/** A concept's card and every (name, group) of it; undefined when the KB does not know the code. */
export function conceptInfo(kb: KnowledgeBase, code: string): Record<string, unknown> | undefined {
  const card = kb.concept(code);
  if (card === undefined) return undefined;
  return { code: card.code, title: card.title, groups: card.groups, semantic_types: card.semanticTypes, definitions: card.definitions, names: kb.namesOfCode(code) };
}

/** The dictionary matcher of a KB, built on first use (one pass over its names). */
export class LazyMatcher {
  private matcher: DictionaryMatcher | undefined;
  constructor(private readonly kb: KnowledgeBase) {}

  match(text: string): DictionaryMatch[] {
    this.matcher ??= DictionaryMatcher.fromKnowledgeBase(this.kb);
    return this.matcher.match(text);
  }
}
