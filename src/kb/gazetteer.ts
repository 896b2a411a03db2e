/**
 * Streaming reader of terminology (gazetteer) files: TSV with a header, or JSONL. Yields one cleaned row or one
 * skip reason per data line, so a bad line never stops the build and never disappears silently.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import { cleanText } from "../markup/clean.js";
import { MAX_TERM_CHARS } from "./row-checks.js";

export type GazetteerFormat = "tsv" | "jsonl";

/** One usable terminology row, fields cleaned and trimmed. */
export interface GazetteerRow {
  readonly code: string;
  readonly name: string;
  readonly group: string;
  /** `true`: this row's name is the concept's preferred name; a string: the preferred name itself. */
  readonly preferred: boolean | string | undefined;
  readonly semanticTypes: readonly string[];
  readonly definitions: readonly string[];
  /** Codes of the concept's is-a parents (optional `parents` column: codes separated by `|`; JSON: an array). */
  readonly parents: readonly string[];
}

export type GazetteerItem =
  | { readonly kind: "row"; readonly line: number; readonly row: GazetteerRow }
  | { readonly kind: "skip"; readonly line: number; readonly reason: string };

type Field = "code" | "name" | "group" | "preferred" | "semanticType" | "definition" | "parents";

/** Accepted column / JSON key names (lower-cased) for each field. */
const ALIASES: Readonly<Record<Field, readonly string[]>> = {
  code: ["code", "cui", "id", "concept_id", "conceptid", "sctid"],
  name: ["term", "name", "str", "synonym"],
  group: ["group", "semantic_group", "label", "category"],
  preferred: ["preferred", "preferred_name", "is_preferred", "title"],
  semanticType: ["semantic_type", "semantic_types", "sty", "semtype"],
  definition: ["definition", "definitions", "def"],
  parents: ["parents", "parent", "is_a", "broader"],
};

const FIELD_OF_ALIAS: ReadonlyMap<string, Field> = new Map(
  (Object.entries(ALIASES) as [Field, readonly string[]][]).flatMap(([field, names]) => names.map((n) => [n, field] as const)),
);

/** Separator of several parent codes in one TSV cell (codes of every terminology read here are free of it). */
const PARENT_SEPARATOR = "|";

const TRUE_FLAGS = new Set(["1", "true", "yes", "y", "t", "x", "preferred"]);
const FALSE_FLAGS = new Set(["", "0", "false", "no", "n", "f"]);

/** Format from the extension (.jsonl/.ndjson/.json -> jsonl, else tsv). */
export function guessFormat(path: string): GazetteerFormat {
  return /\.(jsonl|ndjson|json)$/i.test(path) ? "jsonl" : "tsv";
}

/** `preferred` is either a flag (1/true/yes... or 0/false/no/empty) or the preferred name itself. */
function parsePreferred(raw: unknown): boolean | string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "number") return raw !== 0;
  if (typeof raw !== "string") return undefined;
  const v = raw.trim();
  const lower = v.toLowerCase();
  if (TRUE_FLAGS.has(lower)) return true;
  if (FALSE_FLAGS.has(lower)) return false;
  return cleanText(v).trim();
}

function stringList(raw: unknown): string[] {
  const values = Array.isArray(raw) ? raw : [raw];
  const out: string[] = [];
  for (const v of values) {
    if (typeof v === "string" || typeof v === "number") {
      const s = String(v).trim();
      if (s !== "") out.push(s);
    }
  }
  return out;
}

/** Build a row from field values, or say which required field is missing. */
function makeRow(get: (f: Field) => unknown): GazetteerRow | string {
  const text = (f: Field): string => {
    const v = get(f);
    return typeof v === "string" || typeof v === "number" ? String(v) : "";
  };
  const code = text("code").trim();
  const rawName = text("name");
  // Checked before cleaning: cleaning a megabytes-long "term" alone takes seconds.
  if (rawName.length > MAX_TERM_CHARS) return `term longer than ${MAX_TERM_CHARS} characters (${rawName.length})`;
  const name = cleanText(rawName).trim();
  const group = text("group").trim();
  const missing = [code === "" ? "code" : "", name === "" ? "term" : "", group === "" ? "group" : ""].filter((m) => m !== "");
  if (missing.length > 0) return `missing ${missing.join(", ")}`;
  return {
    code,
    name,
    group,
    preferred: parsePreferred(get("preferred")),
    semanticTypes: stringList(get("semanticType")),
    definitions: stringList(get("definition")),
    parents: stringList(get("parents")).flatMap((p) => p.split(PARENT_SEPARATOR)).map((p) => p.trim()).filter((p) => p !== "" && p !== code),
  };
}

/** Map header cells to fields; unknown columns are ignored, a field given twice is an error. */
function parseHeader(cells: readonly string[], path: string): Map<Field, number> {
  const columns = new Map<Field, number>();
  cells.forEach((cell, i) => {
    const field = FIELD_OF_ALIAS.get(cell.trim().toLowerCase());
    if (field === undefined) return;
    if (columns.has(field)) {
      throw new SyncabelError("KB_FILE_INVALID", `${path}: header has two columns for ${field} (${clipped(cells[columns.get(field) as number] ?? "")} and ${clipped(cell)})`, { path, line: 1 });
    }
    columns.set(field, i);
  });
  const missing = (["code", "name", "group"] as const).filter((f) => !columns.has(f));
  if (missing.length > 0) {
    const want = missing.map((f) => `${f === "name" ? "term" : f} (or ${ALIASES[f].filter((a) => a !== f && a !== "term").join("/")})`);
    throw new SyncabelError("KB_FILE_INVALID", `${path}: header lacks required column(s) ${want.join(", ")}; header is ${clipped(cells.join("\t"))}`, { path, line: 1 });
  }
  return columns;
}

function jsonItem(text: string, line: number): GazetteerItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { kind: "skip", line, reason: `invalid JSON: ${(e as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { kind: "skip", line, reason: "not a JSON object" };
  const record = value as Record<string, unknown>;
  const byField = new Map<Field, unknown>();
  for (const [key, v] of Object.entries(record)) {
    const field = FIELD_OF_ALIAS.get(key.toLowerCase());
    if (field !== undefined && !byField.has(field)) byField.set(field, v);
  }
  const row = makeRow((f) => byField.get(f));
  return typeof row === "string" ? { kind: "skip", line, reason: row } : { kind: "row", line, row };
}

/**
 * Read a terminology file line by line (constant memory). TSV: plain tab split (no quoting), columns found by
 * header name in any order. Blank lines are ignored; CRLF and a UTF-8 BOM are tolerated. Line numbers are
 * 1-based file lines (the TSV header is line 1).
 */
export async function* readGazetteer(path: string, format: GazetteerFormat = guessFormat(path)): AsyncGenerator<GazetteerItem> {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new SyncabelError("KB_FILE_INVALID", `terminology file not found: ${path}`, { path });
  }
  let lineNo = 0;
  let columns: Map<Field, number> | undefined;
  let headerCells = 0;
  for await (const raw of linesOf(path)) {
    lineNo++;
    let text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (format === "jsonl") {
      if (text.trim() === "") continue;
      yield jsonItem(text, lineNo);
      continue;
    }
    if (columns === undefined) {
      if (text.trim() === "") continue;
      const header = text.split("\t");
      columns = parseHeader(header, path);
      headerCells = header.length;
      continue;
    }
    if (text.trim() === "") continue;
    // Only LF ends a line here: a CR inside a row is a stray character (readline would split the row on it).
    if (text.includes("\r")) {
      yield { kind: "skip", line: lineNo, reason: "carriage return (CR) inside the row: remove it" };
      continue;
    }
    const cells = text.split("\t");
    if (cells.length > headerCells && cells.slice(headerCells).some((c) => c.trim() !== "")) {
      yield { kind: "skip", line: lineNo, reason: `${cells.length} tab-separated cells but the header has ${headerCells}: a tab inside a field shifts the columns` };
      continue;
    }
    const cols = columns;
    const row = makeRow((f) => {
      const i = cols.get(f);
      return i === undefined ? undefined : cells[i];
    });
    yield typeof row === "string" ? { kind: "skip", line: lineNo, reason: row } : { kind: "row", line: lineNo, row };
  }
  if (format === "tsv" && columns === undefined) {
    throw new SyncabelError("KB_FILE_INVALID", `${path}: empty file (no header line)`, { path });
  }
}

/** A header cell or line for a message, cut to a readable length (a bad "header" can be megabytes long). */
function clipped(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text) + (text.length > 200 ? ` (${text.length} characters)` : "");
}

/** Lines of a UTF-8 file split on LF only (a trailing CR stays on the line: the caller strips CRLF ends). */
async function* linesOf(path: string): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 }) as AsyncIterable<string>) {
    rest += chunk;
    let start = 0;
    for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n", start)) {
      yield rest.slice(start, nl);
      start = nl + 1;
    }
    rest = rest.slice(start);
  }
  if (rest !== "") yield rest;
}
