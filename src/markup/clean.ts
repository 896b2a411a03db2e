/**
 * The SynCABEL text cleaning (conventions, section 1), applied to document text before marking and to
 * every KB name: brackets and braces are reserved for the markup, so they become parentheses.
 */
const CLEANED: Readonly<Record<string, string>> = { "\u00a0": " ", "[": "(", "{": "(", "]": ")", "}": ")" };

export function cleanText(text: string): string {
  // One replace: a flat string in linear time (appending character by character built a rope as long as the text).
  return text.replace(/[\u00a0[\]{}]/g, (c) => CLEANED[c] as string);
}

/**
 * Unicode NFC (composed accents). Linker input and KB names are compared in this form, so "fie\u0301vre" and
 * "fiévre" are the same word. Not applied by cleanText: NFC can change a text's length, and document offsets
 * must keep pointing at the same characters.
 */
export function toNfc(text: string): string {
  return text.normalize("NFC");
}
