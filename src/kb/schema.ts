/** Layout of the KB index file (one SQLite database). Bump the version on any incompatible change. */
export const KB_SCHEMA_VERSION = 1;

/** Marks a SQLite file as a syncabel KB index (meta key `format`). */
export const KB_FORMAT_TAG = "syncabel-kb";

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
CREATE TABLE artifacts (key TEXT PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
`;
