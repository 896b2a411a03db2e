/**
 * PubTator (BC5CDR, NCBI-disease): blocks separated by blank lines; `id|t|title`, `id|a|abstract`, then
 * `id<TAB>start<TAB>end<TAB>text<TAB>type<TAB>ids[<TAB>...]` mention lines and relation lines
 * (`id<TAB>CID<TAB>a<TAB>b`, ignored). The document text is title + " " + abstract (PubTator offsets
 * count the abstract from title length + 1). Composite ids are joined with `|`; `-1` means no id.
 */
import { checkFragments, parseInteger } from "./offsets.js";
import { ProblemLog } from "./problems.js";
import { readTextFile, splitLines } from "./read-text.js";
import type { Dataset, Document, Mention, ReadOptions } from "./types.js";
import { goldCodesOf } from "./gold-codes.js";

/** Codes of a PubTator id field: `a|b` composite, `-1` or empty none. */
export function parsePubtatorCodes(field: string): string[] {
  return goldCodesOf(field.split("|"));
}

export async function readPubtator(path: string, options: ReadOptions = {}): Promise<Dataset> {
  const log = new ProblemLog(options.strict ?? false);
  const lines = splitLines(await readTextFile(path, "PubTator file", { stripBom: true }));
  const documents: Document[] = [];
  let i = 0;
  while (i < lines.length) {
    if ((lines[i] as string).trim() === "") {
      i++;
      continue;
    }
    // One block: up to the next blank line.
    const blockStart = i;
    while (i < lines.length && (lines[i] as string).trim() !== "") i++;
    const block = lines.slice(blockStart, i);
    const doc = readBlock(block, blockStart + 1, path, log, options.language ?? "en");
    if (doc !== undefined) documents.push(doc);
  }
  return { format: "pubtator", documents, problems: log.sorted() };
}

function readBlock(block: string[], firstLine: number, path: string, log: ProblemLog, language: string): Document | undefined {
  // [\s\S]: a title may hold U+2028/U+2029, which `.` does not match.
  const title = /^([^|\t]+)\|t\|([\s\S]*)$/.exec(block[0] as string);
  const abstract = block.length > 1 ? /^([^|\t]+)\|a\|([\s\S]*)$/.exec(block[1] as string) : null;
  if (title === null || abstract === null || title[1] !== abstract[1]) {
    log.error("DATA_BAD_ROW", path, firstLine, "a PubTator document must start with `ID|t|title` and `ID|a|abstract` lines of the same ID; the block is skipped");
    return undefined;
  }
  const id = title[1] as string;
  const text = `${title[2] as string} ${abstract[2] as string}`;
  const mentions: Mention[] = [];
  for (let k = 2; k < block.length; k++) {
    const lineNo = firstLine + k;
    const f = (block[k] as string).split("\t");
    if (f[0] !== id) {
      log.error("DATA_BAD_ROW", path, lineNo, `the line belongs to document ${JSON.stringify(f[0])} inside the block of ${id}`, id);
      continue;
    }
    if (f.length === 4 && parseInteger(f[1]) === undefined) continue; // relation line (CID)
    if (f.length < 6) {
      log.error("DATA_BAD_ROW", path, lineNo, `a mention line needs 6 tab-separated fields (id, start, end, text, type, ids), found ${f.length}`, id);
      continue;
    }
    const start = parseInteger(f[1]);
    const end = parseInteger(f[2]);
    if (start === undefined || end === undefined) {
      log.error("DATA_BAD_ROW", path, lineNo, `start/end must be integers, found ${JSON.stringify(f[1])}/${JSON.stringify(f[2])}`, id);
      continue;
    }
    const fragments = [{ start, end }];
    const check = checkFragments(text, fragments, f[3]);
    if (!check.ok) {
      log.error("DATA_OFFSET_MISMATCH", path, lineNo, check.reason, id);
      continue;
    }
    if (!check.exact) log.warn("DATA_OFFSET_MISMATCH", path, lineNo, "the mention field differs from the text only in quote characters; the text is used", id);
    mentions.push({ id: `L${lineNo}`, label: (f[4] as string).trim(), fragments, text: text.slice(start, end), codes: parsePubtatorCodes(f[5] as string), source: `${path}:${lineNo}` });
  }
  return { id, text, mentions, language };
}
