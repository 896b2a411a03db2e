/**
 * Word-bounded character n-grams, as scikit-learn's `analyzer="char_wb"`: the text is lower-cased, split on
 * whitespace, every word padded with one space on each side, and n-grams taken inside each padded word (a padded
 * word shorter than n yields itself). Characters are Unicode code points, as in Python.
 */
export function charWbNgrams(text: string, n = 3): string[] {
  const out: string[] = [];
  for (const word of text.toLowerCase().split(/\s+/u)) {
    if (word === "") continue;
    const padded = ` ${word} `;
    if (!/[\uD800-\uDFFF]/.test(padded)) {
      // Fast path: no surrogate pairs, so UTF-16 units are code points.
      if (padded.length <= n) out.push(padded);
      else for (let i = 0; i + n <= padded.length; i++) out.push(padded.substring(i, i + n));
      continue;
    }
    const chars = Array.from(padded);
    if (chars.length <= n) out.push(padded);
    else for (let i = 0; i + n <= chars.length; i++) out.push(chars.slice(i, i + n).join(""));
  }
  return out;
}
