/**
 * Extra-language names from a translation table (the Disease Ontology's `doid-es-translated.tsv` layout:
 * source_id, predicate, source_text, translation_text, ..., status, review notes). Each kept row adds a name to
 * a concept another source defines (the name takes that concept's groups). Rows whose status or review columns
 * mark the translation as wrong are skipped. Spreadsheet quoting: quoted fields may span lines.
 */
import { basename } from "node:path";
import { SyncabelError } from "../../errors.js";
import { cleanText } from "../../markup/clean.js";
import { trimTerm } from "../row-checks.js";
import { readQuotedRecords, requireFile } from "./lines.js";
import { DEFAULT_SCOPES, type SynonymScope } from "./obo-common.js";
import type { ProgressSink, SourceItem, TermSource } from "./types.js";

export interface TranslationOptions {
  /** Column names (default source_id, predicate, translation_text). */
  readonly idColumn?: string;
  readonly predicateColumn?: string;
  readonly textColumn?: string;
  /** Columns that say whether a translation is wrong (default status, review_notes), and what marks it wrong. */
  readonly statusColumns?: readonly string[];
  readonly wrongPattern?: RegExp;
  /** Synonym scopes kept (labels are always kept; default EXACT, RELATED). */
  readonly scopes?: readonly SynonymScope[];
  /** Keep rows of this translation language only (column translation_lang), when given. */
  readonly language?: string;
  readonly delimiter?: string;
}

export const DEFAULT_WRONG_PATTERN = /\b(error|incorrect|wrong|rejected)\b/i;

/** Predicate (CURIE or bare local name) -> "label" or a synonym scope; other predicates are not names. */
function predicateKind(predicate: string): "label" | SynonymScope | undefined {
  const local = predicate.slice(predicate.search(/[^:/#]*$/));
  if (local === "label") return "label";
  const m = /^has(Exact|Related|Narrow|Broad)Synonym$/.exec(local);
  return m ? (m[1].toUpperCase() as SynonymScope) : undefined;
}

export function translationSource(path: string, options: TranslationOptions = {}): TermSource {
  requireFile(path);
  return { format: "translations", files: [path], items: (progress) => translationItems(path, options, progress) };
}

async function* translationItems(path: string, options: TranslationOptions, progress?: ProgressSink): AsyncGenerator<SourceItem> {
  let col: ((name: string) => number) | undefined;
  let idx: { id: number; pred: number; text: number; lang: number; status: number[] } | undefined;
  const wrong = options.wrongPattern ?? DEFAULT_WRONG_PATTERN;
  const scopes = options.scopes ?? DEFAULT_SCOPES;
  for await (const { cells, line } of readQuotedRecords(path, options.delimiter ?? "\t", progress)) {
    if (idx === undefined || col === undefined) {
      const header = cells.map((c) => c.trim().toLowerCase());
      col = (name: string) => header.indexOf(name.toLowerCase());
      const need = (name: string): number => {
        const i = (col as (n: string) => number)(name);
        if (i < 0) throw new SyncabelError("KB_FILE_INVALID", `${path}: the translation table has no ${JSON.stringify(name)} column (header: ${cells.join(", ")})`, { path, line });
        return i;
      };
      idx = {
        id: need(options.idColumn ?? "source_id"),
        pred: need(options.predicateColumn ?? "predicate"),
        text: need(options.textColumn ?? "translation_text"),
        lang: col("translation_lang"),
        status: (options.statusColumns ?? ["status", "review_notes"]).map((c) => col?.(c) ?? -1).filter((i) => i >= 0),
      };
      continue;
    }
    const skip = (reason: string, detail?: string): SourceItem => ({ kind: "skip", file: path, line, reason, detail });
    const code = (cells[idx.id] ?? "").trim();
    const predicate = (cells[idx.pred] ?? "").trim();
    const kind = predicateKind(predicate);
    const flagged = idx.status.map((i) => cells[i] ?? "").find((s) => wrong.test(s));
    if (code === "") yield skip("no source id");
    else if (kind === undefined) yield skip("predicate is not a name", predicate);
    else if (kind !== "label" && !scopes.includes(kind)) yield skip("synonym scope not selected", predicate);
    else if (options.language && idx.lang >= 0 && (cells[idx.lang] ?? "").trim() !== options.language) yield skip("other translation language", cells[idx.lang]);
    else if (flagged !== undefined) yield skip("marked wrong by the status/review columns", flagged.replace(/\s+/g, " ").slice(0, 80));
    else {
      const name = trimTerm(cleanText(cells[idx.text] ?? ""));
      if (name === "") yield skip("empty translation", code);
      else yield { kind: "row", file: path, line, row: { code, name, group: null, preferred: false } };
    }
  }
  if (idx === undefined) throw new SyncabelError("KB_FILE_INVALID", `${basename(path)}: empty translation table`, { path });
}
