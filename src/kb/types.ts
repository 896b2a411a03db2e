/**
 * The knowledge base as the rest of syncabel sees it. Implemented by the SQLite-backed index (src/kb).
 */

/** One (name, group) of the KB with every code that owns it and the code reported for it. */
export interface KbEntry {
  readonly name: string;
  readonly group: string;
  /** Every code of this (name, group), sorted (numerically when all are digits, see src/kb/disambiguate.ts). */
  readonly codes: readonly string[];
  /** The code reported for the name (deterministic disambiguation, conventions section 5). */
  readonly code: string;
}

/** Everything the KB knows about one concept (used by synthetic-data prompts). */
export interface ConceptCard {
  readonly code: string;
  /** Preferred name (title): the `preferred` column when given, else the first name seen. */
  readonly title: string;
  readonly groups: readonly string[];
  readonly semanticTypes: readonly string[];
  readonly definitions: readonly string[];
  /** Every cleaned name of the concept, in file order. */
  readonly names: readonly string[];
}

export interface KbStats {
  readonly concepts: number;
  readonly names: number;
  readonly groups: Readonly<Record<string, { readonly names: number; readonly concepts: number }>>;
}

export interface KnowledgeBase {
  /** Groups, sorted. */
  groups(): readonly string[];
  hasGroup(group: string): boolean;
  /** Every name of a group with its codes, in a stable order (sorted by name). */
  entriesOfGroup(group: string): Iterable<KbEntry>;
  /** Exact lookup of a (trimmed) name in a group. */
  lookup(name: string, group: string): KbEntry | undefined;
  /** Every (name, group) of a code. */
  namesOfCode(code: string): readonly { readonly name: string; readonly group: string }[];
  concept(code: string): ConceptCard | undefined;
  /** Every concept code, sorted. */
  codes(): Iterable<string>;
  stats(): KbStats;
  /** Derived artefacts (token tries, lexical index) stored inside the KB index file under a key. */
  getArtifact(key: string): Uint8Array | undefined;
  putArtifact(key: string, bytes: Uint8Array): void;
  /** Several artifacts in one transaction (all or none), after removing `replacing` and its parts. */
  putArtifacts?(entries: readonly { readonly key: string; readonly bytes: Uint8Array }[], options?: { readonly replacing?: string }): void;
  close(): void;
}
