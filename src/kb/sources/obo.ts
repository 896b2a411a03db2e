/**
 * OBO 1.2 / 1.4 flat files (`[Term]` stanzas): the name (preferred), synonyms of the selected scopes,
 * definitions and xrefs; obsolete terms are skipped. `is_a:` tags give is-a edges and `relationship: part_of`
 * (or its BFO:0000050 id) part-of edges, kept apart; other relationship types are not read. Read one stanza at a time.
 */
import { basename } from "node:path";
import { cleanText } from "../../markup/clean.js";
import { trimTerm } from "../row-checks.js";
import { readLines, requireFile } from "./lines.js";
import { DEFAULT_SCOPES, termGroup, type OboOptions, type SynonymScope } from "./obo-common.js";
import { parseXref, type ProgressSink, type SourceItem, type TermSource, type Xref } from "./types.js";

interface Tag {
  readonly tag: string;
  readonly value: string;
  readonly line: number;
}

/** A quoted OBO string at the start of `text` (backslash escapes) and what follows it. */
export function readQuoted(text: string): { value: string; rest: string } | undefined {
  const t = text.trimStart();
  if (!t.startsWith('"')) return undefined;
  let value = "";
  for (let i = 1; i < t.length; i++) {
    const ch = t[i];
    if (ch === "\\" && i + 1 < t.length) {
      const next = t[++i];
      value += next === "n" ? "\n" : next === "t" ? "\t" : next;
    } else if (ch === '"') return { value, rest: t.slice(i + 1).trim() };
    else value += ch;
  }
  return undefined;
}

/** `tag: value` with trailing `! comment` removed (outside quotes) and escaped characters kept. */
function parseTagLine(text: string, line: number): Tag | undefined {
  const i = text.indexOf(":");
  if (i <= 0) return undefined;
  const tag = text.slice(0, i).trim();
  // A name keeps a stray CR at its edge for the row checks to report (see trimTerm); ids and the rest are trimmed.
  let value = tag === "name" ? trimTerm(text.slice(i + 1)) : text.slice(i + 1).trim();
  if (!value.startsWith('"')) value = value.replace(/\s+!\s.*$/, "").replace(/\s*\{[^}]*\}\s*$/, "");
  return { tag, value, line };
}

/** OBO 1.0-style synonym tags, still found in OBO 1.2 files. */
const OLD_SYNONYM_TAGS: ReadonlyMap<string, SynonymScope> = new Map([
  ["exact_synonym", "EXACT"],
  ["related_synonym", "RELATED"],
  ["narrow_synonym", "NARROW"],
  ["broad_synonym", "BROAD"],
]);

const unescapeId = (s: string): string => s.replace(/\\(.)/g, "$1");

/** `relationship:` type names read as part-of. */
const PART_OF = new Set(["part_of", "BFO:0000050"]);

/** The hierarchy edges of a live term: `is_a: PARENT` and `relationship: part_of PARENT`. */
function* relationItems(file: string, code: string, tags: readonly Tag[]): Generator<SourceItem> {
  for (const t of tags) {
    const words = t.value.split(/\s+/);
    if (t.tag === "is_a" && words[0]) yield { kind: "relation", file, line: t.line, relation: { child: code, parent: unescapeId(words[0]), kind: "is_a" } };
    else if (t.tag === "relationship" && PART_OF.has(words[0] ?? "") && words[1]) {
      yield { kind: "relation", file, line: t.line, relation: { child: code, parent: unescapeId(words[1]), kind: "part_of" } };
    }
  }
}

export function oboSource(path: string, options: OboOptions = {}): TermSource {
  requireFile(path);
  return { format: "obo", files: [path], items: (progress) => oboItems(path, options, progress) };
}

async function* oboItems(path: string, options: OboOptions, progress?: ProgressSink): AsyncGenerator<SourceItem> {
  let stanza: string | undefined;
  let stanzaLine = 0;
  let tags: Tag[] = [];
  let defaultNamespace: string | undefined;
  const flush = function* (): Generator<SourceItem> {
    if (stanza === "Term") yield* termItems(path, stanzaLine, tags, options, defaultNamespace);
    tags = [];
  };
  for await (const { text, line } of readLines(path, progress, basename(path))) {
    const t = text.trim();
    if (t === "" || t.startsWith("!")) continue;
    const header = /^\[(\w+)\]$/.exec(t);
    if (header) {
      yield* flush();
      stanza = header[1];
      stanzaLine = line;
      continue;
    }
    const tag = parseTagLine(t, line);
    if (tag === undefined) continue;
    if (stanza === undefined) {
      if (tag.tag === "default-namespace") defaultNamespace = tag.value;
    } else tags.push(tag);
  }
  yield* flush();
}

function* termItems(file: string, stanzaLine: number, tags: readonly Tag[], options: OboOptions, defaultNamespace: string | undefined): Generator<SourceItem> {
  const get = (name: string): Tag[] => tags.filter((t) => t.tag === name);
  const id = get("id")[0]?.value;
  const names = get("name");
  const synonyms = tags.filter((t) => t.tag === "synonym" || OLD_SYNONYM_TAGS.has(t.tag));
  const nameLines = [...names, ...synonyms];
  const skipAll = function* (reason: string, detail?: string): Generator<SourceItem> {
    if (nameLines.length === 0) yield { kind: "skip", file, line: stanzaLine, reason, detail };
    for (const t of nameLines) yield { kind: "skip", file, line: t.line, reason, detail };
  };
  if (id === undefined || id === "") return yield* skipAll("term without id");
  const code = unescapeId(id);
  if (get("is_obsolete").some((t) => t.value === "true")) return yield* skipAll("obsolete term", code);
  // Before the name and group checks: a term outside the KB's groups still links its children to its ancestors.
  yield* relationItems(file, code, tags);
  if (names.length === 0) return yield* skipAll("term without name", code);
  const g = termGroup(options, get("namespace")[0]?.value ?? defaultNamespace, get("subset").map((t) => t.value));
  if ("reason" in g) return yield* skipAll(g.reason, g.detail);
  const definitions = get("def").map((t) => readQuoted(t.value)?.value ?? t.value).map((d) => d.trim()).filter((d) => d !== "");
  const xrefs: Xref[] = [];
  for (const t of get("xref")) {
    const x = parseXref(unescapeId(t.value.split(/\s+/)[0] ?? ""));
    if (x) xrefs.push(x);
  }
  const scopes: readonly SynonymScope[] = options.scopes ?? DEFAULT_SCOPES;
  let first = true;
  const row = (t: Tag, text: string, preferred: boolean): SourceItem => {
    const name = trimTerm(cleanText(text));
    if (name === "") return { kind: "skip", file, line: t.line, reason: "empty name", detail: code };
    const extra = first ? { definitions, xrefs } : {};
    first = false;
    return { kind: "row", file, line: t.line, row: { code, name, group: g.group, preferred, ...extra } };
  };
  yield row(names[0], names[0].value, true);
  for (const t of names.slice(1)) yield { kind: "skip", file, line: t.line, reason: "second name tag", detail: code };
  for (const t of synonyms) {
    const q = readQuoted(t.value);
    if (q === undefined) {
      yield { kind: "skip", file, line: t.line, reason: "malformed synonym", detail: t.value.slice(0, 80) };
      continue;
    }
    const scope = OLD_SYNONYM_TAGS.get(t.tag) ?? (q.rest.split(/\s+/)[0] ?? "").toUpperCase();
    if (!(scopes as readonly string[]).includes(scope)) yield { kind: "skip", file, line: t.line, reason: "synonym scope not selected", detail: scope || "(none)" };
    else yield row(t, q.value, false);
  }
}
