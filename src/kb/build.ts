/**
 * Build the KB index (one SQLite file) from a terminology file. Rows are staged in a scratch SQLite file so a
 * ~1M-row gazetteer never has to fit in JS memory; the index is written to a temp file and renamed at the end.
 */
import { existsSync, renameSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { SyncabelError } from "../errors.js";
import { tempPathFor } from "../io/atomic-write.js";
import { chooseReportedCode, sortCodes } from "./disambiguate.js";
import { guessFormat, readGazetteer, type GazetteerFormat, type GazetteerRow } from "./gazetteer.js";
import { KB_FORMAT_TAG, KB_SCHEMA_SQL, KB_SCHEMA_VERSION } from "./schema.js";

export interface SkippedRow {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
}

export interface BuildReport {
  readonly input: string;
  readonly output: string;
  readonly format: GazetteerFormat;
  /** Data rows read (blank lines and the TSV header excluded). */
  readonly rowsRead: number;
  /** Rows with every required field (`rowsRead = rowsKept + rowsSkipped`). */
  readonly rowsKept: number;
  readonly rowsSkipped: number;
  /** Kept rows that repeated a (code, name, group) already seen; their extra fields were merged. */
  readonly duplicatesMerged: number;
  readonly concepts: number;
  /** Distinct (name, group) entries. */
  readonly names: number;
  /** Entries with more than one code (disambiguated, every code kept). */
  readonly ambiguousNames: number;
  readonly groups: Readonly<Record<string, { readonly names: number; readonly concepts: number }>>;
  /** The first `MAX_SKIPPED_REPORTED` skipped rows with their reason. */
  readonly skipped: readonly SkippedRow[];
  readonly seconds: number;
}

export interface BuildOptions {
  /** Default: from the extension (.jsonl/.ndjson/.json -> jsonl, else tsv). */
  readonly format?: GazetteerFormat;
}

export const MAX_SKIPPED_REPORTED = 1000;
const BATCH = 5000;

interface StagedRow {
  line: number;
  code: string;
  name: string;
  grp: string;
  preferred: string | null;
  sty: string;
  def: string;
}

/** `preferred` flag/text as stored in the staging table: null (absent/false), "" (this row), or a name. */
function stagePreferred(p: GazetteerRow["preferred"]): string | null {
  if (p === true) return "";
  if (typeof p === "string" && p !== "") return p;
  return null;
}

function pushDistinct(list: string[], values: readonly string[]): void {
  for (const v of values) if (!list.includes(v)) list.push(v);
}

export async function buildKnowledgeBase(inputPath: string, outPath: string, options: BuildOptions = {}): Promise<BuildReport> {
  const started = performance.now();
  const format = options.format ?? guessFormat(inputPath);
  const output = resolve(outPath);
  if (!existsSync(dirname(output))) {
    throw new SyncabelError("IO_ERROR", `cannot write the KB index ${output}: folder ${dirname(output)} does not exist`, { path: output });
  }
  const tmp = tempPathFor(output);
  const stagingPath = `${tmp}.staging`;
  let staging: Database.Database | undefined;
  let out: Database.Database | undefined;
  try {
    staging = new Database(stagingPath);
    staging.pragma("journal_mode = OFF");
    staging.pragma("synchronous = OFF");
    staging.exec("CREATE TABLE raw (line INTEGER NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, grp TEXT NOT NULL, preferred TEXT, sty TEXT NOT NULL, def TEXT NOT NULL)");
    const insertRaw = staging.prepare("INSERT INTO raw VALUES (@line, @code, @name, @grp, @preferred, @sty, @def)");
    const insertBatch = staging.transaction((rows: readonly StagedRow[]) => {
      for (const r of rows) insertRaw.run(r);
    });

    // 1. Stream the file into the staging table.
    let rowsRead = 0;
    let rowsSkipped = 0;
    const skipped: SkippedRow[] = [];
    let batch: StagedRow[] = [];
    for await (const item of readGazetteer(inputPath, format)) {
      rowsRead++;
      if (item.kind === "skip") {
        rowsSkipped++;
        if (skipped.length < MAX_SKIPPED_REPORTED) skipped.push({ file: inputPath, line: item.line, reason: item.reason });
        continue;
      }
      const r = item.row;
      batch.push({
        line: item.line,
        code: r.code,
        name: r.name,
        grp: r.group,
        preferred: stagePreferred(r.preferred),
        sty: JSON.stringify(r.semanticTypes),
        def: JSON.stringify(r.definitions),
      });
      if (batch.length >= BATCH) {
        insertBatch(batch);
        batch = [];
      }
    }
    insertBatch(batch);
    const rowsKept = rowsRead - rowsSkipped;
    if (rowsKept === 0) {
      const first = skipped[0];
      throw new SyncabelError(
        "KB_EMPTY",
        `${inputPath}: no usable terminology row (${rowsRead} read, ${rowsSkipped} skipped${first ? `; line ${first.line}: ${first.reason}` : ""})`,
        { path: inputPath, rowsRead, rowsSkipped },
      );
    }
    staging.exec("CREATE INDEX raw_name ON raw (grp, name, code); CREATE INDEX raw_code ON raw (code, line);");
    const distinctTriples = (staging.prepare("SELECT COUNT(*) AS n FROM (SELECT DISTINCT code, name, grp FROM raw)").get() as { n: number }).n;

    // 2. The output index.
    out = new Database(tmp);
    out.pragma("journal_mode = OFF");
    out.pragma("synchronous = OFF");
    out.exec(KB_SCHEMA_SQL);
    out.exec("BEGIN");

    // 3. Names with disambiguation: codes owning an unambiguous name, per group.
    const ownsUnambiguous = new Set<string>();
    for (const r of staging.prepare("SELECT grp, MIN(code) AS code FROM raw GROUP BY grp, name HAVING COUNT(DISTINCT code) = 1").iterate() as Iterable<{ grp: string; code: string }>) {
      ownsUnambiguous.add(`${r.grp}\u0000${r.code}`);
    }
    const insertName = out.prepare("INSERT INTO names VALUES (?, ?, ?, ?)");
    let names = 0;
    let ambiguousNames = 0;
    let current: { grp: string; name: string; codes: string[] } | undefined;
    const flushName = (): void => {
      if (current === undefined) return;
      const { grp, name } = current;
      const codes = sortCodes(current.codes);
      const code = chooseReportedCode(codes, (c) => ownsUnambiguous.has(`${grp}\u0000${c}`));
      insertName.run(grp, name, code, JSON.stringify(codes));
      names++;
      if (codes.length > 1) ambiguousNames++;
    };
    for (const r of staging.prepare("SELECT grp, name, code FROM raw GROUP BY grp, name, code ORDER BY grp, name, code").iterate() as Iterable<{ grp: string; name: string; code: string }>) {
      if (current === undefined || current.grp !== r.grp || current.name !== r.name) {
        flushName();
        current = { grp: r.grp, name: r.name, codes: [] };
      }
      current.codes.push(r.code);
    }
    flushName();

    // 4. Concept cards and the code -> names table, in file order within a code.
    const insertConcept = out.prepare("INSERT INTO concepts VALUES (?, ?, ?, ?, ?, ?)");
    const insertCodeName = out.prepare("INSERT INTO code_names VALUES (?, ?, ?, ?)");
    let concepts = 0;
    let card: { code: string; title: string | undefined; groups: Set<string>; sty: string[]; defs: string[]; names: string[]; pairs: Set<string> } | undefined;
    const flushConcept = (): void => {
      if (card === undefined) return;
      const title = card.title ?? card.names[0];
      insertConcept.run(card.code, title, JSON.stringify([...card.groups].sort()), JSON.stringify(card.sty), JSON.stringify(card.defs), JSON.stringify(card.names));
      concepts++;
    };
    for (const r of staging.prepare("SELECT line, code, name, grp, preferred, sty, def FROM raw ORDER BY code, line").iterate() as Iterable<StagedRow>) {
      if (card === undefined || card.code !== r.code) {
        flushConcept();
        card = { code: r.code, title: undefined, groups: new Set(), sty: [], defs: [], names: [], pairs: new Set() };
      }
      if (card.title === undefined && r.preferred !== null) card.title = r.preferred === "" ? r.name : r.preferred;
      card.groups.add(r.grp);
      pushDistinct(card.sty, JSON.parse(r.sty) as string[]);
      pushDistinct(card.defs, JSON.parse(r.def) as string[]);
      if (!card.names.includes(r.name)) card.names.push(r.name);
      const pair = `${r.grp}\u0000${r.name}`;
      if (!card.pairs.has(pair)) {
        insertCodeName.run(r.code, card.pairs.size, r.grp, r.name);
        card.pairs.add(pair);
      }
    }
    flushConcept();

    // 5. Group statistics and metadata.
    const groups: Record<string, { names: number; concepts: number }> = {};
    const insertGroup = out.prepare("INSERT INTO groups VALUES (?, ?, ?)");
    for (const g of staging.prepare("SELECT grp, COUNT(DISTINCT name) AS names, COUNT(DISTINCT code) AS concepts FROM raw GROUP BY grp ORDER BY grp").all() as { grp: string; names: number; concepts: number }[]) {
      groups[g.grp] = { names: g.names, concepts: g.concepts };
      insertGroup.run(g.grp, g.names, g.concepts);
    }
    const insertMeta = out.prepare("INSERT INTO meta VALUES (?, ?)");
    insertMeta.run("format", KB_FORMAT_TAG);
    insertMeta.run("schema_version", String(KB_SCHEMA_VERSION));
    insertMeta.run("source", resolve(inputPath));
    insertMeta.run("built_at", new Date().toISOString());
    insertMeta.run("concepts", String(concepts));
    insertMeta.run("names", String(names));
    out.exec("COMMIT");
    out.pragma("journal_mode = DELETE");
    out.close();
    out = undefined;
    staging.close();
    staging = undefined;
    renameSync(tmp, output);
    return {
      input: inputPath,
      output,
      format,
      rowsRead,
      rowsKept,
      rowsSkipped,
      duplicatesMerged: rowsKept - distinctTriples,
      concepts,
      names,
      ambiguousNames,
      groups,
      skipped,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    out?.close();
    if (e instanceof SyncabelError) throw e;
    throw new SyncabelError("IO_ERROR", `building the KB index ${output} from ${inputPath} failed: ${(e as Error).message}`, { path: output }, { cause: e });
  } finally {
    staging?.close();
    rmSync(stagingPath, { force: true });
    if (existsSync(tmp)) rmSync(tmp, { force: true });
  }
}
