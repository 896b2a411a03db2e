/**
 * String order by Unicode code point, which is SQLite's BINARY order of UTF-8 text (`ORDER BY` on a TEXT
 * column). JavaScript's `<` compares UTF-16 code units instead: the two differ when a surrogate (U+D800-U+DFFF,
 * half of a character above U+FFFF) meets a unit in U+E000-U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates above U+E000-U+FFFF: then unit order is code point order.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}
