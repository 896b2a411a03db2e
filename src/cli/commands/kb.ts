/**
 * `syncabel kb build [--from FORMAT] SOURCE... -o KB.sqlite` and `syncabel kb info KB.sqlite [--json]`.
 */
import { parseArgs } from "node:util";
import { SyncabelError } from "../../errors.js";
import { buildKnowledgeBase, type BuildReport } from "../../kb/build.js";
import { KB_BUILD_ARGS, KB_BUILD_USAGE, progressSink, sourcesFromArgs } from "../kb-build-args.js";
import { openKnowledgeBase } from "../../kb/sqlite-kb.js";
import { readRelationCounts, relationIntegrityProblems, type RelationCounts } from "../../kb/relations.js";
import { kbInvalid } from "../../kb/integrity.js";
import { checkOutputPath } from "../args.js";
import type { CliIO } from "../io.js";
import { trainingMemoryStats } from "../../kb/mentions.js";
import { readHybridModel } from "../../linker/hybrid-linker.js";
import { ADD_MENTIONS_USAGE, addMentions, describeMentionsReport, readTrainFiles, reportSkippedRows, TRAIN_ARGS, TRAIN_USAGE, trainFilesFromArgs } from "./kb-mentions.js";

const SKIPPED_SHOWN = 20;

export const usage = `usage:
${KB_BUILD_USAGE}${TRAIN_USAGE}${ADD_MENTIONS_USAGE}  syncabel kb info KB.sqlite [--json]
      Concepts, names, groups and relations (is_a, part_of; by source) of a built index, its training memory and
      whether it holds a trained linker.
`;

function groupLines(groups: Readonly<Record<string, { readonly names: number; readonly concepts: number }>>): string[] {
  return Object.entries(groups).map(([g, s]) => `  ${g}: ${s.names} names, ${s.concepts} concepts`);
}

/** "relations: 12 (is_a 10, part_of 2; from obo 12)", or why there are none. */
function relationLine(r: RelationCounts | undefined): string {
  if (r === undefined) return "relations: none stored (index built before syncabel stored relations: rebuild to add the hierarchy)";
  const kinds = Object.entries(r.byKind).map(([k, n]) => `${k} ${n}`).join(", ");
  const sources = Object.entries(r.bySource).map(([k, n]) => `${k} ${n}`).join(", ");
  return `relations: ${r.total}${r.total > 0 ? ` (${kinds}; from ${sources})` : ""}`;
}

function printBuild(report: BuildReport, io: CliIO): void {
  const out: string[] = [
    `read ${report.rowsRead} rows from ${report.input}: kept ${report.rowsKept}, skipped ${report.rowsSkipped}, duplicates merged ${report.duplicatesMerged}`,
    `wrote ${report.output}: ${report.concepts} concepts, ${report.names} names (${report.ambiguousNames} with several codes), ${report.xrefs} cross-references in ${report.seconds.toFixed(2)} s`,
    ...groupLines(report.groups),
    ...(report.relations.stored > 0 || report.relations.read > 0 ? [relationLine({ total: report.relations.stored, byKind: report.relations.byKind, bySource: report.relations.bySource })] : []),
  ];
  io.stdout.write(`${out.join("\n")}\n`);
  if (report.rowsSkipped > 0) {
    const reasons = Object.entries(report.skippedByReason).sort((a, b) => b[1].count - a[1].count);
    const lines = reasons.map(([reason, r]) => `  ${reason}: ${r.count}${r.examples[0] ? ` (first at line ${r.examples[0].line} of ${r.examples[0].file})` : ""}`);
    io.stderr.write(`skipped rows by reason:\n${lines.join("\n")}\n`);
    const shown = report.skipped.slice(0, SKIPPED_SHOWN).map((s) => `  ${s.file}:${s.line}: ${s.reason}`);
    const more = report.rowsSkipped - shown.length;
    io.stderr.write(`skipped rows:\n${shown.join("\n")}\n${more > 0 ? `  ... and ${more} more\n` : ""}`);
  }
}

async function build(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...KB_BUILD_ARGS, ...TRAIN_ARGS } });
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length === 0) throw new SyncabelError("CLI_USAGE", `kb build needs at least one terminology file\n${usage}`);
  if (values.output === undefined) throw new SyncabelError("CLI_USAGE", `kb build needs -o KB.sqlite\n${usage}`);
  const sources = sourcesFromArgs(values, positionals, usage);
  const trainFiles = trainFilesFromArgs(values);
  checkOutputPath(values.output, "-o", sources.flatMap((s) => s.files));
  const quiet = values.quiet === true || values.json === true;
  // Read and check the training files first: they are stored inside the new index, before it replaces OUT.
  const training = await readTrainFiles(trainFiles);
  const report = await buildKnowledgeBase(sources, values.output, {
    ...(quiet ? {} : { progress: progressSink(io), onPhase: (phase: string) => io.stderr.write(`${phase}...\n`) }),
    training,
  });
  if (values.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    printBuild(report, io);
    for (const t of report.training ?? []) io.stdout.write(`${describeMentionsReport(t)}\n`);
  }
  return reportSkippedRows(report.training ?? [], io, "kb build");
}

async function info(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length !== 1) throw new SyncabelError("CLI_USAGE", `kb info needs exactly one KB index file\n${usage}`);
  const kb = openKnowledgeBase(positionals[0], { verify: "full" });
  try {
    const stats = kb.stats();
    const damaged = relationIntegrityProblems(positionals[0]);
    if (damaged.length > 0) throw kbInvalid(positionals[0], `the file is damaged: ${damaged.join("; ")}`);
    const relations = readRelationCounts(positionals[0]);
    const memory = trainingMemoryStats(kb.path);
    const model = readHybridModel(kb);
    const linker = model === undefined
      ? { trained: false as const, default: "tfidf" }
      : { trained: true as const, default: "hybrid", training: { mentions: model.training.mentions, documents: model.training.documents, sources: model.training.sources, language: model.language } };
    if (values.json) io.stdout.write(`${JSON.stringify({ path: positionals[0], ...stats, relations: relations ?? null, training: memory, linker })}\n`);
    else {
      const lines = [`${positionals[0]}: ${stats.concepts} concepts, ${stats.names} names, ${Object.keys(stats.groups).length} groups`, ...groupLines(stats.groups), relationLine(relations)];
      lines.push(`training memory: ${memory.mentions} mentions of ${memory.documents} documents from ${memory.sources.length} files`);
      for (const src of memory.sources) lines.push(`  ${src.source}: ${src.mentions} mentions`);
      lines.push(model === undefined
        ? "trained linker: none (link, link-docs and serve use the TF-IDF linker; 'syncabel train-linker' trains one)"
        : `trained linker: hybrid, trained on ${model.training.mentions} mentions of ${model.training.documents} documents (the default of link, link-docs and serve)`);
      io.stdout.write(`${lines.join("\n")}\n`);
    }
  } finally {
    kb.close();
  }
  return 0;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    io.stdout.write(usage);
    return sub === undefined ? 2 : 0;
  }
  try {
    if (sub === "build") return await build(rest, io);
    if (sub === "info") return await info(rest, io);
    if (sub === "add-mentions") return await addMentions(rest, io, usage);
  } catch (e) {
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) throw new SyncabelError("CLI_USAGE", `${e.message}\n${usage}`);
    throw e;
  }
  throw new SyncabelError("CLI_USAGE", `unknown kb subcommand ${JSON.stringify(sub)}\n${usage}`);
}
