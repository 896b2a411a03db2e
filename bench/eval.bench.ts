/**
 * `npm run bench:eval`: every model-free linker side by side on the dev sets of ../shared/data, printed as JSON.
 * - SPACCC test-dev.tsv with the proxy KB kb-proxy-dev.tsv, trained on train.tsv;
 * - BC5CDR dev_corpus.txt with entities.txt (id<TAB>name, CRLF; every name given to both labels, Chemical and
 *   Disease, as in the reference figures of the data README), trained on train_corpus.txt.
 * Linkers:
 * - tfidf: TF-IDF over character 3-grams of KB names (scispaCy's candidate generator);
 * - dictionary: the peers' baseline: the most frequent training code of the exact (lower-cased) mention text in
 *   its group, then the TF-IDF answers;
 * - hybrid: `syncabel train-linker` (training memory + TF-IDF + BM25 + learned reranker), fitted on the training
 *   file only (dev files are read for scoring, never for fitting); also on worker threads (`hybrid_workers`: one
 *   per core, as link-docs runs long inputs), with its end-to-end speed-up over one thread (index build + linking).
 * Each mention is sent as its real marked sentence (built from the document text, as link-docs does) through the
 * full `sample()` path. Scores: every non-NO_CODE gold mention counts (a mention without an answer is a miss);
 * "seen" = every gold code occurs in the training file. Also: the BM25 back ends compared (in memory vs SQLite
 * FTS5), index build times and memory. Wall-clock figures depend on the machine's load (reported).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { readDataset } from "../src/data/read-dataset.js";
import type { Dataset, DatasetFormat } from "../src/data/types.js";
import { codeSet, hasNoCode } from "../src/eval/codes.js";
import { codesOfDataset, goldFromDataset } from "../src/eval/adapters.js";
import { evaluate } from "../src/eval/evaluate.js";
import type { EvalReport, Prediction } from "../src/eval/types.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";
import { readTrainingMentions } from "../src/kb/mentions.js";
import { Bm25Index } from "../src/lexical/bm25.js";
import { foldText } from "../src/lexical/normalize.js";
import { HybridLinker } from "../src/linker/hybrid-linker.js";
import { loadOrBuildLexicalIndex, TfidfLinker } from "../src/linker/tfidf-linker.js";
import { trainLinker } from "../src/linker/train-linker.js";
import { defaultLinkerWorkers, WorkerPoolLinker } from "../src/linker/worker-pool-linker.js";
import type { Beam, LinkResult } from "../src/linker/types.js";
import { SegmentationCache } from "../src/markup/sentence-builder.js";
import { documentQueries, type MentionQuery } from "../src/data/mention-queries.js";
import "../test/support/ts-workers.js";

const DATA = new URL("../../shared/data/", import.meta.url).pathname;
const K = 5;

interface Setting {
  readonly name: string;
  readonly kbTsv: string;
  readonly train: string;
  readonly dev: string;
  readonly format: DatasetFormat;
  /**
   * Answer only with KB codes (train-linker's default). BC5CDR's entities.txt holds MeSH descriptors (D ids)
   * only, while the corpus also annotates supplementary concepts (C ids): there the training memory's codes
   * outside the KB are kept as answers. SPACCC's proxy KB is closed-world: restricted.
   */
  readonly restrictToKb: boolean;
}

interface Scored {
  readonly mentions: number;
  readonly recall_at_1: number;
  readonly recall_at_5: number;
  readonly recall_at_1_ci: readonly [number, number] | undefined;
  readonly seen: { n: number; recall_at_1: number } | undefined;
  readonly unseen: { n: number; recall_at_1: number } | undefined;
  readonly by_group: Record<string, { n: number; recall_at_1: number }>;
  readonly mentions_per_second: number;
  /** Mentions per second of CPU time of the process (single thread): the machine's load does not change it. */
  readonly mentions_per_cpu_second: number;
}

interface DevMention {
  readonly doc: string;
  readonly label: string;
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly code: string;
  readonly sentence: string;
  /** The mention as every linker takes it (src/data/mention-queries.ts), as link-docs builds it. */
  readonly query: MentionQuery;
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function devMentions(dataset: Dataset): DevMention[] {
  const cache = new SegmentationCache();
  const out: DevMention[] = [];
  for (const d of dataset.documents) {
    for (const { mention: m, sentence, query, error } of documentQueries(d, { cache })) {
      if (m.codes.length === 0) continue;
      if (query === undefined || sentence === undefined) throw new Error(`${d.id}: ${error?.message}`);
      out.push({
        query,
        doc: d.id,
        label: m.label,
        start: m.fragments[0].start,
        end: m.fragments[m.fragments.length - 1].end,
        text: m.text,
        code: [...m.codes].sort().join("+"),
        sentence,
      });
    }
  }
  return out;
}

function score(dataset: Dataset, mentions: readonly DevMention[], results: readonly LinkResult[], seconds: number, cpuSeconds: number, trainCodes: ReadonlySet<string>): { scored: Scored; report: EvalReport } {
  const predictions: Prediction[] = results.map((r, i) => {
    const m = mentions[i] as DevMention;
    if (r.error) throw new Error(`sentence ${JSON.stringify(m.sentence)} failed: ${r.error.message}`);
    return { doc: m.doc, label: m.label, start: m.start, end: m.end, codes: r.beams.map((b: Beam) => b.pred_concept_code), scores: r.beams.map((b) => b.beam_score) };
  });
  const report = evaluate(goldFromDataset(dataset), predictions, { ks: [1, K], elapsedSeconds: seconds, trainCodes, resamples: 200 });
  const row = (r: { n: number; recall: Readonly<Record<string, number>> } | undefined) => (r === undefined ? undefined : { n: r.n, recall_at_1: round(r.recall[1] ?? 0) });
  return {
    report,
    scored: {
      mentions: report.overall.n,
      recall_at_1: round(report.overall.recall[1] ?? 0),
      recall_at_5: round(report.overall.recall[K] ?? 0),
      recall_at_1_ci: report.overall.ci?.[1]?.map((x) => round(x)) as [number, number] | undefined,
      seen: row(report.seen),
      unseen: row(report.unseen),
      by_group: Object.fromEntries(Object.entries(report.by_label).map(([g, r]) => [g, row(r) as { n: number; recall_at_1: number }])),
      mentions_per_second: Math.round(mentions.length / seconds),
      mentions_per_cpu_second: Math.round(mentions.length / cpuSeconds),
    },
  };
}

/** Wall-clock and CPU seconds of this process (CPU time is what a loaded shared machine does not inflate). */
async function timed<T>(f: () => Promise<T> | T): Promise<{ value: T; seconds: number; cpuSeconds: number }> {
  const t = performance.now();
  const c = process.cpuUsage();
  const value = await f();
  const cpu = process.cpuUsage(c);
  return { value, seconds: (performance.now() - t) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/**
 * The hybrid linker on worker threads (one per core, at most 4), as link-docs runs it on long inputs: batches of
 * 32 sentences, two per worker in flight. Reports its speed against the in-process run of the same sentences
 * (measured just before, so a ratio of one run) and that its answers are the same.
 */
async function pooledHybrid(kbPath: string, mentions: readonly DevMention[], inProcess: readonly LinkResult[], inProcessSeconds: number): Promise<Record<string, unknown>> {
  const workers = defaultLinkerWorkers();
  const open = await timed(() => WorkerPoolLinker.open({ kb: kbPath, linker: "hybrid", workers }));
  const pool = open.value;
  try {
    const batches: { from: number; to: number }[] = [];
    for (let from = 0; from < mentions.length; from += 32) batches.push({ from, to: Math.min(mentions.length, from + 32) });
    const run = await timed(async () => {
      const out: LinkResult[][] = new Array(batches.length);
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < batches.length) {
          const b = next++;
          const { from, to } = batches[b] as { from: number; to: number };
          const part = mentions.slice(from, to);
          out[b] = await pool.link(part.map((m) => m.query), { numBeams: K });
        }
      };
      await Promise.all(Array.from({ length: 2 * workers }, lane));
      return out.flat();
    });
    const endToEnd = open.seconds + run.seconds;
    return {
      workers,
      open_seconds: round(open.seconds, 3),
      mentions_per_second: Math.round(mentions.length / run.seconds),
      end_to_end_mentions_per_second: Math.round(mentions.length / endToEnd),
      end_to_end_speedup_vs_in_process: round(inProcessSeconds / endToEnd, 2),
      same_answers_as_in_process: JSON.stringify(run.value) === JSON.stringify(inProcess),
    };
  } finally {
    await pool.close();
  }
}

/** Heap in use after a full collection (npm run bench:eval passes --expose-gc; without it, as is). */
function heapAfterGc(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/** The peers' dictionary: exact lower-cased training mention -> its most frequent code, then TF-IDF. */
function dictionaryResults(train: Dataset, mentions: readonly DevMention[], tfidf: readonly LinkResult[]): LinkResult[] {
  const counts = new Map<string, Map<string, number>>();
  for (const d of train.documents) {
    for (const m of d.mentions) {
      if (m.codes.length === 0) continue;
      const key = `${m.label}\u0000${m.text.trim().toLowerCase()}`;
      const code = [...m.codes].sort().join("+");
      const c = counts.get(key) ?? new Map<string, number>();
      c.set(code, (c.get(code) ?? 0) + 1);
      counts.set(key, c);
    }
  }
  return mentions.map((m, i) => {
    const t = tfidf[i] as LinkResult;
    const fromDict = [...(counts.get(`${m.label}\u0000${m.text.trim().toLowerCase()}`) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const beams: Beam[] = fromDict.map(([code, n]) => ({ mention: m.text, semantic_group: m.label, pred_concept_name: m.text, pred_concept_code: code, beam_score: n, pred_concept_codes: code.split("+") }));
    for (const b of t.beams ?? []) if (!beams.some((x) => x.pred_concept_code === b.pred_concept_code)) beams.push(b);
    return { beams: beams.slice(0, K) };
  });
}

/** In-memory BM25 vs SQLite FTS5 (bm25() ranking) on the same names and queries: build time and queries/s. */
function compareBm25Backends(names: readonly { group: string; text: string }[], queries: readonly { group: string; text: string }[], dbPath: string): Record<string, unknown> {
  const tokens = (s: string) => foldText(s).split(" ").filter((t) => t !== "");
  let t = performance.now();
  const byGroup = new Map<string, string[][]>();
  for (const n of names) (byGroup.get(n.group) ?? byGroup.set(n.group, []).get(n.group)!).push(tokens(n.text));
  const mem = new Map([...byGroup].map(([g, rows]) => [g, new Bm25Index(rows)]));
  const memBuild = (performance.now() - t) / 1000;
  t = performance.now();
  let memHits = 0;
  for (const q of queries) memHits += mem.get(q.group)?.search(tokens(q.text), 64).length ?? 0;
  const memSeconds = (performance.now() - t) / 1000;

  const db = new Database(dbPath);
  try {
    t = performance.now();
    db.exec("CREATE VIRTUAL TABLE names USING fts5(grp UNINDEXED, text, tokenize = 'unicode61 remove_diacritics 2')");
    const insert = db.prepare("INSERT INTO names (grp, text) VALUES (?, ?)");
    db.transaction(() => {
      for (const n of names) insert.run(n.group, tokens(n.text).join(" "));
    })();
    const ftsBuild = (performance.now() - t) / 1000;
    const search = db.prepare("SELECT rowid FROM names WHERE names MATCH ? AND grp = ? ORDER BY bm25(names) LIMIT 64");
    t = performance.now();
    let ftsHits = 0;
    for (const q of queries) {
      const terms = [...new Set(tokens(q.text))].map((w) => `"${w.replace(/"/g, '""')}"`);
      if (terms.length > 0) ftsHits += search.all(terms.join(" OR "), q.group).length;
    }
    const ftsSeconds = (performance.now() - t) / 1000;
    return {
      names: names.length,
      queries: queries.length,
      in_memory: { build_seconds: round(memBuild, 3), queries_per_second: Math.round(queries.length / memSeconds), hits: memHits },
      sqlite_fts5: { build_seconds: round(ftsBuild, 3), queries_per_second: Math.round(queries.length / ftsSeconds), hits: ftsHits },
      chosen: "in_memory",
    };
  } finally {
    db.close();
  }
}

async function benchOne(s: Setting, work: string): Promise<Record<string, unknown>> {
  const kbPath = join(work, `${s.name}.sqlite`);
  const kbBuild = await timed(() => buildKnowledgeBase(s.kbTsv, kbPath));
  const kb = openKnowledgeBase(kbPath);
  const train = await readDataset(s.train, { format: s.format });
  const dev = await readDataset(s.dev, { format: s.format });
  const trainCodes = codesOfDataset(train);
  const mentions = devMentions(dev);
  const queries = mentions.map((m) => m.query);
  const kbCodes = new Set(kb.codes());
  let inKb = 0;
  for (const m of mentions) if (codeSet(m.code).every((c) => kbCodes.has(c))) inKb++;
  const out: Record<string, unknown> = { dataset: s.name, kb_names: kb.stats().names, kb_concepts: kb.stats().concepts, gold_code_in_kb: round(inKb / mentions.length), kb_build_seconds: round(kbBuild.seconds, 2) };
  try {
    // TF-IDF.
    const tfidfBuild = await timed(() => loadOrBuildLexicalIndex(kb));
    const tfidf = TfidfLinker.fromKnowledgeBase(kb);
    const tfidfRun = await timed(() => tfidf.link(queries, { numBeams: K }));
    const tfidfScore = score(dev, mentions, tfidfRun.value, tfidfRun.seconds, tfidfRun.cpuSeconds, trainCodes);
    // Dictionary baseline (its own time: the TF-IDF fallback's time plus the look-ups).
    const dictRun = await timed(() => dictionaryResults(train, mentions, tfidfRun.value));
    const dictScore = score(dev, mentions, dictRun.value, dictRun.seconds + tfidfRun.seconds, dictRun.cpuSeconds + tfidfRun.cpuSeconds, trainCodes);
    // Hybrid: training memory + reranker from the training file only.
    const trained = await timed(() => trainLinker(kbPath, { train: [{ path: s.train, format: s.format }], seed: 1, restrictToKb: s.restrictToKb }));
    const heapBefore = heapAfterGc();
    const hybridOpen = await timed(() => HybridLinker.fromKnowledgeBase(kb));
    const hybrid = hybridOpen.value;
    const heapAfter = heapAfterGc();
    const hybridRun = await timed(() => hybrid.link(queries, { numBeams: K }));
    const hybridScore = score(dev, mentions, hybridRun.value, hybridRun.seconds, hybridRun.cpuSeconds, trainCodes);
    const pooled = await pooledHybrid(kbPath, mentions, hybridRun.value, hybridOpen.seconds + hybridRun.seconds);
    out.linkers = {
      tfidf: { ...tfidfScore.scored, index_build_seconds: round(tfidfBuild.seconds, 3) },
      dictionary: dictScore.scored,
      hybrid: {
        ...hybridScore.scored,
        train_seconds: round(trained.seconds, 1),
        training_mentions: trained.value.mentions,
        cv: trained.value.cv,
        chosen: trained.value.chosen,
        train_candidate_recall: round(trained.value.candidateRecall),
        index_build_seconds: round(hybridOpen.seconds, 3),
        index_heap_mb: Math.round((heapAfter - heapBefore) / 2 ** 20),
        end_to_end_mentions_per_second: Math.round(mentions.length / (hybridOpen.seconds + hybridRun.seconds)),
      },
      hybrid_workers: pooled,
    };
    out.hybrid_error_analysis = errorAnalysis(train, mentions, hybridRun.value);
    const memory = readTrainingMentions(kbPath);
    const names = [...kb.groups()].flatMap((g) => [...kb.entriesOfGroup(g)].map((e) => ({ group: g, text: e.name }))).concat(memory.map((m) => ({ group: m.group, text: m.text })));
    out.bm25_backends = compareBm25Backends(names, mentions.map((m) => ({ group: m.label, text: m.text })), join(work, `${s.name}-fts5.sqlite`));
  } finally {
    kb.close();
  }
  return out;
}

/** Hybrid top-1 accuracy split by verbatim-seen / not-seen mention text, composite gold, and some misses. */
function errorAnalysis(train: Dataset, mentions: readonly DevMention[], results: readonly LinkResult[]): Record<string, unknown> {
  const seenText = new Set<string>();
  for (const d of train.documents) for (const m of d.mentions) seenText.add(`${m.label}\u0000${m.text.trim().toLowerCase()}`);
  const buckets: Record<string, [number, number]> = {};
  const misses: string[] = [];
  mentions.forEach((m, i) => {
    const top = results[i]?.beams?.[0];
    const hit = top !== undefined && codeSet(top.pred_concept_code).join("+") === codeSet(m.code).join("+");
    const keys = [seenText.has(`${m.label}\u0000${m.text.trim().toLowerCase()}`) ? "text_seen_in_train" : "text_not_in_train", m.code.includes("+") ? "composite_gold" : "single_gold"];
    if (m.query.expansion !== undefined) keys.push("short_form_defined_in_document");
    for (const k of keys) {
      buckets[k] ??= [0, 0];
      buckets[k][0]++;
      if (hit) buckets[k][1]++;
    }
    if (!hit && misses.length < 15 && i % 7 === 0) misses.push(`${m.label} | ${m.text} | gold ${m.code} | predicted ${top?.pred_concept_code ?? "-"} ${top?.pred_concept_name ?? ""}`);
  });
  return { recall_at_1: Object.fromEntries(Object.entries(buckets).map(([k, [n, h]]) => [k, { n, recall_at_1: round(h / n) }])), example_misses: misses };
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
  const only = process.argv[2];
  const work = mkdtempSync(join(tmpdir(), "syncabel-bench-eval-"));
  try {
    const gaz = join(work, "bc5cdr-kb.tsv");
    bc5cdrGazetteer(join(DATA, "bc5cdr/entities.txt"), gaz);
    const settings: Setting[] = [
      { name: "spaccc-test-dev", kbTsv: join(DATA, "spaccc/kb-proxy-dev.tsv"), train: join(DATA, "spaccc/train.tsv"), dev: join(DATA, "spaccc/test-dev.tsv"), format: "spaccc", restrictToKb: true },
      { name: "bc5cdr-dev", kbTsv: gaz, train: join(DATA, "bc5cdr/train_corpus.txt"), dev: join(DATA, "bc5cdr/dev_corpus.txt"), format: "pubtator", restrictToKb: false },
    ];
    const results: Record<string, unknown>[] = [];
    for (const s of settings) {
      if (only !== undefined && !s.name.startsWith(only)) continue;
      const result = await benchOne(s, work);
      process.stderr.write(`${JSON.stringify(result)}\n`); // each dataset as soon as it is done
      results.push(result);
    }
    process.stdout.write(`${JSON.stringify({ k: K, load_average_1min: round(loadavg()[0] ?? 0, 2), results }, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
