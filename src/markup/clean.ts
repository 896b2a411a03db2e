/**
 * The SynCABEL text cleaning (conventions, section 1), applied to document text before marking and to
 * every KB name: brackets and braces are reserved for the markup, so they become parentheses.
 */
export function cleanText(text: string): string {
  let out = "";
  for (const ch of text) {
    switch (ch) {
      case "\u00a0": out += " "; break;
      case "[": case "{": out += "("; break;
      case "]": case "}": out += ")"; break;
      default: out += ch;
    }
  }
  return out;
}

/**
 * Unicode NFC (composed accents). Linker input and KB names are compared in this form, so "fie\u0301vre" and
 * "fiévre" are the same word. Not applied by cleanText: NFC can change a text's length, and document offsets
 * must keep pointing at the same characters.
 */
export function toNfc(text: string): string {
  return text.normalize("NFC");
}
