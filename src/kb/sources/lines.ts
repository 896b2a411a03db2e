/**
 * Line and record readers shared by the terminology readers: constant memory, 1-based line numbers, CRLF and a
 * UTF-8 BOM tolerated, progress in bytes.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { SyncabelError } from "../../errors.js";
import type { ProgressSink } from "./types.js";

export interface Line {
  readonly text: string;
  /** 1-based line number in the file. */
  readonly line: number;
}

export function requireFile(path: string): void {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new SyncabelError("KB_FILE_INVALID", `terminology file not found: ${path}`, { path });
  }
}

/** Every line of a UTF-8 file, without its line end. */
export async function* readLines(path: string, progress?: ProgressSink, label = path): AsyncGenerator<Line> {
  requireFile(path);
  const stream = createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 });
  progress?.start(label, statSync(path).size);
  let reported = 0;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of lines) {
      line++;
      let text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if ((line & 0x3fff) === 0 && progress) {
        progress.advance(stream.bytesRead - reported);
        reported = stream.bytesRead;
      }
      yield { text, line };
    }
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
