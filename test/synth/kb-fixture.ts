import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildKnowledgeBase } from "../../src/kb/build.js";

/** A terminology file with `n` concepts C0..C{n-1} of group ENFERMEDAD (two names each), built into an index. */
export async function buildTinyKb(dir: string, codes: readonly string[]): Promise<string> {
  const rows = ["code\tterm\tgroup\tsemantic_type\tdefinition"];
  for (const code of codes) {
    rows.push(`${code}\tenfermedad ${code.toLowerCase()}\tENFERMEDAD\ttrastorno\tdefinición de ${code}`);
    rows.push(`${code}\tsíndrome ${code.toLowerCase()}\tENFERMEDAD\ttrastorno\t`);
  }
  const tsv = join(dir, "terms.tsv");
  writeFileSync(tsv, rows.join("\n") + "\n");
  const out = join(dir, "kb.sqlite");
  await buildKnowledgeBase(tsv, out);
  return out;
}
