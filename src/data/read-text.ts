import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { SyncabelError } from "../errors.js";

/**
 * Read a UTF-8 file; a missing or unreadable file is a DATA_FILE_MISSING error naming it. Annotation files
 * (`stripBom`) lose a leading byte-order mark, which editors on Windows add; a document text keeps it (offsets
 * count it).
 */
export async function readTextFile(path: string, what: string, options: { readonly stripBom?: boolean } = {}): Promise<string> {
  try {
    const text = await readFile(path, "utf8");
    return options.stripBom && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch (e) {
    throw fileError(path, what, e);
  }
}

export function readTextFileSync(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw fileError(path, what, e);
  }
}

function fileError(path: string, what: string, e: unknown): SyncabelError {
  const errno = (e as { code?: string }).code;
  const why = errno === "ENOENT" ? "does not exist" : errno === "EISDIR" ? "is a folder" : `cannot be read (${errno ?? String(e)})`;
  return new SyncabelError("DATA_FILE_MISSING", `${what} ${path} ${why}`, { file: path }, { cause: e });
}

/** Lines of a text file without their line ends (CRLF or LF); a final empty line is dropped. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}
