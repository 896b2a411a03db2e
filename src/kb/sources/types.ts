/**
 * The row-source interface of `kb build`: every terminology reader (gazetteer TSV/JSONL, SNOMED CT RF2, UMLS
 * RRF, OBO, OBO Graphs JSON, translation tables) streams `SourceItem`s and the builder consumes them, so a new
 * format is one reader and nothing else.
 */

/** One cross-reference of a concept into another vocabulary (`MESH:D006394` -> vocab MESH, id D006394). */
export interface Xref {
  readonly vocab: string;
  readonly id: string;
}

/** One name of a concept, as a reader hands it to the builder. */
export interface SourceRow {
  readonly code: string;
  readonly name: string;
  /** The name's group; `null`: take the groups the concept has from the other sources (translations). */
  readonly group: string | null;
  /** `true`: this name is the concept's preferred name; a string: the preferred name itself. */
  readonly preferred?: boolean | string;
  readonly semanticTypes?: readonly string[];
  readonly definitions?: readonly string[];
  readonly xrefs?: readonly Xref[];
}

/** Relation kinds the KB stores: the hierarchy (is-a) and partonomy (part-of), kept apart. */
export const RELATION_KINDS = ["is_a", "part_of"] as const;
export type RelationKind = (typeof RELATION_KINDS)[number];

/** One edge of a terminology's hierarchy: `child` is_a / part_of `parent` (codes as the KB stores them). */
export interface SourceRelation {
  readonly child: string;
  readonly parent: string;
  readonly kind: RelationKind;
}

export type SourceItem =
  | { readonly kind: "row"; readonly file: string; readonly line: number; readonly row: SourceRow }
  /** An edge between two concepts (not a name: not counted in the rows read). */
  | { readonly kind: "relation"; readonly file: string; readonly line: number; readonly relation: SourceRelation }
  /** A source row that gives no name; `reason` is a short fixed category, `detail` the specifics. */
  | { readonly kind: "skip"; readonly file: string; readonly line: number; readonly reason: string; readonly detail?: string };

/** A terminology reader: `items()` streams in constant memory (large releases go through SQLite scratch files). */
export interface TermSource {
  /** Format name shown in reports (`rf2`, `umls`, ...). */
  readonly format: string;
  /** The files read (for the report). */
  readonly files: readonly string[];
  items(progress?: ProgressSink): AsyncIterable<SourceItem>;
}

/** Where readers report progress (bytes of the current file); the CLI draws a bar, the library ignores it. */
export interface ProgressSink {
  start(label: string, totalBytes: number): void;
  advance(bytes: number): void;
  finish(): void;
}

/** Parse `PREFIX:ID` (OBO/UMLS-style) into an xref; undefined when there is no prefix. */
export function parseXref(text: string): Xref | undefined {
  const t = text.trim();
  const i = t.indexOf(":");
  if (i <= 0 || i === t.length - 1) return undefined;
  return { vocab: t.slice(0, i), id: t.slice(i + 1) };
}
