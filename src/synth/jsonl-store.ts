import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { SyncabelError } from "../errors.js";
import type { ConceptRecord, SynthRecord } from "./types.js";

/**
 * The resumable output of `syncabel synth`.
 *
 * Design: each concept's records (its sentence lines, then its `{"type":"concept"}` marker line) are
 * appended with ONE write call, from one process, so concepts never interleave. A concept counts as
 * complete only when its marker line is in the file. A SIGKILL can at worst tear that one write: on
 * restart the file is scanned and cut back to the end of the last marker line, which drops the torn
 * tail and any sentence lines of a concept whose marker never landed. So after any kill and restart,
 * every line is valid JSON and every concept appears exactly once.
 */
export interface ResumeScan {
  /** Final status of every concept with a marker (a later marker overrides an earlier one). */
  readonly concepts: ReadonlyMap<string, ConceptRecord["status"]>;
  /** Sentence lines kept. */
  readonly sentences: number;
  /** Bytes cut from the end (a torn write or a concept without its marker). */
  readonly truncatedBytes: number;
}

const CHUNK = 1 << 20;

/** Visit every complete line of a file with its byte range; a final line without "\n" is passed with `complete: false`. */
function forEachLine(fd: number, visit: (line: string, start: number, end: number, complete: boolean) => void): void {
  const buf = Buffer.allocUnsafe(CHUNK);
  let carry: Buffer = Buffer.alloc(0);
  let carryStart = 0;
  let pos = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, pos);
    if (n === 0) break;
    pos += n;
    let data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
    let offset = carryStart;
    let nl: number;
    while ((nl = data.indexOf(0x0a)) >= 0) {
      visit(data.toString("utf8", 0, nl), offset, offset + nl + 1, true);
      offset += nl + 1;
      data = data.subarray(nl + 1);
    }
    carry = Buffer.from(data);
    carryStart = offset;
  }
  if (carry.length > 0) visit(carry.toString("utf8"), carryStart, carryStart + carry.length, false);
}

/**
 * Read a JSONL file and cut it back to its last commit point: `visit` says of each parsed line whether it commits
 * (the file up to it is kept), is pending (kept only when a later line commits) or is not a record of the file. A
 * line that does not parse, is not a record or lacks its newline is allowed only at the end (a write torn by a
 * kill); elsewhere it is damage, not ours to silently drop: an IO_ERROR naming the line. Returns the bytes cut.
 */
export function repairJsonl(path: string, visit: (value: unknown, lineNo: number) => "commit" | "pending" | "invalid"): number {
  if (!existsSync(path)) return 0;
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    let keepUntil = 0;
    let lineNo = 0;
    let stopped = false;
    forEachLine(fd, (line, _start, end, complete) => {
      if (stopped) return;
      lineNo++;
      let value: unknown;
      let parsed = true;
      try {
        value = JSON.parse(line);
      } catch {
        parsed = false;
      }
      const verdict = parsed && complete ? visit(value, lineNo) : "invalid";
      if (verdict === "invalid") {
        if (end < size) throw new SyncabelError("IO_ERROR", `${path}:${lineNo}: not a record line in the middle of the file; refusing to resume over it`, { file: path, line: lineNo });
        stopped = true;
      } else if (verdict === "commit") keepUntil = end;
    });
    if (keepUntil < size) ftruncateSync(fd, keepUntil);
    return size - keepUntil;
  } finally {
    closeSync(fd);
  }
}

/** Scan an output file and cut it back to its last complete concept. */
export function scanAndRepair(path: string): ResumeScan {
  const concepts = new Map<string, ConceptRecord["status"]>();
  let sentences = 0;
  let pendingSentences = 0;
  const truncatedBytes = repairJsonl(path, (value, lineNo) => {
    const record = value as SynthRecord | null;
    if (record?.type === "concept") {
      concepts.set(record.code, record.status);
      sentences += pendingSentences;
      pendingSentences = 0;
      return "commit";
    }
    if (record?.type === "sentence") {
      pendingSentences++;
      return "pending";
    }
    throw new SyncabelError("IO_ERROR", `${path}:${lineNo}: unknown record type ${JSON.stringify((record as { type?: unknown } | null)?.type)}`, { file: path, line: lineNo });
  });
  return { concepts, sentences, truncatedBytes };
}

/** Appends whole concepts to the output file. */
export class SynthWriter {
  private fd: number;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, "a");
    } catch (e) {
      throw new SyncabelError("IO_ERROR", `cannot open ${path} for appending: ${(e as Error).message}`, { file: path }, { cause: e });
    }
  }

  /** One concept: its sentence records then its marker, in a single write. */
  appendConcept(sentences: readonly SynthRecord[], marker: ConceptRecord): void {
    const text = [...sentences, marker].map((r) => JSON.stringify(r)).join("\n") + "\n";
    const bytes = Buffer.from(text, "utf8");
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
