/** `kb build` options for the terminology readers (--from and the per-format flags) -> reader options. */
import { SyncabelError } from "../errors.js";
import { openSources, parseScopes, readGroupMap, SOURCE_FORMATS, type SourceFormat, type TermSource } from "../kb/sources/index.js";
import type { ProgressSink } from "../kb/sources/types.js";
import { Progress } from "../io/progress.js";
import type { CliIO } from "./io.js";

export const KB_BUILD_ARGS = {
  output: { type: "string", short: "o" },
  from: { type: "string" },
  format: { type: "string" },
  translations: { type: "string", multiple: true },
  "group-map": { type: "string" },
  "tag-map": { type: "string" },
  language: { type: "string" },
  "lang-refset": { type: "string" },
  acceptability: { type: "string" },
  fsn: { type: "boolean" },
  mrsty: { type: "string" },
  semgroups: { type: "string" },
  mrrel: { type: "string" },
  sab: { type: "string" },
  lat: { type: "string" },
  tty: { type: "string" },
  suppress: { type: "string" },
  ispref: { type: "boolean" },
  "code-from": { type: "string" },
  group: { type: "string" },
  "group-from": { type: "string" },
  scopes: { type: "string" },
  "wrong-pattern": { type: "string" },
  "scratch-dir": { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export const KB_BUILD_USAGE = `  syncabel kb build [--from tsv|jsonl|rf2|umls|obo|obograph] SOURCE... -o KB.sqlite [--translations T.tsv]... [--json]
      Build the knowledge-base index from a gazetteer or a terminology release (see README, "Knowledge bases
      from terminology releases"). Default --from: tsv/jsonl by extension. TSV needs a header with code, term
      (or name) and group (or label) columns; optional preferred, semantic_type, definition. Rows that give no
      name are skipped and reported by reason with their file:line.
      rf2   SOURCE = release folders or sct2_Concept / sct2_Description / der2_cRefset_Language files (Snapshot
            or Full; editions merged). --tag-map TSV (semantic tag -> group; default disorder -> ENFERMEDAD,
            procedure -> PROCEDIMIENTO, finding -> SINTOMA and the Spanish tags), --language es,en,
            --lang-refset ID,..., --acceptability preferred|acceptable, --fsn (keep FSNs without the tag)
      umls  SOURCE = MRCONSO.RRF; --mrsty MRSTY.RRF --semgroups SemGroups.txt [--group-map TSV], --sab, --lat,
            --tty (comma lists), --suppress N[,...] (kept SUPPRESS values, default N), --ispref, --code-from SAB,
            --mrrel MRREL.RRF (is-a edges from PAR/CHD rows of the --sab sources)
      Hierarchy edges are stored when the source has them: RF2 sct2_Relationship (active |Is a|), OBO is_a and
      relationship: part_of (kept apart), OBO Graphs edges, MRREL, a gazetteer 'parents' column (codes joined by |).
      obo, obograph   --group G | --group-from namespace|subset [--group-map TSV], --scopes EXACT,RELATED
      --translations T.tsv   extra-language names (source_id, predicate, translation_text; rows whose status or
            review notes match --wrong-pattern, default /error|incorrect|wrong|rejected/i, are skipped)
`;

type Values = { [K in keyof typeof KB_BUILD_ARGS]?: (typeof KB_BUILD_ARGS)[K] extends { multiple: true } ? string[] : (typeof KB_BUILD_ARGS)[K]["type"] extends "boolean" ? boolean : string };

const list = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(",").map((s) => s.trim()).filter((s) => s !== ""));

function usageError(message: string, usage: string): SyncabelError {
  return new SyncabelError("CLI_USAGE", `${message}\n${usage}`);
}

/** The sources of a `kb build` command line. */
export function sourcesFromArgs(values: Values, paths: readonly string[], usage: string): TermSource[] {
  const from = values.from ?? values.format;
  if (from !== undefined && !(SOURCE_FORMATS as readonly string[]).includes(from)) throw usageError(`--from must be one of ${SOURCE_FORMATS.join(", ")}, not ${JSON.stringify(from)}`, usage);
  if (values.acceptability !== undefined && values.acceptability !== "preferred" && values.acceptability !== "acceptable") throw usageError("--acceptability must be preferred or acceptable", usage);
  const groupFrom = values["group-from"];
  if (groupFrom !== undefined && groupFrom !== "namespace" && groupFrom !== "subset") throw usageError("--group-from must be namespace or subset", usage);
  let scopes;
  try {
    scopes = values.scopes === undefined ? undefined : parseScopes(values.scopes);
  } catch (e) {
    throw usageError(`--scopes: ${(e as Error).message}`, usage);
  }
  let wrongPattern: RegExp | undefined;
  try {
    wrongPattern = values["wrong-pattern"] === undefined ? undefined : new RegExp(values["wrong-pattern"], "i");
  } catch (e) {
    throw usageError(`--wrong-pattern: ${(e as Error).message}`, usage);
  }
  const groupMap = values["group-map"] ? readGroupMap(values["group-map"]) : undefined;
  const scratchDir = values["scratch-dir"];
  return openSources(from as SourceFormat | undefined, paths, {
    rf2: {
      tagGroups: values["tag-map"] ? readGroupMap(values["tag-map"]) : undefined,
      languages: list(values.language),
      languageRefsets: list(values["lang-refset"]),
      acceptability: values.acceptability as "preferred" | "acceptable" | undefined,
      includeFsn: values.fsn,
      scratchDir,
    },
    umls: {
      mrsty: values.mrsty,
      semGroups: values.semgroups,
      mrrel: values.mrrel,
      groupMap,
      sab: list(values.sab),
      lat: list(values.lat),
      tty: list(values.tty),
      suppress: list(values.suppress),
      isprefOnly: values.ispref,
      codeFrom: values["code-from"],
      scratchDir,
    },
    obo: { group: values.group, groupFrom: groupFrom as "namespace" | "subset" | undefined, groupMap, scopes },
    translations: values.translations,
    translation: { scopes, wrongPattern },
  });
}

/** One progress bar per file read (bytes), on stderr. */
export function progressSink(io: CliIO): ProgressSink {
  let bar: Progress | undefined;
  let pending = 0;
  return {
    start(label, totalBytes) {
      pending = 0;
      bar = new Progress({ total: Math.max(1, Math.ceil(totalBytes / 1e6)), label: `reading ${label}`, stream: io.stderr, tty: io.isTTY, unit: "MB" });
    },
    advance(bytes) {
      // Whole megabytes only: the bar counts integers.
      pending += bytes;
      const mb = Math.floor(pending / 1e6);
      if (mb > 0) {
        pending -= mb * 1e6;
        bar?.tick(mb);
      }
    },
    finish() {
      bar?.finish();
      bar = undefined;
    },
  };
}
