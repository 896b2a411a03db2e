/** The gazetteer TSV/JSONL reader (src/kb/gazetteer.ts) as a row source; a `parents` column gives is-a edges. */
import { readGazetteer, type GazetteerFormat } from "../gazetteer.js";
import type { SourceItem, TermSource } from "./types.js";

export function gazetteerSource(path: string, format: GazetteerFormat): TermSource {
  return {
    format,
    files: [path],
    async *items(): AsyncIterable<SourceItem> {
      for await (const item of readGazetteer(path, format)) {
        if (item.kind === "skip") {
          yield { kind: "skip", file: path, line: item.line, reason: item.reason };
          continue;
        }
        const r = item.row;
        yield {
          kind: "row",
          file: path,
          line: item.line,
          row: { code: r.code, name: r.name, group: r.group, preferred: r.preferred, semanticTypes: r.semanticTypes, definitions: r.definitions },
        };
        for (const parent of r.parents) yield { kind: "relation", file: path, line: item.line, relation: { child: r.code, parent, kind: "is_a" } };
      }
    },
  };
}
