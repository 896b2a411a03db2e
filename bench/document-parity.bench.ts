/**
 * `npm run bench:document-parity`: the whole-dev-set sweep behind test/server/document-parity.test.ts (which runs
 * a slice of it). `POST /v1/link-document` vs link-docs, mention for mention, on every BC5CDR and SPACCC dev
 * document for the TF-IDF and hybrid linkers, and on --model-docs short SPACCC dev documents for the generative
 * and retrieve-generate linkers (tiny random model). Prints JSON counts (mentions compared, mismatches, the first
 * few mismatches) per corpus and linker; exits 1 on any mismatch.
 *
 *   npm run bench:document-parity
 *   npm run bench:document-parity -- --only spaccc --model-docs 10
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { OpenLinkerOptions } from "../src/linker/open.js";
import { compareDocumentPaths, parityCorpora, parityDataPresent, SHARED_DATA, shortDocuments, shortFormMentions } from "../test/support/document-parity.js";
import { makeTinyModel } from "../test/support/tiny-model.js";

const { values } = parseArgs({ options: { only: { type: "string" }, "model-docs": { type: "string", default: "2" } } });
const modelDocs = Number(values["model-docs"]);
if (!Number.isInteger(modelDocs) || modelDocs < 0 || (values.only !== undefined && !["bc5cdr", "spaccc"].includes(values.only))) {
  process.stderr.write("usage: npm run bench:document-parity -- [--only bc5cdr|spaccc] [--model-docs N]\n");
  process.exit(2);
}
if (!parityDataPresent()) {
  process.stderr.write(`bench:document-parity: no BC5CDR / SPACCC dev data under ${SHARED_DATA}\n`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "syncabel-bench-parity-"));
const model = await makeTinyModel({ seed: 5 });
const runs: Record<string, unknown>[] = [];
let failed = 0;
try {
  const corpora = await parityCorpora(dir);
  for (const name of ["bc5cdr", "spaccc"] as const) {
    if (values.only !== undefined && values.only !== name) continue;
    const { kbPath, documents } = corpora[name];
    const jobs: [string, typeof documents, OpenLinkerOptions, number][] = [
      ["tfidf", documents, { kb: kbPath, linker: "tfidf" }, 0],
      ["hybrid", documents, { kb: kbPath, linker: "hybrid" }, 0],
    ];
    if (name === "spaccc" && modelDocs > 0) {
      const few = shortDocuments(documents, modelDocs);
      jobs.push(["generative", few, { kb: kbPath, linker: "generative", model: model.dir, threads: 1 }, 1e-5]);
      jobs.push(["retrieve-generate", few, { kb: kbPath, linker: "retrieve-generate", model: model.dir, threads: 1, candidates: 4 }, 1e-5]);
    }
    for (const [linker, docs, options, tolerance] of jobs) {
      const started = performance.now();
      const { mentions, mismatches } = await compareDocumentPaths(docs, options, join(dir, `${name}-${linker}.jsonl`), tolerance);
      failed += mismatches.length;
      const run = { corpus: name, linker, documents: docs.length, mentions, short_form_mentions: shortFormMentions(docs), mismatches: mismatches.length, first_mismatches: mismatches.slice(0, 3), seconds: Number(((performance.now() - started) / 1000).toFixed(1)) };
      runs.push(run);
      process.stderr.write(`${name} ${linker}: ${mentions} mentions, ${mismatches.length} mismatches\n`);
    }
  }
} finally {
  model.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify({ runs, mentions: runs.reduce((a, r) => a + (r.mentions as number), 0), mismatches: failed }, null, 2)}\n`);
process.exit(failed > 0 ? 1 : 0);
