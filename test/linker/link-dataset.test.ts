/**
 * Document linking in memory: linkDocument / linkDataset give each mention the answer `sample` gives its marked
 * sentence (TF-IDF reads no document context), in document order however calls are grouped; the file writer
 * writes the same; an aborted run says so.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Document } from "../../src/data/types.js";
import { linkDataset, linkDocument } from "../../src/linker/link-dataset.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { openLinker } from "../../src/linker/open.js";
import type { Linker } from "../../src/linker/types.js";
import { buildKbFromRows } from "../support/kb.js";
import { CLINICAL_KB_ROWS } from "../support/linker-fixtures.js";

function doc(id: string, text: string, spans: readonly [string, string][]): Document {
  return { id, text, language: "es", mentions: spans.map(([span, label], i) => ({ id: `${id}-${i}`, label, fragments: [{ start: text.indexOf(span), end: text.indexOf(span) + span.length }], text: span, codes: [] })) };
}

const DOCS: Document[] = [
  doc("a", "Paciente con neumonía bacteriana. Refiere fiebre y tos.", [["neumonía bacteriana", "ENFERMEDAD"], ["fiebre", "SINTOMA"], ["tos", "SINTOMA"]]),
  doc("b", "Antecedentes de asma bronquial.", [["asma bronquial", "ENFERMEDAD"]]),
  doc("c", "Cefalea intensa y migraña previa.", [["Cefalea", "SINTOMA"], ["migraña", "ENFERMEDAD"], ["previa", "OTRO"]]),
];

let dir: string;
let linker: Linker;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-link-dataset-"));
  linker = await openLinker({ kb: await buildKbFromRows(dir, CLINICAL_KB_ROWS) });
});
afterAll(async () => {
  await linker.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The reference: each mention's marked sentence written by hand, linked with `sample`. */
const SENTENCES = [
  "Paciente con [neumonía bacteriana]{ENFERMEDAD}.",
  "Refiere [fiebre]{SINTOMA} y tos.",
  "Refiere fiebre y [tos]{SINTOMA}.",
  "Antecedentes de [asma bronquial]{ENFERMEDAD}.",
  "[Cefalea]{SINTOMA} intensa y migraña previa.",
  "Cefalea intensa y [migraña]{ENFERMEDAD} previa.",
  "Cefalea intensa y migraña [previa]{OTRO}.",
];

describe("linkDocument / linkDataset", () => {
  it("answer each mention as sample answers its marked sentence, in order, however calls are grouped", async () => {
    const expected = (await linker.sample(SENTENCES, { num_beams: 3 })).map((r) => ({ sentence: r.sentence, beams: r.beams ?? [], error: r.error?.code }));
    expect(expected[6]?.error).toBe("MARKUP_UNKNOWN_GROUP");
    const flat = (docs: { mentions: readonly { sentence: string; beams: readonly unknown[]; error?: { code: string } }[] }[]) =>
      docs.flatMap((d) => d.mentions.map((m) => ({ sentence: m.sentence, beams: m.beams, error: m.error?.code })));
    const one = await Promise.all(DOCS.map((d) => linkDocument(d, linker, { numBeams: 3 })));
    expect(one.map((d) => d.document.id)).toEqual(["a", "b", "c"]);
    expect(flat(one)).toEqual(expected);
    for (const [batchSize, concurrency] of [[1, 1], [2, 3], [100, 1]] as const) {
      const streamed = [];
      for await (const d of linkDataset(DOCS, linker, { numBeams: 3, batchSize, concurrency })) streamed.push(d);
      expect(flat(streamed)).toEqual(expected);
    }
    // The resumable file writer writes the same answers.
    const out = join(dir, "out.jsonl");
    await linkDocuments({ format: "brat", documents: DOCS, problems: [] }, linker, { outPath: out, format: "jsonl", numBeams: 3 });
    const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { sentence: string; beams: unknown[]; error?: { code: string } });
    expect(rows.map((r) => ({ sentence: r.sentence, beams: r.beams, error: r.error?.code }))).toEqual(expected);
  });

  it("stops when the signal aborts: a document not linked is an INTERRUPTED error, a stream ends early", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(linkDocument(DOCS[0]!, linker, { signal: controller.signal })).rejects.toMatchObject({ code: "INTERRUPTED" });
    const later = new AbortController();
    const seen: string[] = [];
    for await (const d of linkDataset(DOCS, linker, { batchSize: 1, signal: later.signal })) {
      seen.push(d.document.id);
      later.abort();
    }
    expect(seen).toEqual(["a"]);
  });
});
