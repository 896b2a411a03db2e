/**
 * The endpoints behind the web page: read uploaded dataset files with the project's readers, link the mentions of
 * a document (queries built as link-docs builds them), suggest mentions from the KB's names, show a
 * concept's names, and export the reviewed document.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDataset } from "../data/read-dataset.js";
import { documentQueries, type DocumentMentionQuery, type MentionQuery } from "../data/mention-queries.js";
import { fragmentsText, type Document, type Mention, type ReadProblem } from "../data/types.js";
import { asSyncabelError, SyncabelError } from "../errors.js";
import type { KnowledgeBase } from "../kb/types.js";
import type { Beam, LinkResult, SentenceError } from "../linker/types.js";
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

/** The request's document in the data model, every mention with its text (the document context of the others). */
export function documentOf(request: LinkDocumentRequest): Document {
  const { id, text, language } = request.document;
  const mentions = request.mentions.map((m): Mention => ({ id: m.id, label: m.label, fragments: m.fragments, text: fragmentsText(text, m.fragments), codes: [] }));
  return { id, text, mentions, ...(language === undefined ? {} : { language }) };
}

/**
 * Links the mentions a request names with `link` (the server's batcher), in the request's order. Their queries
 * come from the whole document (src/data/mention-queries.ts), as in `link-docs`, so the answers are the same.
 */
export async function linkDocumentMentions(
  request: LinkDocumentRequest,
  link: (queries: MentionQuery[], options: DecodeOptions) => Promise<LinkResult[]>,
  doc: Document = documentOf(request),
): Promise<MentionResult[]> {
  const all = documentQueries(doc);
  const chosen = request.link.map((i) => all[i] as DocumentMentionQuery);
  const queries = chosen.flatMap((q) => (q.query === undefined ? [] : [q.query]));
  const linked = await link(queries, request.options);
  let k = 0;
  return chosen.map(({ mention, sentence, query, error }): MentionResult => {
    if (query === undefined) return { mention_id: mention.id, ...(sentence === undefined ? {} : { sentence }), ...(error === undefined ? {} : { error }) };
    const r = linked[k++] as LinkResult;
    return { mention_id: mention.id, ...(sentence === undefined ? {} : { sentence }), ...(r.error === undefined ? { beams: r.beams, ...calibratedFields(r) } : { error: r.error }) };
  });
}

/** The calibration fields of a result, when its linker is calibrated. */
function calibratedFields(r: LinkResult): Pick<MentionResult, "confidence" | "code" | "abstained"> {
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
