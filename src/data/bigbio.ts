/**
 * BigBio-KB style documents, as a JSON array (or `{ "documents": [...] }`) or JSONL (one per line):
 * `{ id | document_id, passages: [{ text: [str], offsets: [[s, e]] }], entities: [{ id, type,
 * text: [str], offsets: [[s, e], ...], normalized: [{ db_name, db_id }] }] }`.
 * Passage offsets are document offsets: the text is rebuilt by placing each passage at its offsets, a gap
 * between passages is filled with line breaks (so a passage ends a sentence). `db_id`s are the gold codes.
 */
import { SyncabelError } from "../errors.js";
import { checkFragments } from "./offsets.js";
import { ProblemLog } from "./problems.js";
import { readTextFile, splitLines } from "./read-text.js";
import type { Dataset, Document, Mention, ReadOptions, Span } from "./types.js";
import { goldCodesOf } from "./gold-codes.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: Json | undefined): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
}

function spans(v: Json | undefined): Span[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: Span[] = [];
  for (const p of v) {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "number" || typeof p[1] !== "number") return undefined;
    out.push({ start: p[0], end: p[1] });
  }
  return out;
}

export async function readBigbio(path: string, options: ReadOptions = {}): Promise<Dataset> {
  const log = new ProblemLog(options.strict ?? false);
  const content = await readTextFile(path, "BigBio file", { stripBom: true });
  const records: { value: Json; line: number | undefined }[] = [];
  const trimmed = content.trimStart();
  if (trimmed.startsWith("[") || (trimmed.startsWith("{") && !path.endsWith(".jsonl") && isWholeJson(content))) {
    let parsed: Json;
    try {
      parsed = JSON.parse(content) as Json;
    } catch (e) {
      throw new SyncabelError("DATA_BAD_ROW", `${path}: not valid JSON (${(e as Error).message})`, { file: path }, { cause: e });
    }
    const list = Array.isArray(parsed) ? parsed : isObject(parsed) && Array.isArray(parsed.documents) ? parsed.documents : [parsed];
    for (const v of list) records.push({ value: v, line: undefined });
  } else {
    splitLines(content).forEach((raw, k) => {
      if (raw.trim() === "") return;
      try {
        records.push({ value: JSON.parse(raw) as Json, line: k + 1 });
      } catch (e) {
        log.error("DATA_BAD_ROW", path, k + 1, `not valid JSON (${(e as Error).message})`);
      }
    });
  }
  const documents: Document[] = [];
  records.forEach((r, index) => {
    const doc = readRecord(r.value, path, r.line, index, log, options.language);
    if (doc !== undefined) documents.push(doc);
  });
  return { format: "bigbio", documents, problems: log.sorted() };
}

function isWholeJson(content: string): boolean {
  try {
    JSON.parse(content);
    return true;
  } catch {
    return false;
  }
}

function readRecord(v: Json, path: string, line: number | undefined, index: number, log: ProblemLog, language?: string): Document | undefined {
  const where = line ?? undefined;
  if (!isObject(v)) {
    log.error("DATA_BAD_ROW", path, where, `document #${index + 1} is not a JSON object`);
    return undefined;
  }
  const idv = v.document_id ?? v.id;
  const id = typeof idv === "string" || typeof idv === "number" ? String(idv) : `#${index + 1}`;
  const passages = Array.isArray(v.passages) ? v.passages : undefined;
  if (passages === undefined) {
    log.error("DATA_BAD_ROW", path, where, "a document needs a `passages` array", id);
    return undefined;
  }
  let text = "";
  for (const p of passages) {
    const t = isObject(p) ? strings(p.text) : undefined;
    const o = isObject(p) ? spans(p.offsets) : undefined;
    if (t === undefined || o === undefined || t.length !== o.length) {
      log.error("DATA_BAD_ROW", path, where, "a passage needs `text` (strings) and `offsets` ([start, end] pairs) of the same length; the document is skipped", id);
      return undefined;
    }
    for (let k = 0; k < t.length; k++) {
      const s = t[k] as string;
      const span = o[k] as Span;
      if (span.end - span.start !== s.length || span.start < text.length) {
        log.error("DATA_OFFSET_MISMATCH", path, where, `passage offsets ${span.start}-${span.end} do not fit its text of ${s.length} characters after ${text.length} characters; the document is skipped`, id);
        return undefined;
      }
      text += "\n".repeat(span.start - text.length) + s;
    }
  }
  const mentions: Mention[] = [];
  const entities = Array.isArray(v.entities) ? v.entities : [];
  entities.forEach((e, k) => {
    const eid = isObject(e) && (typeof e.id === "string" || typeof e.id === "number") ? String(e.id) : `E${k + 1}`;
    const fragments = isObject(e) ? spans(e.offsets) : undefined;
    const label = isObject(e) && typeof e.type === "string" ? e.type : undefined;
    if (!isObject(e) || fragments === undefined || label === undefined) {
      log.error("DATA_BAD_ROW", path, where, `entity ${eid} needs \`type\` and \`offsets\``, id);
      return;
    }
    const given = strings(e.text);
    const check = checkFragments(text, fragments, given === undefined ? undefined : given.join(" "));
    if (!check.ok) {
      log.error("DATA_OFFSET_MISMATCH", path, where, `entity ${eid}: ${check.reason}`, id);
      return;
    }
    const codes = goldCodesOf(
      (Array.isArray(e.normalized) ? e.normalized : []).map((n) => (isObject(n) && (typeof n.db_id === "string" || typeof n.db_id === "number") ? String(n.db_id) : "")),
    );
    mentions.push({ id: eid, label, fragments, text: fragments.map((f) => text.slice(f.start, f.end)).join(" "), codes, source: line === undefined ? `${path}#${index + 1}` : `${path}:${line}` });
  });
  return { id, text, mentions, ...(language === undefined ? {} : { language }) };
}
