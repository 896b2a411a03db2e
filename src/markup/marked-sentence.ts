import { toNfc } from "./clean.js";
import { SyncabelError } from "../errors.js";

/** A character span [start, end) in a plain (unmarked) text. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** One parsed `[mention]{GROUP}` sentence (a discontinuous mention has several fragments). */
export interface MarkedSentence {
  /** The marked sentence as given (non-breaking spaces folded), used verbatim in the prompt. */
  readonly marked: string;
  /** The sentence with the markup removed. */
  readonly plain: string;
  /** The mention text: the fragments joined by one space. */
  readonly mention: string;
  /** Fragment offsets in `plain`, in order. */
  readonly fragments: readonly Span[];
  readonly group: string;
}

export interface ParseOptions {
  /** When given, a group outside this set is an error (MARKUP_UNKNOWN_GROUP). */
  readonly knownGroups?: ReadonlySet<string> | readonly string[];
}

function fail(code: ConstructorParameters<typeof SyncabelError>[0], sentence: string, why: string, at?: number): never {
  const where = at === undefined ? "" : ` (at character ${at})`;
  throw new SyncabelError(code, `${why}${where} in sentence: ${JSON.stringify(truncate(sentence))}`, {
    sentence: truncate(sentence),
    ...(at === undefined ? {} : { position: at }),
  });
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

/**
 * Parse a marked sentence. Exactly one mention may be marked; its fragments are bracketed and the group
 * in braces follows the last fragment's closing bracket immediately.
 */
export function parseMarkedSentence(input: string, options: ParseOptions = {}): MarkedSentence {
  if (typeof input !== "string") {
    throw new SyncabelError("MARKUP_NO_BRACKETS", "a marked sentence must be a string", {});
  }
  // NFC: a mention typed with decomposed accents must match the (NFC) KB names.
  const marked = toNfc(input).replace(/\u00a0/g, " ");
  let plain = "";
  const fragments: Span[] = [];
  let open = -1; // position in `plain` where the current fragment started, -1 if none open
  let openAt = -1;
  let group: string | undefined;

  for (let i = 0; i < marked.length; i++) {
    const ch = marked[i];
    if (ch === "[") {
      if (open >= 0) fail("MARKUP_NESTED", marked, "a '[' opens inside another bracketed fragment", i);
      if (group !== undefined) fail("MARKUP_MULTIPLE_MENTIONS", marked, "a second mention is marked after the {group}", i);
      open = plain.length;
      openAt = i;
    } else if (ch === "]") {
      if (open < 0) fail("MARKUP_UNBALANCED", marked, "a ']' closes no '['", i);
      const frag = { start: open, end: plain.length };
      if (plain.slice(frag.start, frag.end).trim() === "") fail("MARKUP_EMPTY_MENTION", marked, "a bracketed fragment is empty", openAt);
      fragments.push(frag);
      open = -1;
      if (marked[i + 1] === "{") {
        const close = marked.indexOf("}", i + 2);
        if (close < 0) fail("MARKUP_UNBALANCED", marked, "a '{' opens a group that no '}' closes", i + 1);
        const g = marked.slice(i + 2, close).trim();
        if (g === "") fail("MARKUP_NO_GROUP", marked, "the {group} is empty", i + 1);
        if (/[[\]{}]/.test(g)) fail("MARKUP_NESTED", marked, "the {group} contains a bracket", i + 1);
        group = g;
        i = close;
      }
    } else if (ch === "{" || ch === "}") {
      fail("MARKUP_UNBALANCED", marked, `a '${ch}' stands outside a group right after ']'`, i);
    } else {
      plain += ch;
    }
  }
  if (open >= 0) fail("MARKUP_UNBALANCED", marked, "a '[' is never closed", openAt);
  if (fragments.length === 0) fail("MARKUP_NO_BRACKETS", marked, "no [mention] is marked");
  if (group === undefined) fail("MARKUP_NO_GROUP", marked, "no {GROUP} follows the last ']'");
  if (options.knownGroups) {
    const known = options.knownGroups instanceof Set ? options.knownGroups : new Set(options.knownGroups as readonly string[]);
    if (!known.has(group)) {
      throw new SyncabelError(
        "MARKUP_UNKNOWN_GROUP",
        `unknown group ${JSON.stringify(group)} (known: ${[...known].sort().join(", ")}) in sentence: ${JSON.stringify(truncate(marked))}`,
        { sentence: truncate(marked), group },
      );
    }
  }
  const mention = fragments.map((f) => plain.slice(f.start, f.end)).join(" ");
  return { marked, plain, mention, fragments, group };
}

/**
 * Insert the markup into a plain text: every fragment bracketed, `{group}` after the last one.
 * Fragments must be sorted, non-overlapping and inside the text.
 */
export function markSentence(plain: string, fragments: readonly Span[], group: string): string {
  let out = "";
  let pos = 0;
  fragments.forEach((f, k) => {
    if (f.start < pos || f.end < f.start || f.end > plain.length) {
      throw new SyncabelError("MARKUP_BAD_OFFSETS", `fragment ${f.start}-${f.end} does not fit a text of ${plain.length} characters (or overlaps the previous one)`, {
        start: f.start,
        end: f.end,
      });
    }
    out += plain.slice(pos, f.start) + "[" + plain.slice(f.start, f.end) + "]";
    if (k === fragments.length - 1) out += `{${group}}`;
    pos = f.end;
  });
  return out + plain.slice(pos);
}

const MARKUP_CHARS = /[[\]{}]/;

/**
 * The MarkedSentence that `parseMarkedSentence(markSentence(plain, fragments, group))` gives, built without the
 * string round trip: a document's mentions (src/data/mention-queries.ts) become linker input directly. The parser
 * normalises the marked string to NFC; markup characters are starters, so the text between them normalises on its
 * own and the pieces are normalised one by one here. Text with markup characters (never a cleaned document text)
 * takes the parser's way, so its errors stay the parser's.
 */
export function markedSentenceOf(plain: string, fragments: readonly Span[], group: string): MarkedSentence {
  const marked = markSentence(plain, fragments, group);
  if (fragments.length === 0) fail("MARKUP_NO_BRACKETS", marked, "no [mention] is marked");
  if (MARKUP_CHARS.test(plain) || MARKUP_CHARS.test(group)) return parseMarkedSentence(marked);
  const norm = (s: string): string => toNfc(s).replace(/\u00a0/g, " ");
  const g = norm(group).trim();
  if (g === "") fail("MARKUP_NO_GROUP", norm(marked), "the {group} is empty");
  let out = "";
  let pos = 0;
  const spans: Span[] = [];
  for (const f of fragments) {
    out += norm(plain.slice(pos, f.start));
    const start = out.length;
    out += norm(plain.slice(f.start, f.end));
    if (out.slice(start).trim() === "") fail("MARKUP_EMPTY_MENTION", norm(marked), "a bracketed fragment is empty");
    spans.push({ start, end: out.length });
    pos = f.end;
  }
  out += norm(plain.slice(pos));
  return { marked: norm(marked), plain: out, mention: spans.map((f) => out.slice(f.start, f.end)).join(" "), fragments: spans, group: g };
}
