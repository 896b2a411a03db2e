import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildKnowledgeBase } from "../../src/kb/index.js";

/** A terminology row: [code, term, group, ...optional columns], or the same already joined with tabs. */
export type TermRow = readonly string[] | string;

/** Write `rows` as a `code term group` TSV in `dir` and build the KB index at `kbPath` (returned). */
export async function buildKbFromRows(dir: string, rows: readonly TermRow[], kbPath = join(dir, "kb.sqlite")): Promise<string> {
  const tsv = join(dir, "terms.tsv");
  writeFileSync(tsv, `code\tterm\tgroup\n${rows.map((r) => (typeof r === "string" ? r : r.join("\t"))).join("\n")}\n`);
  await buildKnowledgeBase(tsv, kbPath);
  return kbPath;
}
