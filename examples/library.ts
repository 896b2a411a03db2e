/**
 * syncabel as a library, end to end on the example KB (examples/kb-es.tsv), without a model:
 * build a KB index, link marked sentences (the authors' `sample` API), link a whole document in memory and as a
 * stream, evaluate, train the hybrid linker on annotated documents, and serve the linker over HTTP.
 *
 *   node --import tsx examples/library.ts        (from a clone; `npm test` type-checks and runs it)
 *
 * With a converted model folder, `openLinker({ kb, model: DIR, language: "es" })` opens the generative linker
 * instead; every call below stays the same.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  addTrainingMentions,
  buildKnowledgeBase,
  evaluate,
  goldFromDataset,
  linkDataset,
  linkDocument,
  openLinker,
  startLinkServer,
  trainLinker,
  type Dataset,
  type Document,
  type Prediction,
  type SampleResult,
} from "syncabel";

const terms = fileURLToPath(new URL("./kb-es.tsv", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "syncabel-example-"));
const kbPath = join(work, "kb-es.sqlite");

/** A document with its mentions given by offsets (as a dataset reader gives them), each with its gold code. */
function document(id: string, text: string, mentions: readonly [string, string, string][]): Document {
  return {
    id,
    text,
    language: "es",
    mentions: mentions.map(([span, label, code], i) => {
      const start = text.indexOf(span);
      return { id: `m${i}`, label, fragments: [{ start, end: start + span.length }], text: span, codes: [code] };
    }),
  };
}

try {
  // 1. A KB index from a terminology file (TSV here; SNOMED CT RF2, UMLS RRF, OBO and OBO Graphs work alike).
  const report = await buildKnowledgeBase(terms, kbPath);
  console.log(`KB: ${report.concepts} concepts, ${report.names} names`);

  // 2. The authors' API: marked sentences in, ranked beams out. Without a model: the TF-IDF linker.
  const linker = await openLinker({ kb: kbPath });
  const results: SampleResult[] = await linker.sample(["El paciente con [TEP]{ENFERMEDAD} ingresa en urgencias.", "sin marca"], { num_beams: 3 });
  for (const r of results) console.log(r.error ? `error ${r.error.code}` : `sample ${r.beams[0]?.pred_concept_code} ${r.beams[0]?.pred_concept_name}`);

  // 3. A whole document in memory: each mention's sentence and document context come from the document.
  const doc = document("caso-1", "Varón de 60 años con HTA y diabetes tipo 2. Refiere fiebre y tos desde ayer.", [
    ["HTA", "ENFERMEDAD", "38341003"],
    ["diabetes tipo 2", "ENFERMEDAD", "44054006"],
    ["fiebre", "SINTOMA", "386661006"],
    ["tos", "SINTOMA", "49727002"],
  ]);
  const linked = await linkDocument(doc, linker, { numBeams: 3 });
  for (const m of linked.mentions) console.log(`document ${m.mention.text} -> ${m.beams[0]?.pred_concept_code ?? m.error?.code}`);

  // 4. Many documents as a stream (one result per document, in order), then Recall@1 against the gold codes.
  const dataset: Dataset = { format: "brat", problems: [], documents: [doc, document("caso-2", "Dolor abdominal y vómitos.", [["vómitos", "SINTOMA", "422400008"]])] };
  const predictions: Prediction[] = [];
  for await (const d of linkDataset(dataset.documents, linker, { numBeams: 3 })) {
    for (const m of d.mentions) {
      const f = m.mention.fragments;
      predictions.push({ doc: d.document.id, label: m.mention.label, start: f[0]!.start, end: f[f.length - 1]!.end, codes: m.beams.map((b) => b.pred_concept_code) });
    }
  }
  const evaluation = evaluate(goldFromDataset(dataset), predictions, { ks: [1, 3], resamples: 100 });
  console.log(`Recall@1 ${evaluation.overall.recall[1]} on ${evaluation.overall.n} mentions`);
  await linker.close();

  // 5. Training: annotated documents become the KB's training memory, then the hybrid linker's reranker is fitted
  //    (out-of-fold); the KB then opens with the hybrid linker by default.
  addTrainingMentions(kbPath, dataset, "example-annotations");
  const training = await trainLinker(kbPath, { folds: 2, seed: 1 });
  console.log(`hybrid linker trained on ${training.mentions} mentions`);
  const hybrid = await openLinker({ kb: kbPath });
  console.log(`default linker now: ${hybrid.kind}`);

  // 6. The same linker over HTTP (localhost; the web page is at the root URL).
  const server = await startLinkServer(hybrid, { port: 0 });
  const res = await fetch(`${server.url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sentences: ["Refiere [fiebre]{SINTOMA} alta."], num_beams: 2 }) });
  const body = (await res.json()) as { results: SampleResult[] };
  console.log(`http ${res.status} ${body.results[0]?.beams?.[0]?.pred_concept_code}`);
  await server.close();
  await hybrid.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}
