/**
 * Line and record readers shared by the terminology readers: constant memory, 1-based line numbers, CRLF and a
 * UTF-8 BOM tolerated, progress in bytes.
 *
 * Only LF ends a line (RF2 and BC5CDR files are CRLF, UMLS and OBO files LF). CRs right before the LF belong to the
 * line end (CRLF, or CR CR LF from a file converted twice); any other CR is data and stays in its field, where the
 * builder's row checks (src/kb/row-checks.ts) refuse a name holding it and report that row at its file:line. So a
 * stray CR never splits a record and never shifts the line numbers of the rows after it.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { SyncabelError } from "../../errors.js";
import type { ProgressSink } from "./types.js";

export interface Line {
  readonly text: string;
  /** 1-based line number in the file (LFs before it, plus one). */
  readonly line: number;
}

export function requireFile(path: string): void {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new SyncabelError("KB_FILE_INVALID", `terminology file not found: ${path}`, { path });
  }
}

/** The line without its line end: the CRs that end it (CRLF, CR CR LF) go, a CR followed by anything stays. */
function withoutLineEnd(raw: string): string {
  let end = raw.length;
  while (end > 0 && raw.charCodeAt(end - 1) === 0x0d) end--;
  return end === raw.length ? raw : raw.slice(0, end);
}

const CR_ONLY_PROBE = 1 << 20;

/** No LF in the file but CRs inside it: classic Mac line ends, which read as one line would give nothing useful. */
function crOnly(path: string): SyncabelError {
  return new SyncabelError("KB_FILE_INVALID", `${path}: lines end with CR only (classic Mac OS); only LF or CRLF line ends are read: convert the file (e.g. tr '\\r' '\\n')`, { path });
}

/** Every line of a UTF-8 file, without its line end. */
export async function* readLines(path: string, progress?: ProgressSink, label = path): AsyncGenerator<Line> {
  requireFile(path);
  // With an encoding set, the stream decodes across chunk boundaries (a multi-byte character split in two is joined).
  const stream = createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 });
  progress?.start(label, statSync(path).size);
  let reported = 0;
  let line = 0;
  const next = (raw: string): Line => {
    line++;
    let text = withoutLineEnd(raw);
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { text, line };
  };
  try {
    let rest = "";
    let probed = false;
    for await (const chunk of stream as AsyncIterable<string>) {
      // `rest` (the unfinished line) has no LF: scan the new chunk only.
      const from = rest.length;
      rest += chunk;
      let start = 0;
      for (let nl = rest.indexOf("\n", from); nl >= 0; nl = rest.indexOf("\n", start)) {
        yield next(rest.slice(start, nl));
        start = nl + 1;
      }
      rest = rest.slice(start);
      // No LF in the first MiB but CRs inside: refuse now rather than gather the whole file as one line.
      if (line === 0 && !probed && rest.length >= CR_ONLY_PROBE) {
        probed = true;
        if (withoutLineEnd(rest).includes("\r")) throw crOnly(path);
      }
      if (progress) {
        progress.advance(stream.bytesRead - reported);
        reported = stream.bytesRead;
      }
    }
    if (rest === "") return;
    if (line === 0 && withoutLineEnd(rest).includes("\r")) throw crOnly(path);
    yield next(rest);
  } finally {
    if (progress) {
      progress.advance(stream.bytesRead - reported);
      progress.finish();
    }
    stream.destroy();
  }
}

export interface DelimitedRecord {
  readonly cells: string[];
  /** 1-based line where the record starts. */
  readonly line: number;
}

/**
 * Records of a delimited file with optional double-quote quoting, the way spreadsheet exports write it (and as
 * Python's csv module reads it): a field is quoted only when it starts with `"`; inside, `""` is a quote and
 * line breaks belong to the field; a quote inside an unquoted field is literal.
 */
export async function* readQuotedRecords(path: string, delimiter = "\t", progress?: ProgressSink): AsyncGenerator<DelimitedRecord> {
  let cells: string[] = [];
  let field = "";
  let quoted = false;
  let inQuotes = false;
  let startLine = 0;
  let pendingQuote = false;
  for await (const { text, line } of readLines(path, progress)) {
    if (!inQuotes) {
      startLine = line;
      cells = [];
      field = "";
      quoted = false;
    } else {
      field += "\n";
    }
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inQuotes) {
        if (ch !== '"') field += ch;
        else if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
        continue;
      }
      if (ch === delimiter) {
        cells.push(field);
        field = "";
        quoted = false;
      } else if (ch === '"' && field === "" && !quoted) {
        quoted = true;
        inQuotes = true;
      } else field += ch;
    }
    pendingQuote = inQuotes;
    if (inQuotes) continue;
    cells.push(field);
    if (!(cells.length === 1 && cells[0] === "")) yield { cells, line: startLine };
  }
  if (pendingQuote) {
    throw new SyncabelError("KB_FILE_INVALID", `${path}:${startLine}: a quoted field is never closed`, { path, line: startLine });
  }
}
