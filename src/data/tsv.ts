/**
 * Tab-separated fields. SPACCC gold files are read with a plain tab split (no quoting: a few spans hold
 * quote characters). The authors' predictions files were written by a CSV writer with tab separators, so
 * a field holding a quote is wrapped in quotes with inner quotes doubled: `quotedTsvFields` reads those
 * and `quoteTsvField` writes them the same way.
 */

export function plainTsvFields(line: string): string[] {
  return line.split("\t");
}

/** Split one line whose fields may be CSV-quoted (`"a ""b"" c"`). */
export function quotedTsvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = "";
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          value += line.slice(i);
          i = line.length;
          break;
        }
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      // Anything between the closing quote and the next tab is kept verbatim (lenient).
      const tab = line.indexOf("\t", i);
      value += tab < 0 ? line.slice(i) : line.slice(i, tab);
      out.push(value);
      if (tab < 0) return out;
      i = tab + 1;
    } else {
      const tab = line.indexOf("\t", i);
      if (tab < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, tab));
      i = tab + 1;
    }
  }
}

/** Quote a field as the authors' CSV writer did: only when it holds a quote, tab, CR or LF. */
export function quoteTsvField(value: string): string {
  return /["\t\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
