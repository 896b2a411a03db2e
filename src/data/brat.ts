/**
 * BRAT standoff: a folder of `<doc>.txt` + `<doc>.ann` pairs (or one `.ann` file). Entities are
 * `T1<TAB>Label 0 5;8 12<TAB>text` (`;` separates the fragments of a discontinuous mention; the text
 * field joins them with a space). Gold codes come from normalisation lines, either BRAT's own
 * `N1<TAB>Reference T1 SNOMED:123<TAB>name`, or notes `#1<TAB>Reference T1 SNOMED:123` /
 * `#1<TAB>AnnotatorNotes T1<TAB>123`. A `DB:` prefix is dropped (`SNOMED:123` -> `123`); several codes
 * on one mention (several lines, or `a+b` / `a|b`) make a composite mention. Other lines are ignored.
 */
import { readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { SyncabelError } from "../errors.js";
import { checkFragments } from "./offsets.js";
import { ProblemLog } from "./problems.js";
import { readTextFile, splitLines } from "./read-text.js";
import type { Dataset, Document, Mention, ReadOptions, Span } from "./types.js";
import { goldCodesOf } from "./gold-codes.js";

/** `SNOMED:123` -> `123`; `C0011849` stays. Composite `a+b` / `a|b` -> several codes. */
export function parseBratCodes(field: string): string[] {
  return goldCodesOf(field.split(/[+|]/).map((c) => c.trim().replace(/^[A-Za-z][A-Za-z0-9_-]*:(?=\S)/, "")));
}

function annFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new SyncabelError("DATA_FILE_MISSING", `the BRAT folder or file ${path} does not exist`, { file: path }, { cause: e });
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((n) => n.endsWith(".ann"))
    .sort()
    .map((n) => join(path, n));
}

interface Entity {
  readonly id: string;
  readonly line: number;
  readonly label: string;
  readonly fragments: Span[];
  readonly text: string;
  readonly codes: string[];
}

export async function readBrat(path: string, options: ReadOptions = {}): Promise<Dataset> {
  const log = new ProblemLog(options.strict ?? false);
  const documents: Document[] = [];
  for (const ann of annFiles(path)) {
    const id = basename(ann, ".ann");
    const txtPath = ann.replace(/\.ann$/, ".txt");
    let text: string;
    try {
      text = await readTextFile(txtPath, "the text file");
    } catch (e) {
      log.error("DATA_FILE_MISSING", ann, undefined, `${(e as Error).message}: the document is skipped`, id);
      continue;
    }
    const lines = splitLines(await readTextFile(ann, "BRAT annotation file", { stripBom: true }));
    const entities = new Map<string, Entity>();
    const notes: { target: string; codes: string[]; line: number }[] = [];
    lines.forEach((raw, k) => {
      const lineNo = k + 1;
      if (raw.trim() === "") return;
      const f = raw.split("\t");
      const kind = (f[0] as string).charAt(0);
      if (kind === "T") {
        const m = /^(\S+)\s+(\d+\s+\d+(?:;\d+\s+\d+)*)$/.exec((f[1] ?? "").trim());
        if (f.length < 3 || m === null) {
          log.error("DATA_BAD_ROW", ann, lineNo, "an entity line must be `T<n><TAB>Label START END[;START END...]<TAB>text`", id);
          return;
        }
        const fragments = (m[2] as string).split(";").map((p) => {
          const [s, e] = p.trim().split(/\s+/).map(Number) as [number, number];
          return { start: s, end: e };
        });
        const check = checkFragments(text, fragments, f.slice(2).join("\t"));
        if (!check.ok) {
          log.error("DATA_OFFSET_MISMATCH", ann, lineNo, check.reason, id);
          return;
        }
        const mentionText = fragments.map((g) => text.slice(g.start, g.end)).join(" ");
        entities.set(f[0] as string, { id: f[0] as string, line: lineNo, label: m[1] as string, fragments, text: mentionText, codes: [] });
      } else if (kind === "N" || kind === "#") {
        const head = (f[1] ?? "").trim().split(/\s+/);
        const [type, target, ...rest] = head;
        if (target === undefined) {
          log.error("DATA_BAD_ROW", ann, lineNo, "a normalisation/note line must name its target entity (`Reference T1 DB:ID`)", id);
          return;
        }
        // N lines and `#` Reference notes carry the code in the second field; AnnotatorNotes in the third.
        const codeField = type === "AnnotatorNotes" ? (f[2] ?? "") : rest.join(" ");
        if (kind === "#" && type !== "Reference" && type !== "AnnotatorNotes") return;
        const codes = parseBratCodes(codeField);
        if (codes.length > 0) notes.push({ target, codes, line: lineNo });
      }
    });
    for (const n of notes) {
      const e = entities.get(n.target);
      if (e === undefined) {
        log.warn("DATA_BAD_ROW", ann, n.line, `the note names entity ${n.target}, which is not (validly) defined; it is ignored`, id);
        continue;
      }
      for (const c of n.codes) if (!e.codes.includes(c)) e.codes.push(c);
    }
    const mentions: Mention[] = [...entities.values()].map((e) => ({ id: e.id, label: e.label, fragments: e.fragments, text: e.text, codes: e.codes, source: `${ann}:${e.line}` }));
    documents.push({ id, text, mentions, ...(options.language === undefined ? {} : { language: options.language }) });
  }
  return { format: "brat", documents, problems: log.sorted() };
}
