/**
 * SPACCC / BSC gold TSV (DisTEMIST, MedProcNER, SympTEMIST merged): columns filename, label, start_span,
 * end_span, span, code (composite `a+b`, `NO_CODE`), semantic_rel (optional). Plain tab split, no CSV
 * quoting. Each document's text is `<textsDir>/<filename>.txt`, by default the `texts/` folder beside
 * the TSV. Rows are grouped into documents in order of first appearance.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { SyncabelError } from "../errors.js";
import { checkFragments, parseInteger } from "./offsets.js";
import { ProblemLog } from "./problems.js";
import { readTextFile, splitLines } from "./read-text.js";
import { plainTsvFields } from "./tsv.js";
import type { Dataset, Document, Mention, ReadOptions } from "./types.js";
import { goldCodesOf } from "./gold-codes.js";

export const SPACCC_COLUMNS = ["filename", "label", "start_span", "end_span", "span", "code"] as const;
export { NO_CODE } from "../constants.js";

/** Gold codes of a SPACCC `code` field: `a+b` is composite; `NO_CODE` (or empty) means none. */
export function parseSpacccCodes(field: string): string[] {
  return goldCodesOf(field.split("+"));
}

interface PendingMention {
  readonly line: number;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  readonly span: string;
  readonly codes: string[];
  readonly semanticRel?: string;
}

export async function readSpaccc(tsvPath: string, options: ReadOptions = {}): Promise<Dataset> {
  const log = new ProblemLog(options.strict ?? false);
  const content = await readTextFile(tsvPath, "SPACCC TSV", { stripBom: true });
  const lines = splitLines(content);
  const header = plainTsvFields(lines[0] ?? "").map((h) => h.trim());
  const missing = SPACCC_COLUMNS.filter((c) => !header.includes(c));
  if (lines.length === 0 || missing.length > 0) {
    throw new SyncabelError("DATA_BAD_COLUMNS", `${tsvPath}:1: the header lacks column(s) ${missing.join(", ")} (found: ${header.join(", ") || "nothing"}); expected ${SPACCC_COLUMNS.join(", ")}[, semantic_rel]`, { file: tsvPath, line: 1 });
  }
  const at = (name: string): number => header.indexOf(name);
  const [cFile, cLabel, cStart, cEnd, cSpan, cCode] = SPACCC_COLUMNS.map(at) as [number, number, number, number, number, number];
  const cRel = at("semantic_rel");

  const byDoc = new Map<string, PendingMention[]>();
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] as string;
    if (raw.trim() === "") continue;
    const f = plainTsvFields(raw);
    if (f.length !== header.length) {
      log.error("DATA_BAD_ROW", tsvPath, lineNo, `expected ${header.length} tab-separated columns, found ${f.length}`);
      continue;
    }
    const doc = (f[cFile] as string).trim();
    const start = parseInteger(f[cStart]);
    const end = parseInteger(f[cEnd]);
    const label = (f[cLabel] as string).trim();
    if (doc === "" || label === "") {
      log.error("DATA_BAD_ROW", tsvPath, lineNo, "empty filename or label", doc || undefined);
      continue;
    }
    if (start === undefined || end === undefined) {
      log.error("DATA_BAD_ROW", tsvPath, lineNo, `start_span/end_span must be integers, found ${JSON.stringify(f[cStart])}/${JSON.stringify(f[cEnd])}`, doc);
      continue;
    }
    const rel = cRel >= 0 ? (f[cRel] as string).trim() : "";
    const m: PendingMention = { line: lineNo, label, start, end, span: f[cSpan] as string, codes: parseSpacccCodes(f[cCode] as string), ...(rel ? { semanticRel: rel } : {}) };
    const list = byDoc.get(doc);
    if (list === undefined) byDoc.set(doc, [m]);
    else list.push(m);
  }

  const textsDir = options.textsDir ?? join(dirname(tsvPath), "texts");
  if (!existsSync(textsDir)) {
    throw new SyncabelError("DATA_FILE_MISSING", `the texts folder ${textsDir} of ${tsvPath} does not exist (give the folder of the texts)`, { file: textsDir });
  }
  const documents: Document[] = [];
  for (const [id, pending] of byDoc) {
    const textPath = join(textsDir, `${id}.txt`);
    let text: string;
    try {
      text = await readTextFile(textPath, "the text file");
    } catch (e) {
      const lines = pending.map((p) => p.line);
      log.error("DATA_FILE_MISSING", tsvPath, lines[0], `${(e as Error).message}: its ${pending.length} mention(s) (lines ${lines.slice(0, 5).join(", ")}${lines.length > 5 ? ", ..." : ""}) are skipped`, id);
      continue;
    }
    const mentions: Mention[] = [];
    for (const p of pending) {
      const fragments = [{ start: p.start, end: p.end }];
      const check = checkFragments(text, fragments, p.span);
      if (!check.ok) {
        log.error("DATA_OFFSET_MISMATCH", tsvPath, p.line, check.reason, id);
        continue;
      }
      if (!check.exact) log.warn("DATA_OFFSET_MISMATCH", tsvPath, p.line, `the span field differs from the text only in quote characters; the text is used`, id);
      mentions.push({
        id: `L${p.line}`,
        label: p.label,
        fragments,
        text: text.slice(p.start, p.end),
        codes: p.codes,
        ...(p.semanticRel === undefined ? {} : { semanticRel: p.semanticRel }),
        source: `${tsvPath}:${p.line}`,
      });
    }
    documents.push({ id, text, mentions, language: options.language ?? "es" });
  }
  return { format: "spaccc", documents, problems: log.sorted() };
}
