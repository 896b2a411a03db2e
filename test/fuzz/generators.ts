/** Generators of hostile inputs for the fuzz campaigns: marked sentences, terminology files, datasets, damage. */
import { int, pick } from "./harness.js";

export const GROUPS = ["ENFERMEDAD", "SINTOMA", "PROCEDIMIENTO"];
const SYLLABLES = ["fie", "bre", "tos", "ce", "fa", "lea", "em", "bo", "lia", "pul", "mo", "nar", "dia", "be", "tes", "gas", "tri", "tis", "ané", "mia", "dolor", "to", "rá", "cico"];
const ODD = ["[", "]", "{", "}", "[]", "{}", "]{", "\t", "\u0000", "\u00a0", "\ufeff", "e\u0301", "\u202e", "😷", "\\", '"', "'", "\u2028", "NO_CODE", "<SEP>", "+", "|"];

export function word(random: () => number): string {
  return Array.from({ length: int(random, 1, 3) }, () => pick(random, SYLLABLES)).join("");
}

export function term(random: () => number): string {
  return Array.from({ length: int(random, 1, 3) }, () => word(random)).join(" ");
}

/** Insert odd characters at random places. */
export function sprinkle(random: () => number, text: string, n: number): string {
  let s = text;
  for (let i = 0; i < n; i++) {
    const at = int(random, 0, s.length);
    s = s.slice(0, at) + pick(random, ODD) + s.slice(at);
  }
  return s;
}

/** A marked sentence: mostly well-formed around KB-like names, often broken in one of many ways. */
export function markedSentence(random: () => number, names: readonly { name: string; group: string }[]): string {
  const entry = pick(random, names);
  const mention = random() < 0.7 ? entry.name : term(random);
  const group = random() < 0.85 ? entry.group : pick(random, [...GROUPS, "", "OTRO", "SIN TOMA", "grupo raro"]);
  let s = `${term(random)} con [${mention}]{${group}} ${term(random)}.`;
  const r = random();
  if (r < 0.15) s = sprinkle(random, s, int(random, 1, 4));
  else if (r < 0.2) s = `${s} y [${term(random)}]{${group}}`;
  else if (r < 0.25) s = s.replace("[", "");
  else if (r < 0.3) s = `${"palabra ".repeat(int(random, 200, 3000))}[${mention}]{${group}}`;
  else if (r < 0.35) s = s.normalize("NFD");
  else if (r < 0.4) s = JSON.stringify({ sentence: s });
  else if (r < 0.43) s = JSON.stringify({ sentence: random() < 0.5 ? null : 42 });
  else if (r < 0.46) s = `[${mention}]{${group}}`;
  else if (r < 0.5) s = `${s}\r`;
  return s.replace(/\n/g, " ");
}

export interface GazetteerFile {
  readonly text: string;
  readonly format: "tsv" | "jsonl";
}

/** A terminology file with a header (TSV) or objects (JSONL) and rows damaged in assorted ways. */
export function gazetteerFile(random: () => number, rows: number): GazetteerFile {
  const format = random() < 0.75 ? "tsv" : "jsonl";
  const lines: string[] = [];
  const columns = random() < 0.5 ? ["code", "term", "group"] : pick(random, [["CUI", "STR", "label", "preferred"], ["group", "code", "name", "semantic_type", "definition"], ["id", "synonym", "category", "extra"]]);
  if (format === "tsv") lines.push((random() < 0.1 ? "\ufeff" : "") + columns.join("\t"));
  for (let i = 0; i < rows; i++) {
    const code = random() < 0.05 ? "" : String(int(random, 1, rows * 2));
    let name = term(random);
    let group = pick(random, GROUPS);
    const r = random();
    if (r < 0.05) name = sprinkle(random, name, 1);
    else if (r < 0.08) group = pick(random, ["SIN{TOMA}", "[G]", "", " ", "A\tB"]);
    else if (r < 0.1) name = "x".repeat(int(random, 900, 3000));
    else if (r < 0.12) name = name.normalize("NFD") + "e\u0301";
    else if (r < 0.14) name = `${name}\r${term(random)}`;
    else if (r < 0.16) name = "";
    if (format === "jsonl") {
      const obj: Record<string, unknown> = { code, term: name, group };
      if (random() < 0.1) obj.term = pick(random, [null, 42, ["a", "b"], { x: 1 }, true]);
      if (random() < 0.05) obj.preferred = pick(random, ["1", "yes", name, 0]);
      let line = JSON.stringify(obj);
      if (random() < 0.05) line = line.slice(0, int(random, 0, line.length));
      if (random() < 0.03) line = pick(random, ["null", "[]", "42", '"text"', "{"]);
      lines.push(line);
    } else {
      const byColumn: Record<string, string> = {};
      columns.forEach((c, k) => (byColumn[c] = [code, name, group][k] ?? (random() < 0.5 ? "1" : "")));
      let line = columns.map((c) => byColumn[c]).join("\t");
      if (random() < 0.04) line += `\t${term(random)}`;
      if (random() < 0.04) line = line.split("\t").slice(0, 2).join("\t");
      lines.push(line);
    }
    if (random() < 0.05) lines.push(random() < 0.5 ? "" : "   ");
  }
  const eol = random() < 0.2 ? "\r\n" : "\n";
  return { text: lines.join(eol) + (random() < 0.9 ? eol : ""), format };
}

export interface GeneratedDataset {
  readonly gold: string;
  readonly texts: Record<string, string>;
}

/** A SPACCC gold TSV with its texts: mostly valid mentions, some with broken offsets, labels or columns. */
export function spacccDataset(random: () => number, names: readonly { name: string; group: string; code: string }[], docs: number): GeneratedDataset {
  const texts: Record<string, string> = {};
  const rows: string[] = ["filename\tlabel\tstart_span\tend_span\tspan\tcode"];
  for (let d = 0; d < docs; d++) {
    const id = `doc${d}`;
    let text = "";
    const mentions: { start: number; end: number; entry: (typeof names)[number] }[] = [];
    for (let s = 0; s < int(random, 1, 5); s++) {
      const entry = pick(random, names);
      text += `${term(random)} `;
      const start = text.length;
      text += entry.name;
      mentions.push({ start, end: text.length, entry });
      text += `${random() < 0.2 ? "" : " "}${term(random)}. `;
    }
    if (random() < 0.1) text = sprinkle(random, text, 2); // offsets after the damage no longer match: rows skipped or repaired
    texts[id] = text;
    for (const m of mentions) {
      let start = String(m.start);
      let end = String(m.end);
      let label = m.entry.group;
      const r = random();
      if (r < 0.04) start = String(text.length + 5);
      else if (r < 0.07) [start, end] = [end, start];
      else if (r < 0.09) start = "x";
      else if (r < 0.11) label = "OTRO";
      let row = `${id}\t${label}\t${start}\t${end}\t${text.slice(m.start, m.end)}\t${random() < 0.1 ? "NO_CODE" : m.entry.code}`;
      if (random() < 0.03) row += "\textra";
      rows.push(row);
      if (random() < 0.03) rows.push(row); // a repeated row
    }
  }
  return { gold: `${rows.join("\n")}\n`, texts };
}

/** Damage bytes in place: overwrite a run, zero a page, truncate, or append junk. Returns the new bytes. */
export function damage(random: () => number, bytes: Buffer): Buffer {
  const r = random();
  if (r < 0.15) return bytes.subarray(0, int(random, 0, bytes.length - 1));
  if (r < 0.2) return Buffer.concat([bytes, Buffer.from(Array.from({ length: int(random, 1, 5000) }, () => int(random, 0, 255)))]);
  const out = Buffer.from(bytes);
  if (r < 0.35) {
    const page = 4096 * int(random, 0, Math.max(0, Math.floor(out.length / 4096) - 1));
    out.fill(0, page, Math.min(out.length, page + 4096));
    return out;
  }
  const runs = int(random, 1, 4);
  for (let k = 0; k < runs; k++) {
    const at = int(random, 0, out.length - 1);
    const len = int(random, 1, 64);
    for (let i = at; i < Math.min(out.length, at + len); i++) out[i] = int(random, 0, 255);
  }
  return out;
}

/** A PubTator file (title, abstract, mention lines): mostly valid, some lines broken. */
export function pubtatorDataset(random: () => number, names: readonly { name: string; group: string; code: string }[], docs: number): string {
  const blocks: string[] = [];
  for (let d = 0; d < docs; d++) {
    const id = String(1000 + d);
    const title = `${term(random)} ${pick(random, names).name}`;
    let abstract = "";
    const mentions: string[] = [];
    for (let s = 0; s < int(random, 1, 4); s++) {
      const entry = pick(random, names);
      abstract += `${term(random)} `;
      const start = title.length + 1 + abstract.length;
      abstract += entry.name;
      let line = `${id}\t${start}\t${start + entry.name.length}\t${entry.name}\t${entry.group}\t${random() < 0.1 ? "-1" : entry.code}`;
      const r = random();
      if (r < 0.05) line = line.replace(/\t\d+\t/, "\tx\t");
      else if (r < 0.08) line = `${id}\t${start + 1000}\t${start + 1001}\t${entry.name}\t${entry.group}\t${entry.code}`;
      else if (r < 0.1) line = `${id}\tCID\t${entry.code}\t${entry.code}`;
      mentions.push(line);
      abstract += ". ";
    }
    blocks.push([`${id}|t|${title}`, `${id}|a|${random() < 0.05 ? sprinkle(random, abstract, 1) : abstract}`, ...mentions].join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}
