/**
 * Read reports. One bad row never sinks a whole dataset: readers record what they skipped (errors) or
 * repaired (warnings) with file, line and document, and go on. With `strict`, the first error throws as
 * a SyncabelError instead. Whole-file problems (missing file, bad header) always throw.
 */
import { SyncabelError, type ErrorCode } from "../errors.js";
import type { ReadProblem } from "./types.js";

export function describeProblem(p: ReadProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  const doc = p.document === undefined ? "" : ` (document ${p.document})`;
  return `${where}${doc}: ${p.message}`;
}

export class ProblemLog {
  readonly problems: ReadProblem[] = [];
  constructor(private readonly strict: boolean) {}

  error(code: ErrorCode, file: string, line: number | undefined, message: string, document?: string): void {
    const p: ReadProblem = { severity: "error", code, file, message, ...(line === undefined ? {} : { line }), ...(document === undefined ? {} : { document }) };
    if (this.strict) throw problemError(p);
    this.problems.push(p);
  }

  /** The problems in file order: by file, then line (stable). */
  sorted(): ReadProblem[] {
    return [...this.problems].sort((a, b) => (a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : 0));
  }

  warn(code: ErrorCode, file: string, line: number | undefined, message: string, document?: string): void {
    this.problems.push({ severity: "warning", code, file, message, ...(line === undefined ? {} : { line }), ...(document === undefined ? {} : { document }) });
  }
}

export function problemError(p: ReadProblem): SyncabelError {
  return new SyncabelError(p.code, describeProblem(p), { file: p.file, line: p.line, document: p.document });
}
