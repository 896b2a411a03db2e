/**
 * The document endpoint vs link-docs comparison, shared by test/server/document-parity.test.ts (a deterministic
 * slice of the real dev documents) and `npm run bench:document-parity` (the whole dev sets): one linker instance
 * behind both paths, `POST /v1/link-document` over real HTTP (one request per document) against `linkDocuments`
 * (JSONL output), every mention answered, and answered alike. Also the fixtures both build from ../shared/data:
 * the BC5CDR KB restricted to gold codes, a KB index with a hybrid model trained on a training slice.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { documentQueries } from "../../src/data/mention-queries.js";
import { readDataset } from "../../src/data/read-dataset.js";
import type { Dataset, Document } from "../../src/data/types.js";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { addTrainingMentions } from "../../src/kb/mentions.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { openLinker, type OpenLinkerOptions } from "../../src/linker/open.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import type { Beam, Linker } from "../../src/linker/types.js";
import { startLinkServer } from "../../src/server/index.js";

export const SHARED_DATA = fileURLToPath(new URL("../../../shared/data/", import.meta.url));
export const BC5CDR = join(SHARED_DATA, "bc5cdr");
export const SPACCC = join(SHARED_DATA, "spaccc");

/** What a mention's answer is, on either path. */
export interface Answer {
  readonly sentence: string | undefined;
  readonly beams: readonly Beam[];
  readonly error: string | undefined;
}

/** One mention whose two answers differ (or that one path did not answer). */
export interface Mismatch {
  readonly where: string;
  readonly linkDocs: Answer | undefined;
  readonly http: Answer | undefined;
}

export interface ParityResult {
  readonly mentions: number;
  readonly mismatches: readonly Mismatch[];
}

export const PARITY_BEAMS = 3;

/** link-docs (JSONL output) -> document id -> mention id -> answer. */
async function viaLinkDocs(dataset: Dataset, linker: Linker, out: string): Promise<Map<string, Map<string, Answer>>> {
  const r = await linkDocuments(dataset, linker, { outPath: out, format: "jsonl", numBeams: PARITY_BEAMS, restart: true });
  if (r.aborted) throw new Error(`link-docs aborted while writing ${out}`);
  const answers = new Map<string, Map<string, Answer>>();
  for (const line of readFileSync(out, "utf8").trim().split("\n")) {
    const row = JSON.parse(line) as { document: string; mention_id: string; sentence: string; beams: Beam[]; error?: { code: string } };
    const doc = answers.get(row.document) ?? answers.set(row.document, new Map()).get(row.document)!;
    doc.set(row.mention_id, { sentence: row.error === undefined || row.sentence !== "" ? row.sentence : undefined, beams: row.beams, error: row.error?.code });
  }
  return answers;
}

/** One request per document, every mention linked. */
async function viaHttp(documents: readonly Document[], linker: Linker): Promise<Map<string, Map<string, Answer>>> {
  const server = await startLinkServer(linker, { port: 0 });
  const answers = new Map<string, Map<string, Answer>>();
  try {
    for (const d of documents) {
      const doc = new Map<string, Answer>();
      answers.set(d.id, doc);
      const mentions = d.mentions.map((m) => ({ id: m.id, label: m.label, fragments: m.fragments }));
      const body = { document: { id: d.id, text: d.text, ...(d.language === undefined ? {} : { language: d.language }) }, mentions, num_beams: PARITY_BEAMS };
      const res = await fetch(`${server.url}/v1/link-document`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      if (res.status !== 200) throw new Error(`POST /v1/link-document for ${d.id}: HTTP ${res.status} ${await res.text()}`);
      const { results } = (await res.json()) as { results: { mention_id: string; sentence?: string; beams?: Beam[]; error?: { code: string } }[] };
      for (const r of results) doc.set(r.mention_id, { sentence: r.sentence, beams: r.beams ?? [], error: r.error?.code });
    }
  } finally {
    await server.close();
  }
  return answers;
}

/** Equal answers; with `scoreTolerance` > 0, beam scores may differ by that relative amount (all else equal). */
function sameAnswer(a: Answer | undefined, b: Answer | undefined, scoreTolerance: number): boolean {
  if (a === undefined || b === undefined) return false;
  if (scoreTolerance === 0) return isDeepStrictEqual(a, b);
  const scoreless = (x: Answer): Answer => ({ ...x, beams: x.beams.map((beam) => ({ ...beam, beam_score: 0 })) });
  if (!isDeepStrictEqual(scoreless(a), scoreless(b))) return false;
  return b.beams.every((beam, i) => Math.abs(beam.beam_score - (a.beams[i]?.beam_score ?? NaN)) <= scoreTolerance * beam.beam_score);
}

/**
 * Both paths over `documents` with one linker opened from `options`. `scoreTolerance`: the model linkers' scores
 * depend on which mentions share a model batch, in the last float32 digits.
 */
export async function compareDocumentPaths(documents: readonly Document[], options: OpenLinkerOptions, out: string, scoreTolerance = 0): Promise<ParityResult> {
  const dataset: Dataset = { format: "pubtator", documents, problems: [] };
  const linker = await openLinker(options);
  let batch: Map<string, Map<string, Answer>>;
  let page: Map<string, Map<string, Answer>>;
  try {
    batch = await viaLinkDocs(dataset, linker, out);
    page = await viaHttp(documents, linker);
  } finally {
    await linker.close();
  }
  let mentions = 0;
  const mismatches: Mismatch[] = [];
  for (const d of documents) {
    for (const m of d.mentions) {
      mentions++;
      const a = batch.get(d.id)?.get(m.id);
      const b = page.get(d.id)?.get(m.id);
      if (!sameAnswer(a, b, scoreTolerance)) mismatches.push({ where: `${d.id} ${m.id} ${m.text}`, linkDocs: a, http: b });
    }
  }
  return { mentions, mismatches };
}

/** Mentions of `documents` that are short forms their document defines (the document-context case: "BHA"). */
export function shortFormMentions(documents: readonly Document[]): number {
  return documents.reduce((n, d) => n + documentQueries(d).filter((q) => q.query?.expansion !== undefined).length, 0);
}

/**
 * A deterministic slice of a dev set for npm test: every `every`-th document, the `longest` longest texts, and the
 * document with the most short-form mentions its text defines; in file order.
 */
export function paritySlice(documents: readonly Document[], every: number, longest = 3): Document[] {
  const keep = new Set<Document>(documents.filter((_, i) => i % every === 0));
  for (const d of [...documents].sort((a, b) => b.text.length - a.text.length).slice(0, longest)) keep.add(d);
  const mostShortForms = documents.reduce<[Document | undefined, number]>((best, d) => {
    const n = shortFormMentions([d]);
    return n > best[1] ? [d, n] : best;
  }, [undefined, 0])[0];
  if (mostShortForms !== undefined) keep.add(mostShortForms);
  return documents.filter((d) => keep.has(d));
}

/** BC5CDR's entities.txt rows of `codes` as a KB TSV offering every name to both labels (the benchmark's setting). */
export function bc5cdrKbTsv(out: string, codes: ReadonlySet<string>): string {
  const lines = ["code\tterm\tgroup"];
  for (const raw of readFileSync(join(BC5CDR, "entities.txt"), "utf8").split(/\r?\n/)) {
    const tab = raw.indexOf("\t");
    if (tab > 0 && codes.has(raw.slice(0, tab))) for (const group of ["Chemical", "Disease"]) lines.push(`${raw.slice(0, tab)}\t${raw.slice(tab + 1)}\t${group}`);
  }
  writeFileSync(out, `${lines.join("\n")}\n`);
  return out;
}

/** A KB index with a hybrid model trained on the first `docs` training documents (one configuration, 2 folds). */
export async function trainedKb(dir: string, kbTsv: string, train: Dataset, docs: number): Promise<string> {
  const kbPath = join(dir, "kb.sqlite");
  await buildKnowledgeBase(kbTsv, kbPath);
  const provenance = join(dir, "train-slice");
  writeFileSync(provenance, "");
  addTrainingMentions(kbPath, { ...train, documents: train.documents.slice(0, docs) }, provenance);
  await trainLinker(kbPath, { folds: 2, seed: 1, grid: [{ hidden: 0, l2: 1e-4 }] });
  return kbPath;
}

/** A dev set's documents and a KB index (hybrid model included) to link them with. */
export interface ParityCorpus {
  readonly kbPath: string;
  readonly documents: readonly Document[];
}

/**
 * BC5CDR (KB: entities.txt restricted to the corpus's gold codes, to keep it fast: the mention queries do not
 * depend on the KB; hybrid trained on 20 training documents) and SPACCC (proxy dev KB; 30 training documents),
 * built under `dir`.
 */
export async function parityCorpora(dir: string): Promise<Record<"bc5cdr" | "spaccc", ParityCorpus>> {
  const bcDir = join(dir, "bc");
  const spDir = join(dir, "sp");
  for (const d of [bcDir, spDir]) mkdirSync(d, { recursive: true });
  const bcTrain = await readDataset(join(BC5CDR, "train_corpus.txt"), { format: "pubtator" });
  const bcDev = await readDataset(join(BC5CDR, "dev_corpus.txt"), { format: "pubtator" });
  const gold = new Set([...bcTrain.documents, ...bcDev.documents].flatMap((d) => d.mentions.flatMap((m) => m.codes)));
  const bc5cdr = { kbPath: await trainedKb(bcDir, bc5cdrKbTsv(join(bcDir, "kb.tsv"), gold), bcTrain, 20), documents: bcDev.documents };
  const spTrain = await readDataset(join(SPACCC, "train.tsv"), { format: "spaccc" });
  const spaccc = { kbPath: await trainedKb(spDir, join(SPACCC, "kb-proxy-dev.tsv"), spTrain, 30), documents: (await readDataset(join(SPACCC, "test-dev.tsv"), { format: "spaccc" })).documents };
  return { bc5cdr, spaccc };
}

/** Both dev sets and the training files are present. */
export function parityDataPresent(): boolean {
  return existsSync(join(BC5CDR, "dev_corpus.txt")) && existsSync(join(SPACCC, "test-dev.tsv"));
}

/** The two short SPACCC dev documents (5 to 8 mentions) the model linkers (tiny random model) compare on. */
export function shortDocuments(documents: readonly Document[], count = 2): Document[] {
  return documents.filter((d) => d.mentions.length >= 5 && d.mentions.length <= 8).slice(0, count);
}
