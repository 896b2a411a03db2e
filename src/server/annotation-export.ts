/**
 * Writers for the web page's exports: a document with its mentions, each with its review state (unreviewed /
 * accepted / changed / rejected) and the concept a person accepted, as syncabel's JSONL predictions (accepted
 * concept first, `review_state`, `accepted_code` only for reviewed mentions), BRAT standoff (`.ann`: code in an
 * `N` Reference line for reviewed mentions, the state in an `A` attribute line `Review T1 accepted`) or PubTator
 * (title = first line, abstract = the rest, so `title + " " + abstract` keeps every offset; codes of reviewed
 * mentions only, -1 for the others). With `all`, BRAT and PubTator also carry the linker's code of unreviewed
 * mentions. Each is read back by the project's own readers (src/data).
 */
import { predictionJson } from "../data/predictions-writer.js";
import type { Beam } from "../linker/types.js";
import { NO_CODE } from "../linker/types.js";
import { SyncabelError } from "../errors.js";
import type { KnowledgeBase } from "../kb/types.js";

export const REVIEW_STATES = ["unreviewed", "accepted", "changed", "rejected"] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];

export interface ExportMention {
  readonly id: string;
  readonly label: string;
  readonly fragments: readonly { readonly start: number; readonly end: number }[];
  /**
   * unreviewed, accepted (the linker's answer), changed (another concept), rejected (no concept). Absent: accepted
   * when `code` is given, else unreviewed.
   */
  readonly review?: ReviewState;
  /** The concept a person accepted (accepted / changed); ignored for the other states. */
  readonly code?: string;
  /** The linker's answer (its top code; NO_CODE when it abstained) and its calibrated confidence. */
  readonly suggested_code?: string;
  readonly confidence?: number;
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

export interface ExportOptions {
  /** BRAT / PubTator: also write the linker's code of unreviewed mentions (default: reviewed codes only). */
  readonly all?: boolean;
}

/** A mention's state; without one, a given code is taken as accepted (the API before review states). */
function stateOf(m: ExportMention): ReviewState {
  return m.review ?? (m.code !== undefined ? "accepted" : "unreviewed");
}

/** The code a person decided (accepted / changed), undefined otherwise. */
function reviewedCode(m: ExportMention): string | undefined {
  const s = stateOf(m);
  return (s === "accepted" || s === "changed") && m.code !== undefined && m.code !== NO_CODE ? m.code : undefined;
}

/** The code written in BRAT / PubTator: the reviewed one; with `all` an unreviewed mention's linker code too. */
function writtenCode(m: ExportMention, options: ExportOptions): string | undefined {
  const reviewed = reviewedCode(m);
  if (reviewed !== undefined) return reviewed;
  if (options.all && stateOf(m) === "unreviewed" && m.suggested_code !== undefined && m.suggested_code !== NO_CODE) return m.suggested_code;
  return undefined;
}

/** No tabs or line breaks inside a field of a line-based format (same length: offsets hold). */
function flat(s: string): string {
  return s.replace(/[\t\r\n]/g, " ");
}

function mentionText(doc: ExportDocument, m: ExportMention): string {
  return m.fragments.map((f) => doc.text.slice(f.start, f.end)).join(" ");
}

/** The beams with the reviewed concept first (added when it was not among them); the linker's order otherwise. */
function acceptedFirst(m: ExportMention, mention: string): Beam[] {
  const beams = [...(m.beams ?? [])];
  const code = reviewedCode(m);
  if (code === undefined) return beams;
  const i = beams.findIndex((b) => b.pred_concept_code === code);
  const accepted: Beam =
    i >= 0 ? (beams.splice(i, 1)[0] as Beam) : { mention, semantic_group: m.label, pred_concept_name: m.name ?? "", pred_concept_code: code, beam_score: 1, pred_concept_codes: code.split("+") };
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
      // The decision as fields of its own: the state, and the accepted code only where a person decided one
      // (NO_CODE for a rejected link).
      const state = stateOf(m);
      const accepted = state === "rejected" ? NO_CODE : reviewedCode(m);
      return JSON.stringify({
        ...record,
        review_state: state,
        ...(accepted === undefined ? {} : { accepted_code: accepted }),
        ...(m.suggested_code === undefined ? {} : { suggested_code: m.suggested_code }),
        ...(m.confidence === undefined ? {} : { confidence: m.confidence }),
      });
    })
    .map((l) => `${l}\n`)
    .join("");
}

export function exportBrat(doc: ExportDocument, options: ExportOptions = {}): string {
  const lines: string[] = [];
  doc.mentions.forEach((m, k) => {
    const t = `T${k + 1}`;
    const spans = m.fragments.map((f) => `${f.start} ${f.end}`).join(";");
    lines.push(`${t}\t${flat(m.label).replace(/ /g, "_")} ${spans}\t${flat(mentionText(doc, m))}`);
    const code = writtenCode(m, options);
    const name = code === reviewedCode(m) ? (m.name ?? "") : (m.beams?.find((b) => b.pred_concept_code === code)?.pred_concept_name ?? "");
    if (code !== undefined) lines.push(`N${k + 1}\tReference ${t} KB:${code.replace(/\s/g, "_")}\t${flat(name)}`);
    lines.push(`A${k + 1}\tReview ${t} ${stateOf(m)}`);
  });
  return lines.map((l) => `${l}\n`).join("");
}

export function exportPubtator(doc: ExportDocument, options: ExportOptions = {}): string {
  const id = doc.id.replace(/[|\t\r\n\s]/g, "_") || "doc";
  const br = doc.text.search(/\r?\n|\r/);
  const title = br < 0 ? doc.text : doc.text.slice(0, br);
  // A CRLF break is two characters: the abstract keeps the second as a space so offsets after it still hold.
  const abstract = br < 0 ? "" : doc.text.slice(br + 1);
  const lines = [`${id}|t|${flat(title)}`, `${id}|a|${flat(abstract)}`];
  for (const m of doc.mentions) {
    const start = m.fragments[0].start;
    const end = m.fragments[m.fragments.length - 1].end;
    const code = writtenCode(m, options) ?? "-1";
    lines.push([id, start, end, flat(doc.text.slice(start, end)), flat(m.label), flat(code)].join("\t"));
  }
  return `${lines.join("\n")}\n\n`;
}

export function exportDocument(doc: ExportDocument, format: ExportFormat, options: ExportOptions = {}): string {
  switch (format) {
    case "jsonl":
      return exportJsonl(doc);
    case "brat":
      return exportBrat(doc, options);
    case "pubtator":
      return exportPubtator(doc, options);
    default:
      throw new SyncabelError("REQUEST_INVALID", `unknown export format ${JSON.stringify(format)}: use jsonl, brat or pubtator`);
  }
}

/**
 * `GET /v1/concept/a+b` for a composite code the KB does not hold as such: each part's card and names (a part the
 * KB lacks gets its code alone), and every name of the parts. Undefined when no part is a KB concept.
 */
export function compositeConceptInfo(kb: KnowledgeBase, code: string): Record<string, unknown> | undefined {
  const codes = code.split("+").map((c) => c.trim()).filter((c) => c !== "");
  if (codes.length < 2) return undefined;
  const parts = codes.map((c) => {
    const card = kb.concept(c);
    return card === undefined ? { code: c } : { code: c, title: card.title, groups: card.groups, names: kb.namesOfCode(c) };
  });
  if (parts.every((p) => !("names" in p))) return undefined;
  return { code, composite: true, parts, names: parts.flatMap((p) => ("names" in p ? p.names : [])) };
}
