/**
 * UMLS Metathesaurus RRF files: MRCONSO.RRF (names), MRSTY.RRF (semantic types) and the standard SemGroups.txt
 * (`ABBR|Group Name|TUI|Type Name`, semantic type -> semantic group). Pipe-delimited, no quoting, a trailing `|`.
 * MRCONSO is read in its released order (rows of a CUI are contiguous), one CUI at a time, so cross-references
 * and `--code-from` codes are gathered per concept in constant memory.
 * MRREL.RRF (optional) gives the hierarchy: PAR / CHD rows of the selected sources (the SAB filter), read the
 * Metathesaurus way, right to left: `CUI1|..|PAR|CUI2` says CUI2 is a parent of CUI1, `CUI1|..|CHD|CUI2` that
 * CUI2 is a child of CUI1. With `codeFrom`, each CUI stands for its codes in that source.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { SyncabelError } from "../../errors.js";
import { cleanText } from "../../markup/clean.js";
import { trimTerm } from "../row-checks.js";
import type { GroupMap } from "./group-map.js";
import { readLines, requireFile } from "./lines.js";
import { batcher, openScratch } from "./scratch.js";
import type { ProgressSink, SourceItem, TermSource, Xref } from "./types.js";

/** MRCONSO.RRF columns, in order (18 fields, then the trailing empty one). */
export const MRCONSO_COLUMNS = ["CUI", "LAT", "TS", "LUI", "STT", "SUI", "ISPREF", "AUI", "SAUI", "SCUI", "SDUI", "SAB", "TTY", "CODE", "STR", "SRL", "SUPPRESS", "CVF"] as const;
export const MRSTY_COLUMNS = ["CUI", "TUI", "STN", "STY", "ATUI", "CVF"] as const;
export const MRREL_COLUMNS = ["CUI1", "AUI1", "STYPE1", "REL", "CUI2", "AUI2", "STYPE2", "RELA", "RUI", "SRUI", "SAB", "SL", "RG", "DIR", "SUPPRESS", "CVF"] as const;
const R = Object.fromEntries(MRREL_COLUMNS.map((c, i) => [c, i])) as Record<(typeof MRREL_COLUMNS)[number], number>;
const C = Object.fromEntries(MRCONSO_COLUMNS.map((c, i) => [c, i])) as Record<(typeof MRCONSO_COLUMNS)[number], number>;

export interface UmlsOptions {
  readonly mrsty?: string;
  readonly semGroups?: string;
  /** MRREL.RRF: is-a edges from its PAR / CHD rows (of the `sab` sources, with the `suppress` values kept). */
  readonly mrrel?: string;
  /** Semantic group abbreviation (DISO), group name, TUI (T047) or semantic type name -> KB group. Without it
   * the group is the semantic group abbreviation (with SemGroups.txt), else the TUI. */
  readonly groupMap?: GroupMap;
  /** Keep these sources / languages / term types only (default: all). */
  readonly sab?: readonly string[];
  readonly lat?: readonly string[];
  readonly tty?: readonly string[];
  /** SUPPRESS values kept (default ["N"]: obsolete O, suppressed E/Y dropped). */
  readonly suppress?: readonly string[];
  /** Only atoms with ISPREF = Y. */
  readonly isprefOnly?: boolean;
  /** Codes are this source's CODE (every code the CUI has in it) instead of the CUI. */
  readonly codeFrom?: string;
  readonly scratchDir?: string;
}

/** SemGroups.txt: TUI -> { group abbreviation, group name, type name }. */
export function readSemGroups(path: string): Map<string, { abbr: string; group: string; type: string }> {
  requireFile(path);
  const out = new Map<string, { abbr: string; group: string; type: string }>();
  readFileSync(path, "utf8")
    .split(/\r?\n/)
    .forEach((text, i) => {
      if (text.trim() === "") return;
      const cells = text.split("|");
      if (cells.length < 4 || !/^T\d{3}$/.test(cells[2])) {
        throw new SyncabelError("KB_FILE_INVALID", `${path}:${i + 1}: SemGroups lines are 'ABBR|Group Name|TUI|Type Name', got ${JSON.stringify(text)}`, { path, line: i + 1 });
      }
      out.set(cells[2], { abbr: cells[0], group: cells[1], type: cells[3] });
    });
  return out;
}

function splitRrf(text: string): string[] {
  const cells = text.split("|");
  if (cells[cells.length - 1] === "") cells.pop();
  return cells;
}

/** The rows of an RRF file (blank lines skipped); a row without `width` fields becomes a skip item. */
async function* rrfRows(path: string, name: string, width: number, progress?: ProgressSink): AsyncGenerator<Atom | SourceItem> {
  for await (const { text, line } of readLines(path, progress, basename(path))) {
    if (text === "") continue;
    const cells = splitRrf(text);
    if (cells.length === width) yield { cells, line };
    else yield { kind: "skip", file: path, line, reason: `malformed ${name} row`, detail: `${cells.length} fields, ${width} expected` };
  }
}

export function umlsSource(mrconso: string, options: UmlsOptions = {}): TermSource {
  requireFile(mrconso);
  if (options.mrrel !== undefined) requireFile(options.mrrel);
  const files = [mrconso, ...(options.mrsty ? [options.mrsty] : []), ...(options.semGroups ? [options.semGroups] : []), ...(options.mrrel ? [options.mrrel] : [])];
  return { format: "umls", files, items: (progress) => umlsItems(mrconso, options, progress) };
}

interface Atom {
  readonly cells: string[];
  readonly line: number;
}

async function* umlsItems(mrconso: string, options: UmlsOptions, progress?: ProgressSink): AsyncGenerator<SourceItem> {
  const scratch = openScratch("umls", options.scratchDir);
  try {
    const types = options.mrsty ? await stageMrsty(scratch.db, options.mrsty, progress) : undefined;
    const semGroups = options.semGroups ? readSemGroups(options.semGroups) : undefined;
    const groupsOf = (cui: string): { groups: string[]; tuis: string[] } => {
      const tuis = types ? (types.all(cui) as { tui: string; sty: string }[]) : [];
      const groups = new Set<string>();
      for (const { tui, sty } of tuis) {
        const sg = semGroups?.get(tui);
        const keys = [tui, sty, sg?.abbr, sg?.group].filter((k): k is string => k !== undefined);
        const mapped = options.groupMap ? keys.map((k) => options.groupMap?.get(k.toLowerCase())).find((g) => g !== undefined) : sg?.abbr ?? tui;
        if (mapped !== undefined) groups.add(mapped);
      }
      return { groups: [...groups].sort(), tuis: tuis.map((t) => t.tui) };
    };
    const codes = options.mrrel !== undefined && options.codeFrom !== undefined ? cuiCodes(scratch.db) : undefined;
    let block: Atom[] = [];
    for await (const row of rrfRows(mrconso, "MRCONSO", MRCONSO_COLUMNS.length, progress)) {
      if (!("cells" in row)) {
        yield row;
        continue;
      }
      const { cells, line } = row;
      if (codes && cells[C.SAB] === options.codeFrom && cells[C.CODE] !== "" && cells[C.CODE] !== "NOCODE") codes.add(cells[C.CUI], cells[C.CODE]);
      if (block.length > 0 && block[0].cells[C.CUI] !== cells[C.CUI]) {
        yield* conceptItems(block, mrconso, options, groupsOf);
        block = [];
      }
      block.push({ cells, line });
    }
    if (block.length > 0) yield* conceptItems(block, mrconso, options, groupsOf);
    if (options.mrrel !== undefined) yield* mrrelItems(options.mrrel, options, codes?.lookup(), progress);
  } finally {
    scratch.dispose();
  }
}

async function stageMrsty(db: import("better-sqlite3").Database, path: string, progress?: ProgressSink) {
  db.exec("CREATE TABLE sty (cui TEXT NOT NULL, tui TEXT NOT NULL, sty TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO sty VALUES (?, ?, ?)");
  const rows = batcher<string[]>(db, (c) => insert.run(c[0], c[1], c[3]));
  for await (const { text, line } of readLines(path, progress, basename(path))) {
    if (text === "") continue;
    const cells = splitRrf(text);
    if (cells.length !== MRSTY_COLUMNS.length || !/^T\d{3}$/.test(cells[1])) {
      throw new SyncabelError("KB_FILE_INVALID", `${path}:${line}: not an MRSTY.RRF row (CUI|TUI|STN|STY|ATUI|CVF|): ${JSON.stringify(text.slice(0, 100))}`, { path, line });
    }
    rows.add(cells);
  }
  rows.flush();
  db.exec("CREATE INDEX sty_cui ON sty (cui, tui)");
  return db.prepare("SELECT DISTINCT tui, sty FROM sty WHERE cui = ? ORDER BY tui");
}

const inList = (list: readonly string[] | undefined, v: string): boolean => list === undefined || list.length === 0 || list.includes(v);

/** The items of one CUI's atoms. */
function* conceptItems(block: readonly Atom[], file: string, options: UmlsOptions, groupsOf: (cui: string) => { groups: string[]; tuis: string[] }): Generator<SourceItem> {
  const cui = block[0].cells[C.CUI];
  const xrefs: Xref[] = [];
  const seen = new Set<string>();
  for (const { cells } of block) {
    const key = `${cells[C.SAB]}\u0000${cells[C.CODE]}`;
    if (cells[C.CODE] !== "" && cells[C.CODE] !== "NOCODE" && !seen.has(key)) {
      seen.add(key);
      xrefs.push({ vocab: cells[C.SAB], id: cells[C.CODE] });
    }
  }
  xrefs.push({ vocab: "UMLS_CUI", id: cui });
  const codes = options.codeFrom === undefined ? [cui] : xrefs.filter((x) => x.vocab === options.codeFrom).map((x) => x.id);
  const { groups, tuis } = groupsOf(cui);
  const suppress = options.suppress ?? ["N"];
  const xrefsGiven = new Set<string>();
  for (const { cells, line } of block) {
    const skip = (reason: string, detail?: string): SourceItem => ({ kind: "skip", file, line, reason, detail });
    if (!inList(options.sab, cells[C.SAB])) yield skip("SAB not selected", cells[C.SAB]);
    else if (!inList(options.lat, cells[C.LAT])) yield skip("LAT not selected", cells[C.LAT]);
    else if (!inList(options.tty, cells[C.TTY])) yield skip("TTY not selected", cells[C.TTY]);
    else if (!suppress.includes(cells[C.SUPPRESS])) yield skip("suppressed or obsolete (SUPPRESS)", cells[C.SUPPRESS]);
    else if (options.isprefOnly && cells[C.ISPREF] !== "Y") yield skip("not ISPREF=Y", cells[C.AUI]);
    else if (codes.length === 0) yield skip(`concept has no ${options.codeFrom} code`, cui);
    else if (groups.length === 0) yield skip("semantic type not mapped to a group", tuis.join(",") || `${cui} has no MRSTY row`);
    else {
      const name = trimTerm(cleanText(cells[C.STR]));
      if (name === "") {
        yield skip("empty STR", cells[C.AUI]);
        continue;
      }
      const preferred = cells[C.TS] === "P" && cells[C.STT] === "PF" && cells[C.ISPREF] === "Y";
      // One item per source row: several codes or groups become rows of the same name.
      for (const code of codes) {
        for (const group of groups) {
          const row = { code, name, group, preferred, semanticTypes: tuis, xrefs: xrefsGiven.has(code) ? undefined : xrefs };
          xrefsGiven.add(code);
          yield { kind: "row", file, line, row };
        }
      }
    }
  }
}

/** The CUI -> codes table of the `codeFrom` source, filled while MRCONSO streams by. */
function cuiCodes(db: import("better-sqlite3").Database) {
  db.exec("CREATE TABLE cuicode (cui TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (cui, code)) WITHOUT ROWID");
  const insert = db.prepare("INSERT OR IGNORE INTO cuicode VALUES (?, ?)");
  const rows = batcher<[string, string]>(db, ([cui, code]) => insert.run(cui, code));
  return {
    add: (cui: string, code: string) => rows.add([cui, code]),
    lookup(): (cui: string) => string[] {
      rows.flush();
      const select = db.prepare("SELECT code FROM cuicode WHERE cui = ? ORDER BY code").pluck();
      return (cui) => select.all(cui) as string[];
    },
  };
}

/** Is-a edges of MRREL's PAR / CHD rows. */
async function* mrrelItems(path: string, options: UmlsOptions, codesOf: ((cui: string) => string[]) | undefined, progress?: ProgressSink): AsyncGenerator<SourceItem> {
  const suppress = options.suppress ?? ["N"];
  for await (const row of rrfRows(path, "MRREL", MRREL_COLUMNS.length, progress)) {
    if (!("cells" in row)) {
      yield row;
      continue;
    }
    const { cells, line } = row;
    const rel = cells[R.REL];
    if ((rel !== "PAR" && rel !== "CHD") || !inList(options.sab, cells[R.SAB]) || !suppress.includes(cells[R.SUPPRESS])) continue;
    const [child, parent] = rel === "PAR" ? [cells[R.CUI1], cells[R.CUI2]] : [cells[R.CUI2], cells[R.CUI1]];
    if (child === parent || child === "" || parent === "") continue;
    const children = codesOf ? codesOf(child) : [child];
    const parents = codesOf ? codesOf(parent) : [parent];
    for (const c of children) for (const p of parents) if (c !== p) yield { kind: "relation", file: path, line, relation: { child: c, parent: p, kind: "is_a" } };
  }
}
