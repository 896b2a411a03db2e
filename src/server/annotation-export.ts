/**
 * Writers for the web page's exports: a document with its mentions and the concept a person accepted for each,
 * as syncabel's JSONL predictions (accepted concept first), BRAT standoff (`.ann`, code in an `N` Reference line)
 * or PubTator (title = first line, abstract = the rest, so `title + " " + abstract` keeps every offset). Each is
 * read back by the project's own readers (src/data).
 */
import { predictionJson } from "../data/predictions-writer.js";
import type { Beam } from "../linker/types.js";
import { NO_CODE } from "../linker/types.js";
import { SyncabelError } from "../errors.js";

export interface ExportMention {
  readonly id: string;
  readonly label: string;
  readonly fragments: readonly { readonly start: number; readonly end: number }[];
  /** The accepted concept (undefined: none accepted). */
  readonly code?: string;
  readonly name?: string;
  /** Ranked candidates shown to the person, best first. */
  readonly beams?: readonly Beam[];
  readonly sentence?: string;
}

export interface ExportDocument {
  readonly id: string;
  readonly text: string;
  readonly mentions: readonly ExportMention[];
}

export type ExportFormat = "jsonl" | "brat" | "pubtator";

/** No tabs or line breaks inside a field of a line-based format (same length: offsets hold). */
function flat(s: string): string {
  return s.replace(/[\t\r\n]/g, " ");
}

function mentionText(doc: ExportDocument, m: ExportMention): string {
  return m.fragments.map((f) => doc.text.slice(f.start, f.end)).join(" ");
}

/** The beams with the accepted concept first (added when it was not among them). */
function acceptedFirst(m: ExportMention, mention: string): Beam[] {
  const beams = [...(m.beams ?? [])];
  if (m.code === undefined) return beams;
  const i = beams.findIndex((b) => b.pred_concept_code === m.code);
  const accepted: Beam =
    i >= 0 ? beams.splice(i, 1)[0] : { mention, semantic_group: m.label, pred_concept_name: m.name ?? "", pred_concept_code: m.code, beam_score: 1, pred_concept_codes: [m.code] };
  return [accepted, ...beams];
}

export function exportJsonl(doc: ExportDocument): string {
  return doc.mentions
    .map((m) => {
      const text = mentionText(doc, m);
      const record = predictionJson({
        document: doc.id,
        mention: { id: m.id, label: m.label, fragments: m.fragments, text, codes: [] },
        sentence: m.sentence ?? "",
        beams: acceptedFirst(m, text),
      });
      // The accepted concept also as its own field, for readers that do not rank beams.
      return JSON.stringify({ ...record, accepted_code: m.code ?? NO_CODE });
    })
    .map((l) => `${l}\n`)
    .join("");
}

export function exportBrat(doc: ExportDocument): string {
  const lines: string[] = [];
  doc.mentions.forEach((m, k) => {
    const t = `T${k + 1}`;
    const spans = m.fragments.map((f) => `${f.start} ${f.end}`).join(";");
    lines.push(`${t}\t${flat(m.label).replace(/ /g, "_")} ${spans}\t${flat(mentionText(doc, m))}`);
    if (m.code !== undefined && m.code !== NO_CODE) lines.push(`N${k + 1}\tReference ${t} KB:${m.code.replace(/\s/g, "_")}\t${flat(m.name ?? "")}`);
  });
  return lines.map((l) => `${l}\n`).join("");
}

export function exportPubtator(doc: ExportDocument): string {
  const id = doc.id.replace(/[|\t\r\n\s]/g, "_") || "doc";
  const br = doc.text.search(/\r?\n|\r/);
  const title = br < 0 ? doc.text : doc.text.slice(0, br);
  // A CRLF break is two characters: the abstract keeps the second as a space so offsets after it still hold.
  const abstract = br < 0 ? "" : doc.text.slice(br + 1);
  const lines = [`${id}|t|${flat(title)}`, `${id}|a|${flat(abstract)}`];
  for (const m of doc.mentions) {
    const start = m.fragments[0].start;
    const end = m.fragments[m.fragments.length - 1].end;
    const code = m.code === undefined || m.code === NO_CODE ? "-1" : m.code;
    lines.push([id, start, end, flat(doc.text.slice(start, end)), flat(m.label), flat(code)].join("\t"));
  }
  return `${lines.join("\n")}\n\n`;
}

export function exportDocument(doc: ExportDocument, format: ExportFormat): string {
  switch (format) {
    case "jsonl":
      return exportJsonl(doc);
    case "brat":
      return exportBrat(doc);
    case "pubtator":
      return exportPubtator(doc);
    default:
      throw new SyncabelError("REQUEST_INVALID", `unknown export format ${JSON.stringify(format)}: use jsonl, brat or pubtator`);
  }
}
