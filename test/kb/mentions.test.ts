/**
 * The training memory keeps each row's link-time query context (expansion, its document's mention texts), and
 * KB indexes whose memory was stored before it did still open, train and take new files: their rows fall back to
 * what was stored then, and the new columns and table are added inside the write's one transaction.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";
import { withKbTransaction } from "../../src/kb/kb-write.js";
import { addTrainingFiles, readTrainingMentions, storeTrainingPlan, trainingReadOf, trainingMemoryStats, type TrainingPlan } from "../../src/kb/mentions.js";
import { foldText } from "../../src/lexical/normalize.js";
import { trainingQueries } from "../../src/linker/hybrid-train.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import { BHA_DOCUMENT, KB_ROWS, TRAIN, writePubtator } from "../support/abbreviation-fixture.js";
import { buildKbFromRows } from "../support/kb.js";

/** The mentions table as KB indexes stored it before the memory kept expansions and document mention texts. */
const OLDER_MENTIONS_TABLE = `CREATE TABLE mentions (source TEXT NOT NULL, document TEXT NOT NULL,
  grp TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL, norm TEXT NOT NULL,
  code TEXT NOT NULL, sentence TEXT NOT NULL, origin TEXT NOT NULL,
  PRIMARY KEY (source, document, grp, start, end)) WITHOUT ROWID;`;

function tablesAndColumns(kbPath: string): { tables: string[]; mentionColumns: string[] } {
  const db = new Database(kbPath, { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    const mentionColumns = (db.prepare("PRAGMA table_info(mentions)").all() as { name: string }[]).map((c) => c.name);
    return { tables, mentionColumns };
  } finally {
    db.close();
  }
}

describe("training memory: link-time context per row, older memories", () => {
  let dir: string;
  let kbPath: string;
  let train: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-memory-"));
    kbPath = await buildKbFromRows(dir, KB_ROWS);
    train = join(dir, "train.txt");
    writePubtator(train, TRAIN);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Turn the KB's memory into the older layout, holding `train`'s rows as the older code stored them. */
  async function storeOlderMemory(): Promise<void> {
    const read = trainingReadOf(await readDataset(train, { format: "pubtator" }), train);
    const db = new Database(kbPath);
    try {
      db.exec(`DROP TABLE mentions; DROP TABLE training_documents; ${OLDER_MENTIONS_TABLE}`);
      const insert = db.prepare("INSERT INTO mentions VALUES (@source, @document, @group, @start, @end, @text, @norm, @code, @sentence, @origin)");
      for (const m of read.mentions) insert.run({ source: m.source, document: m.document, group: m.group, start: m.start, end: m.end, text: m.text, norm: foldText(m.text), code: m.code, sentence: m.sentence, origin: m.origin });
    } finally {
      db.close();
    }
  }

  it("stores each row's expansion and its document's mention texts, and reads them back", async () => {
    const bha = join(dir, "bha.txt");
    writePubtator(bha, [BHA_DOCUMENT]);
    await addTrainingFiles(kbPath, [{ path: bha, format: "pubtator" }]);
    const rows = readTrainingMentions(kbPath);
    expect(rows.map((m) => [m.text, m.expansion, m.documentMentions])).toEqual(
      BHA_DOCUMENT[2].map(([span]) => [span, span === "BHA" ? "Butylated hydroxyanisole" : undefined, BHA_DOCUMENT[2].map(([s]) => s)]),
    );
    expect(rows[0]?.documentMentions).toBe(rows[1]?.documentMentions); // one array per document
  });

  it("an older memory still reads and trains: no expansions, the document's memory texts as its mentions", async () => {
    await storeOlderMemory();
    const rows = readTrainingMentions(kbPath);
    expect(rows.length).toBe(TRAIN.reduce((n, [, , ms]) => n + ms.length, 0));
    expect(rows.every((m) => m.expansion === undefined && m.documentMentions === undefined)).toBe(true);
    const queries = trainingQueries(rows);
    queries.forEach((q, i) => {
      const doc = TRAIN.find(([id]) => id === rows[i]?.document);
      expect(q.documentMentions).toEqual(doc?.[2].map(([span]) => span));
      expect(q.expansion).toBeUndefined();
    });
    const report = await trainLinker(kbPath, { folds: 3, seed: 1 });
    expect(report.mentions).toBe(rows.length);
    // Its store brought the layout up to date; the older rows gained no context they never had.
    expect(tablesAndColumns(kbPath).mentionColumns).toContain("expansion");
    expect(readTrainingMentions(kbPath)).toEqual(rows);
  });

  it("adding a file to an older memory brings its layout up to date; the older rows keep what they had", async () => {
    await storeOlderMemory();
    const bha = join(dir, "bha.txt");
    writePubtator(bha, [BHA_DOCUMENT]);
    await addTrainingFiles(kbPath, [{ path: bha, format: "pubtator" }]);
    const layout = tablesAndColumns(kbPath);
    expect(layout.mentionColumns).toContain("expansion");
    expect(layout.tables).toContain("training_documents");
    const rows = readTrainingMentions(kbPath);
    const older = rows.filter((m) => m.source === resolve(train));
    const added = rows.filter((m) => m.source === resolve(bha));
    expect(older.length).toBeGreaterThan(0);
    expect(older.every((m) => m.expansion === undefined && m.documentMentions === undefined)).toBe(true);
    expect(added.map((m) => m.expansion)).toEqual([undefined, "Butylated hydroxyanisole", "Butylated hydroxyanisole"]);
    expect(trainingMemoryStats(kbPath).mentions).toBe(rows.length);
    // Re-adding the older file gives its rows their context.
    await addTrainingFiles(kbPath, [{ path: train, format: "pubtator" }]);
    expect(readTrainingMentions(kbPath).filter((m) => m.source === resolve(train)).every((m) => m.documentMentions !== undefined)).toBe(true);
  });

  it("a store that fails leaves an older memory's layout and rows as they were (one transaction)", async () => {
    await storeOlderMemory();
    const before = readTrainingMentions(kbPath);
    const read = trainingReadOf(await readDataset(train, { format: "pubtator" }), join(dir, "other.txt"));
    const row = read.mentions[0];
    if (row === undefined) throw new Error("fixture: no mention");
    // The same row twice: the second insert breaks the primary key after the layout was brought up to date.
    const plan: TrainingPlan = { sources: [row.source], rows: [row, row], reports: [] };
    expect(() => withKbTransaction(kbPath, "a broken plan", (db) => storeTrainingPlan(db, plan))).toThrow(/UNIQUE|PRIMARY/);
    const layout = tablesAndColumns(kbPath);
    expect(layout.mentionColumns).not.toContain("expansion");
    expect(layout.tables).not.toContain("training_documents");
    expect(readTrainingMentions(kbPath)).toEqual(before);
  });
});
