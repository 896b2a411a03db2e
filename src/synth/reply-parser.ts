import { markSentence } from "../markup/marked-sentence.js";
import { LINE_PREFIX, type SynthLanguage } from "./language.js";

/** One accepted line of a reply. */
export interface ParsedSentence {
  readonly marked: string;
  readonly text: string;
  readonly mention: string;
  readonly start: number;
  readonly end: number;
}

export type LineProblem = "no_brackets" | "several_brackets" | "unbalanced_brackets" | "empty_mention" | "braces" | "too_short";

export interface ParsedReply {
  readonly sentences: readonly ParsedSentence[];
  /** Lines that carried the prefix but were rejected, by problem. */
  readonly rejected: Readonly<Partial<Record<LineProblem, number>>>;
  /** Lines without the language's prefix (commentary, headings, other languages' prefixes). */
  readonly unprefixed: number;
}

// Decorations models put before the prefix: list bullets, numbering, markdown emphasis, quotes.
const LEADING_DECORATION = /^(?:[-*•>]\s*|\d+[.)]\s*|\*\*|__|["'«“])*/u;

function stripQuotes(s: string): string {
  let t = s.trim();
  t = t.replace(/^["'«“]+\s*/u, "").replace(/\s*["'»”]+$/u, "");
  return t.trim();
}

/** The content after the prefix, or undefined when the line does not carry it. */
function afterPrefix(line: string, prefix: string): string | undefined {
  const trimmed = line.trim().replace(LEADING_DECORATION, "").replace(/^\*\*|\*\*$/g, "");
  // Tolerate case and the spacing before the colon ("Ejemplo :", "exemple:").
  const word = prefix.replace(/\s*:$/, "");
  const m = new RegExp(`^${word}\\s*:\\**\\s*`, "iu").exec(trimmed);
  if (m === null) return undefined;
  return trimmed.slice(m[0].length);
}

/** Validate one sentence: exactly one non-empty `[...]` and no other markup characters. */
export function parseSyntheticLine(content: string, group: string): ParsedSentence | LineProblem {
  let s = stripQuotes(content);
  // A model that copies the markup convention writes `[m]{GROUP}`: drop a brace group right after `]`.
  s = s.replace(/\]\{[^{}[\]]*\}/u, "]");
  const opens = [...s].filter((c) => c === "[").length;
  const closes = [...s].filter((c) => c === "]").length;
  if (opens === 0 && closes === 0) return "no_brackets";
  if (opens !== closes) return "unbalanced_brackets";
  if (opens > 1) return "several_brackets";
  if (/[{}]/.test(s)) return "braces";
  const open = s.indexOf("[");
  const close = s.indexOf("]");
  if (close < open) return "unbalanced_brackets";
  const rawMention = s.slice(open + 1, close);
  const mention = rawMention.trim();
  if (mention === "") return "empty_mention";
  // Spaces just inside the brackets move outside, so offsets cover the mention exactly.
  const lead = rawMention.length - rawMention.trimStart().length;
  const before = s.slice(0, open) + rawMention.slice(0, lead);
  const after = rawMention.slice(lead + mention.length) + s.slice(close + 1);
  const text = before + mention + after;
  if (text.trim().split(/\s+/).length < 3) return "too_short";
  const start = before.length;
  const end = start + mention.length;
  return { marked: markSentence(text, [{ start, end }], group), text, mention, start, end };
}

/** Keep the lines with the language's prefix and exactly one bracketed mention. */
export function parseReply(reply: string, language: SynthLanguage, group: string): ParsedReply {
  const prefix = LINE_PREFIX[language];
  const sentences: ParsedSentence[] = [];
  const rejected: Partial<Record<LineProblem, number>> = {};
  let unprefixed = 0;
  for (const line of reply.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const content = afterPrefix(line, prefix);
    if (content === undefined) {
      unprefixed++;
      continue;
    }
    const parsed = parseSyntheticLine(content, group);
    if (typeof parsed === "string") rejected[parsed] = (rejected[parsed] ?? 0) + 1;
    else sentences.push(parsed);
  }
  return { sentences, rejected, unprefixed };
}

/** A one-line reason for a reply with too few valid lines. */
export function describeShortfall(parsed: ParsedReply, wanted: number, language: SynthLanguage): string {
  const parts = Object.entries(parsed.rejected).map(([k, v]) => `${v} ${k.replace(/_/g, " ")}`);
  if (parsed.unprefixed > 0) parts.push(`${parsed.unprefixed} without prefix ${JSON.stringify(LINE_PREFIX[language])}`);
  return `${parsed.sentences.length} of ${wanted} valid lines${parts.length > 0 ? ` (rejected: ${parts.join(", ")})` : ""}`;
}
