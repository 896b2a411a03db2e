/**
 * The web page's document endpoint and link-docs give the same answers, mention for mention, for every linker
 * kind: `POST /v1/link-document` over real HTTP (one request per document; the page's requests in parts are
 * tested in test/web and web-api.test.ts) against `linkDocuments` (link-docs) on the real BC5CDR and SPACCC dev
 * documents, one linker instance behind both: both dev sets whole for the model-free linkers (hybrid trained on a
 * training slice; BC5CDR's KB is entities.txt restricted to the corpus's gold codes, to keep the test fast: the
 * mention queries do not depend on the KB), two short SPACCC documents for the model linkers (tiny random model).
 * Skips with a message where ../shared/data is absent.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";
import type { Dataset, Document } from "../../src/data/types.js";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { addTrainingMentions } from "../../src/kb/mentions.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { openLinker, type OpenLinkerOptions } from "../../src/linker/open.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import type { Beam, Linker, LinkerKind } from "../../src/linker/types.js";
import { startLinkServer } from "../../src/server/index.js";
import { makeTinyModel } from "../support/tiny-model.js";

const DATA = new URL("../../../shared/data/", import.meta.url).pathname;
const BC5CDR = join(DATA, "bc5cdr");
const SPACCC = join(DATA, "spaccc");
const present = existsSync(join(BC5CDR, "dev_corpus.txt")) && existsSync(join(SPACCC, "test-dev.tsv"));
if (!present) console.warn(`document-parity.test: skipped, no BC5CDR / SPACCC data under ${DATA}`);

/** What a mention's answer is, on either path. */
interface Answer {
  readonly sentence: string | undefined;
  readonly beams: readonly Beam[];
  readonly error: string | undefined;
}

const BEAMS = 3;

/** link-docs (JSONL output) -> document id -> mention id -> answer. */
async function viaLinkDocs(dataset: Dataset, linker: Linker, out: string): Promise<Map<string, Map<string, Answer>>> {
  const r = await linkDocuments(dataset, linker, { outPath: out, format: "jsonl", numBeams: BEAMS, restart: true });
  expect(r.aborted).toBe(false);
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
      const body = { document: { id: d.id, text: d.text, ...(d.language === undefined ? {} : { language: d.language }) }, mentions, num_beams: BEAMS };
      const res = await fetch(`${server.url}/v1/link-document`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      expect(res.status, await res.clone().text()).toBe(200);
      const { results } = (await res.json()) as { results: { mention_id: string; sentence?: string; beams?: Beam[]; error?: { code: string } }[] };
      for (const r of results) doc.set(r.mention_id, { sentence: r.sentence, beams: r.beams ?? [], error: r.error?.code });
    }
  } finally {
    await server.close();
  }
  return answers;
}

/**
 * Both paths over `documents` with one linker: every mention answered, and answered alike. `scoreTolerance`: the
 * model linkers' scores depend on which mentions share a model batch, in the last float32 digits.
 */
async function expectParity(documents: readonly Document[], options: OpenLinkerOptions, out: string, scoreTolerance = 0): Promise<number> {
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
  for (const d of documents) {
    for (const m of d.mentions) {
      mentions++;
      const a = batch.get(d.id)?.get(m.id);
      const b = page.get(d.id)?.get(m.id);
      const where = `${d.id} ${m.id} ${m.text}`;
      expect(a, where).toBeDefined();
      if (scoreTolerance === 0) {
        expect(b, where).toEqual(a);
        continue;
      }
      const scoreless = (x: Answer | undefined) => x && { ...x, beams: x.beams.map((beam) => ({ ...beam, beam_score: 0 })) };
      expect(scoreless(b), where).toEqual(scoreless(a));
      b?.beams.forEach((beam, i) => expect(Math.abs(beam.beam_score - (a?.beams[i]?.beam_score ?? NaN)), where).toBeLessThanOrEqual(scoreTolerance * beam.beam_score));
    }
  }
  return mentions;
}

/** BC5CDR's entities.txt rows of `codes` as a KB TSV offering every name to both labels (the benchmark's setting). */
function bc5cdrKbTsv(out: string, codes: ReadonlySet<string>): string {
  const lines = ["code\tterm\tgroup"];
  for (const raw of readFileSync(join(BC5CDR, "entities.txt"), "utf8").split(/\r?\n/)) {
    const tab = raw.indexOf("\t");
    if (tab > 0 && codes.has(raw.slice(0, tab))) for (const group of ["Chemical", "Disease"]) lines.push(`${raw.slice(0, tab)}\t${raw.slice(tab + 1)}\t${group}`);
  }
  writeFileSync(out, `${lines.join("\n")}\n`);
  return out;
}

/** A KB index with a hybrid model trained on the first `docs` training documents (one configuration, 2 folds). */
async function trainedKb(dir: string, kbTsv: string, train: Dataset, docs: number): Promise<string> {
  const kbPath = join(dir, "kb.sqlite");
  await buildKnowledgeBase(kbTsv, kbPath);
  const provenance = join(dir, "train-slice");
  writeFileSync(provenance, "");
  addTrainingMentions(kbPath, { ...train, documents: train.documents.slice(0, docs) }, provenance);
  await trainLinker(kbPath, { folds: 2, seed: 1, grid: [{ hidden: 0, l2: 1e-4 }] });
  return kbPath;
}

describe.skipIf(!present)("POST /v1/link-document equals link-docs on real dev documents", () => {
  let dir: string;
  let model: { dir: string; cleanup: () => void };
  const kbs: Record<"bc5cdr" | "spaccc", { kbPath: string; documents: readonly Document[] }> = {} as never;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-parity-"));
    model = await makeTinyModel({ seed: 5 });
    const bcDir = mkdtempSync(join(dir, "bc-"));
    const bcTrain = await readDataset(join(BC5CDR, "train_corpus.txt"), { format: "pubtator" });
    const bcDev = await readDataset(join(BC5CDR, "dev_corpus.txt"), { format: "pubtator" });
    const gold = new Set([...bcTrain.documents, ...bcDev.documents].flatMap((d) => d.mentions.flatMap((m) => m.codes)));
    kbs.bc5cdr = { kbPath: await trainedKb(bcDir, bc5cdrKbTsv(join(bcDir, "kb.tsv"), gold), bcTrain, 20), documents: bcDev.documents };
    const spDir = mkdtempSync(join(dir, "sp-"));
    const spTrain = await readDataset(join(SPACCC, "train.tsv"), { format: "spaccc" });
    kbs.spaccc = { kbPath: await trainedKb(spDir, join(SPACCC, "kb-proxy-dev.tsv"), spTrain, 30), documents: (await readDataset(join(SPACCC, "test-dev.tsv"), { format: "spaccc" })).documents };
  }, 600_000);
  afterAll(() => {
    model?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const name of ["bc5cdr", "spaccc"] as const) {
    for (const kind of ["tfidf", "hybrid"] as const satisfies readonly LinkerKind[]) {
      it(`${name}, ${kind}: dev documents`, async () => {
        const { kbPath, documents } = kbs[name];
        const n = await expectParity(documents, { kb: kbPath, linker: kind }, join(dir, `${name}-${kind}.jsonl`));
        expect(n).toBe(documents.reduce((a, d) => a + d.mentions.length, 0));
        expect(n).toBeGreaterThan(4000);
      }, 600_000);
    }
  }

  for (const kind of ["generative", "retrieve-generate"] as const satisfies readonly LinkerKind[]) {
    it(`spaccc, ${kind} (tiny random model): two short dev documents`, async () => {
      const { kbPath, documents } = kbs.spaccc;
      const few = documents.filter((d) => d.mentions.length >= 5 && d.mentions.length <= 8).slice(0, 2);
      const options: OpenLinkerOptions = { kb: kbPath, linker: kind, model: model.dir, threads: 1, ...(kind === "retrieve-generate" ? { candidates: 4 } : {}) };
      const n = await expectParity(few, options, join(dir, `spaccc-${kind}.jsonl`), 1e-5);
      expect(n).toBeGreaterThanOrEqual(10);
    }, 600_000);
  }
});
