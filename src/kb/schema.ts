/** Layout of the KB index file (one SQLite database). Bump the version on any incompatible change. */
export const KB_SCHEMA_VERSION = 2; // 2: artifacts carry a SHA-256, meta holds content_sha256 (src/kb/integrity.ts)

/** Marks a SQLite file as a syncabel KB index (meta key `format`). */
export const KB_FORMAT_TAG = "syncabel-kb";

/**
 * Training memory (src/kb/mentions.ts): one row per annotated training mention, with its provenance (source
 * file, document, offsets, "file:line"), the normalised text and the (composite `a+b`) gold code; code counts
 * are aggregates over it. IF NOT EXISTS: `kb add-mentions` adds it to an index built before it existed.
 * The row's query as link time reads it (src/data/mention-queries.ts): `sentence`, `expansion` (the long form
 * its document defines; NULL: none) and its document's mention texts in `training_documents` (one row per
 * document). `expansion` and `training_documents` came later: MENTIONS_MIGRATIONS adds them to an older memory,
 * whose rows then have no document context stored (src/linker/hybrid-train.ts falls back to the memory's rows).
 */
export const MENTIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS mentions (source TEXT NOT NULL, document TEXT NOT NULL,
  grp TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL, norm TEXT NOT NULL,
  code TEXT NOT NULL, sentence TEXT NOT NULL, origin TEXT NOT NULL, expansion TEXT,
  PRIMARY KEY (source, document, grp, start, end)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS training_documents (source TEXT NOT NULL, document TEXT NOT NULL, mentions TEXT NOT NULL,
  PRIMARY KEY (source, document)) WITHOUT ROWID;
`;

/** Columns added to the mentions table after it first shipped: name -> `ALTER TABLE ... ADD COLUMN` clause. */
export const MENTIONS_MIGRATIONS: Readonly<Record<string, string>> = { expansion: "expansion TEXT" };

/**
 * Hierarchy edges (src/kb/relations.ts): `child` is_a / part_of `parent`, and the reader format that gave the edge.
 * Optional: an index built before it existed has no such table and still opens (it just knows no relations).
 */
export const RELATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS relations (child TEXT NOT NULL, parent TEXT NOT NULL, kind TEXT NOT NULL,
  source TEXT NOT NULL, PRIMARY KEY (child, parent, kind)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relations_parent ON relations (parent, kind);
`;

export const KB_SCHEMA_SQL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- one row per (group, name): every code (JSON array, compareCodes order) and the reported code
CREATE TABLE names (grp TEXT NOT NULL, name TEXT NOT NULL, code TEXT NOT NULL, codes TEXT NOT NULL,
  PRIMARY KEY (grp, name)) WITHOUT ROWID;
-- concept cards; list columns are JSON arrays
CREATE TABLE concepts (code TEXT PRIMARY KEY, title TEXT NOT NULL, groups TEXT NOT NULL,
  semantic_types TEXT NOT NULL, definitions TEXT NOT NULL, names TEXT NOT NULL) WITHOUT ROWID;
-- every (name, group) of a code in file order
CREATE TABLE code_names (code TEXT NOT NULL, ord INTEGER NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY (code, ord)) WITHOUT ROWID;
CREATE TABLE groups (grp TEXT PRIMARY KEY, names INTEGER NOT NULL, concepts INTEGER NOT NULL) WITHOUT ROWID;
-- derived blobs (token tries, lexical index) keyed by a string that says what built them
CREATE TABLE artifacts (key TEXT PRIMARY KEY, bytes BLOB NOT NULL, sha256 TEXT NOT NULL) WITHOUT ROWID;
-- cross-references of a concept into other vocabularies (src/kb/xrefs.ts): one row per (code, vocab, id)
CREATE TABLE xrefs (code TEXT NOT NULL, vocab TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (code, vocab, id)) WITHOUT ROWID;
${MENTIONS_TABLE_SQL}${RELATIONS_TABLE_SQL}`;
