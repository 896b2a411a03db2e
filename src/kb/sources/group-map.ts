/**
 * Mapping files from a source category (SNOMED CT semantic tag, UMLS semantic group, OBO namespace/subset) to a
 * KB group: one `key<TAB>GROUP` pair per line, `#` comments and blank lines ignored, keys compared lower-cased.
 */
import { readFileSync } from "node:fs";
import { SyncabelError } from "../../errors.js";
import { requireFile } from "./lines.js";

export type GroupMap = ReadonlyMap<string, string>;

const GROUP_NAME = /^[^\s{}[\]]+$/;

export function groupMapFrom(pairs: Iterable<readonly [string, string]>): GroupMap {
  return new Map([...pairs].map(([k, g]) => [k.trim().toLowerCase(), g.trim()] as const));
}

export function readGroupMap(path: string): GroupMap {
  requireFile(path);
  const pairs: [string, string][] = [];
  readFileSync(path, "utf8")
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const text = raw.replace(/^\ufeff/, "");
      if (text.trim() === "" || text.trimStart().startsWith("#")) return;
      const cells = text.split("\t");
      const key = cells[0]?.trim() ?? "";
      const group = cells[1]?.trim() ?? "";
      if (cells.length < 2 || key === "" || !GROUP_NAME.test(group)) {
        throw new SyncabelError("KB_FILE_INVALID", `${path}:${i + 1}: a group mapping line is 'key<TAB>GROUP' (group without spaces or brackets), got ${JSON.stringify(text)}`, { path, line: i + 1 });
      }
      pairs.push([key, group]);
    });
  return groupMapFrom(pairs);
}
