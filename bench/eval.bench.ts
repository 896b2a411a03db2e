/**
 * `npm run bench:eval`: the TF-IDF lexical linker on the dev sets of ../shared/data, printed as JSON.
 * - SPACCC test-dev.tsv with the proxy KB kb-proxy-dev.tsv;
 * - BC5CDR dev_corpus.txt with entities.txt (id<TAB>name, CRLF; every name given to both labels, Chemical and
 *   Disease, as in the reference figures of the data README).
 * Each KB is built into a temporary SQLite index (helper B's builder) and the lexical index is built once and
 * stored in it. The linker only reads the mention, so each mention is sent as the minimal marked sentence
 * `[mention]{LABEL}` (through the full `sample()` path); the sentence context would not change its answer.
 * Scores: every non-NO_CODE gold mention counts (a mention without an answer is a miss).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDataset } from "../src/data/read-dataset.js";
import type { Dataset, DatasetFormat } from "../src/data/types.js";
import { codeSet, hasNoCode } from "../src/eval/codes.js";
import { goldFromDataset } from "../src/eval/adapters.js";
import { evaluate } from "../src/eval/evaluate.js";
import type { Prediction } from "../src/eval/types.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { loadOrBuildLexicalIndex, TfidfLinker } from "../src/linker/tfidf-linker.js";
import { cleanText } from "../src/markup/clean.js";

const DATA = new URL("../../shared/data/", import.meta.url).pathname;
const K = 5;

interface BenchResult {
  readonly dataset: string;
  readonly mentions: number;
  readonly recall_at_1: number;
  readonly recall_at_5: number;
  readonly recall_at_1_ci: readonly [number, number] | undefined;
  readonly gold_code_in_kb: number;
  readonly kb_names: number;
  readonly kb_concepts: number;
  readonly index_build_seconds: number;
  readonly index_load_seconds: number;
  readonly mentions_per_second: number;
}

async function benchOne(name: string, kbTsv: string, goldPath: string, format: DatasetFormat, work: string): Promise<BenchResult> {
  const kbPath = join(work, `${name}.sqlite`);
  await buildKnowledgeBase(kbTsv, kbPath);
  const kb = openKnowledgeBase(kbPath);
  try {
    let t = performance.now();
    const built = loadOrBuildLexicalIndex(kb);
    const buildSeconds = (performance.now() - t) / 1000;
    if (!built.built || built.persistError) throw new Error(`index not built and stored: ${built.persistError ?? "found a stale one"}`);
    t = performance.now();
    const linker = TfidfLinker.fromKnowledgeBase(kb); // loads the stored artefact
    const loadSeconds = (performance.now() - t) / 1000;

    const dataset: Dataset = await readDataset(goldPath, { format });
    const kbCodes = new Set(kb.codes());
    const mentions = dataset.documents.flatMap((d) => d.mentions.filter((m) => m.codes.length > 0).map((m) => ({ doc: d.id, m })));
    const sentences = mentions.map(({ m }) => `[${cleanText(m.text)}]{${m.label}}`);
    t = performance.now();
    const results = await linker.sample(sentences, { num_beams: K });
    const seconds = (performance.now() - t) / 1000;

    const predictions: Prediction[] = [];
    results.forEach((r, i) => {
      const { doc, m } = mentions[i];
      if (r.error) throw new Error(`${name}: sentence ${JSON.stringify(r.sentence)} failed: ${r.error.message}`);
      const start = m.fragments[0].start;
      const end = m.fragments[m.fragments.length - 1].end;
      predictions.push({ doc, label: m.label, start, end, codes: r.beams.map((b) => b.pred_concept_code), scores: r.beams.map((b) => b.beam_score) });
    });
    const gold = goldFromDataset(dataset);
    const report = evaluate(gold, predictions, { ks: [1, K], elapsedSeconds: seconds });
    // The ceiling: scored gold mentions whose every code is a KB concept.
    const seen = new Set<string>();
    let scorable = 0;
    let inKb = 0;
    for (const g of gold) {
      const key = `${g.doc}\u0000${g.label}\u0000${g.start}\u0000${g.end}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (hasNoCode(g.code)) continue;
      scorable++;
      if (codeSet(g.code).every((c) => kbCodes.has(c))) inKb++;
    }
    const stats = kb.stats();
    return {
      dataset: name,
      mentions: report.overall.n,
      recall_at_1: round(report.overall.recall[1]),
      recall_at_5: round(report.overall.recall[K]),
      recall_at_1_ci: report.overall.ci?.[1].map((x) => round(x)) as [number, number] | undefined,
      gold_code_in_kb: round(inKb / scorable),
      kb_names: stats.names,
      kb_concepts: stats.concepts,
      index_build_seconds: round(buildSeconds, 3),
      index_load_seconds: round(loadSeconds, 3),
      mentions_per_second: Math.round(mentions.length / seconds),
    };
  } finally {
    kb.close();
  }
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** BC5CDR entities.txt (`id<TAB>name`, CRLF, no header) as a KB TSV offering every name to both labels. */
function bc5cdrGazetteer(entities: string, out: string): void {
  const lines = ["code\tterm\tgroup"];
  for (const raw of readFileSync(entities, "utf8").split(/\r?\n/)) {
    if (raw.trim() === "") continue;
    const tab = raw.indexOf("\t");
    if (tab < 0) continue;
    const id = raw.slice(0, tab).trim();
    const name = raw.slice(tab + 1).trim();
    for (const group of ["Chemical", "Disease"]) lines.push(`${id}\t${name}\t${group}`);
  }
  writeFileSync(out, `${lines.join("\n")}\n`);
}

async function main(): Promise<void> {
  if (!existsSync(DATA)) {
    process.stdout.write(`${JSON.stringify({ skipped: `no benchmark data at ${DATA}` })}\n`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), "syncabel-bench-eval-"));
  try {
    const results: BenchResult[] = [];
    results.push(await benchOne("spaccc-test-dev", join(DATA, "spaccc/kb-proxy-dev.tsv"), join(DATA, "spaccc/test-dev.tsv"), "spaccc", work));
    const gaz = join(work, "bc5cdr-kb.tsv");
    bc5cdrGazetteer(join(DATA, "bc5cdr/entities.txt"), gaz);
    results.push(await benchOne("bc5cdr-dev", gaz, join(DATA, "bc5cdr/dev_corpus.txt"), "pubtator", work));
    process.stdout.write(`${JSON.stringify({ linker: "tfidf", analyzer: "char_wb 3-grams", k: K, results }, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
