import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { quotedTsvFields } from "../../src/data/tsv.js";
import type { Dataset, Document } from "../../src/data/types.js";
import { linkDocuments, partialPathFor, type PredictionFormat } from "../../src/linker/link-documents.js";
import { sampleSentences } from "../../src/linker/sample.js";
import type { Beam, Linker, LinkOptions, LinkResult, MentionQuery, SampleOptions, SampleResult } from "../../src/linker/types.js";
import { run } from "../../src/cli/commands/link-docs.js";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { mulberry32 } from "../../src/util/random.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-linkdocs-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A deterministic linker answering from a Map keyed by mention text; it records every call. */
class MapLinker implements Linker {
  readonly kind = "tfidf";
  readonly calls: number[] = [];
  constructor(private readonly answers: ReadonlyMap<string, string>) {}
  async link(queries: readonly MentionQuery[], options?: LinkOptions): Promise<LinkResult[]> {
    this.calls.push(queries.length);
    const n = options?.numBeams ?? 5;
    return queries.map((q) => {
      const code = this.answers.get(q.mention);
      if (code === undefined) return { error: { code: "MARKUP_UNKNOWN_GROUP", message: `no answer for ${q.mention}`, details: {} } };
      const beams: Beam[] = [];
      for (let k = 0; k < Math.min(n, 2); k++) {
        beams.push({ mention: q.mention, semantic_group: q.group, pred_concept_name: `${q.mention} ${k}`, pred_concept_code: k === 0 ? code : `${code}-alt`, beam_score: 1 / (k + 2), pred_concept_codes: [code] });
      }
      return { beams };
    });
  }
  sample(sentences: readonly string[], options?: SampleOptions): Promise<SampleResult[]> {
    return sampleSentences(this, sentences, options);
  }
  async close(): Promise<void> {}
}

/** Ten documents with 1-3 mentions each; mention k of doc d is the word `wd_k`. */
function dataset(): { data: Dataset; answers: Map<string, string> } {
  const documents: Document[] = [];
  const answers = new Map<string, string>();
  for (let d = 0; d < 10; d++) {
    const words = Array.from({ length: 1 + (d % 3) }, (_, k) => `w${d}x${k}`);
    const text = words.map((w) => `Presenta ${w} "leve".`).join(" ");
    const mentions = words.map((w, k) => {
      const s = text.indexOf(w);
      if (d !== 7 || k !== 0) answers.set(w, `C${d}${k}`); // doc 7, mention 0: the linker errors
      return { id: `m${k}`, label: "SINTOMA", fragments: [{ start: s, end: s + w.length }], text: w, codes: [`C${d}${k}`] };
    });
    documents.push({ id: `doc${d}`, text, mentions, language: "es" });
  }
  return { data: { format: "spaccc", documents, problems: [] }, answers };
}

function docsOfOutput(path: string, format: PredictionFormat): string[] {
  const lines = readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
  return (format === "tsv" ? lines.slice(1).map((l) => quotedTsvFields(l)[0] as string) : lines.map((l) => (JSON.parse(l) as { document: string }).document));
}

describe.each(["tsv", "jsonl"] as const)("linkDocuments (%s)", (format) => {
  it("writes one row per mention in order, batching across documents", async () => {
    const { data, answers } = dataset();
    const linker = new MapLinker(answers);
    const out = join(dir, `out.${format}`);
    const r = await linkDocuments(data, linker, { outPath: out, format, batchSize: 4, numBeams: 3 });
    const expected = data.documents.flatMap((d) => d.mentions.map(() => d.id));
    expect(docsOfOutput(out, format)).toEqual(expected);
    expect(r).toMatchObject({ linkedDocuments: 10, skippedDocuments: 0, mentions: expected.length, mentionErrors: 1, aborted: false });
    expect(Math.max(...linker.calls)).toBeLessThanOrEqual(4);
    expect(existsSync(partialPathFor(out))).toBe(false);
  });

  it("resumes after an interruption and a torn tail: every document exactly once, same bytes as one run", async () => {
    const { data, answers } = dataset();
    const reference = join(dir, `ref.${format}`);
    await linkDocuments(data, new MapLinker(answers), { outPath: reference, format, batchSize: 3 });
    const out = join(dir, `out.${format}`);
    // 1) interrupted after 4 documents
    const controller = new AbortController();
    let written = 0;
    const r1 = await linkDocuments(data, new MapLinker(answers), {
      outPath: out, format, batchSize: 3, signal: controller.signal,
      onDocumentWritten: () => { if (++written === 4) controller.abort(); },
    });
    expect(r1.aborted).toBe(true);
    expect(existsSync(out)).toBe(false);
    const partial = partialPathFor(out);
    // 2) a kill mid-write: half a row of the next document, then a complete-looking but short group
    const refLines = readFileSync(reference, "utf8").split("\n");
    const nextDocFirstRow = refLines.find((l) => l.includes("doc4") && !l.startsWith("filename")) as string;
    appendFileSync(partial, nextDocFirstRow.slice(0, 25));
    const sizeWithTorn = readFileSync(partial).length;
    // 3) resume, interrupted again after 2 more documents
    const c2 = new AbortController();
    let w2 = 0;
    const r2 = await linkDocuments(data, new MapLinker(answers), { outPath: out, format, batchSize: 3, signal: c2.signal, onDocumentWritten: () => { if (++w2 === 2) c2.abort(); } });
    expect(r2.skippedDocuments).toBe(4);
    expect(readFileSync(partial).length).toBeGreaterThan(sizeWithTorn - 25);
    // 4) truncate in the middle of the last line (a torn final write), then finish
    const bytes = readFileSync(partial).length;
    truncateSync(partial, bytes - 7);
    const linker = new MapLinker(answers);
    const r3 = await linkDocuments(data, linker, { outPath: out, format, batchSize: 3 });
    expect(r3.skippedDocuments).toBe(5); // doc5 was torn: linked again
    expect(r3.linkedDocuments).toBe(5);
    expect(readFileSync(out, "utf8")).toBe(readFileSync(reference, "utf8"));
    // 5) a re-run of a finished output skips everything and changes nothing
    const r4 = await linkDocuments(data, new MapLinker(answers), { outPath: out, format, batchSize: 3 });
    expect(r4).toMatchObject({ linkedDocuments: 0, skippedDocuments: 10 });
    expect(readFileSync(out, "utf8")).toBe(readFileSync(reference, "utf8"));
  });
});

/** MapLinker whose calls finish after seeded random delays: with several calls in flight they end out of order. */
class SlowMapLinker extends MapLinker {
  private readonly random = mulberry32(9);
  inFlight = 0;
  maxInFlight = 0;
  override async link(queries: readonly MentionQuery[], options?: LinkOptions): Promise<LinkResult[]> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, Math.floor(this.random() * 15)));
    this.inFlight--;
    return super.link(queries, options);
  }
}

describe.each(["tsv", "jsonl"] as const)("linkDocuments with calls in flight (%s)", (format) => {
  it("writes the bytes of one call at a time, whatever order calls finish in; an interrupt leaves a resumable file", async () => {
    const { data, answers } = dataset();
    const reference = join(dir, `ref.${format}`);
    await linkDocuments(data, new MapLinker(answers), { outPath: reference, format, batchSize: 2 });
    const out = join(dir, `out.${format}`);
    const slow = new SlowMapLinker(answers);
    const r = await linkDocuments(data, slow, { outPath: out, format, batchSize: 2, concurrency: 3 });
    expect(slow.maxInFlight).toBe(3);
    expect(r).toMatchObject({ linkedDocuments: 10, mentionErrors: 1, aborted: false });
    expect(readFileSync(out, "utf8")).toBe(readFileSync(reference, "utf8"));
    // Interrupted after 3 documents with calls still in flight: only whole, in-order documents are kept.
    const again = join(dir, `again.${format}`);
    const controller = new AbortController();
    let written = 0;
    const r1 = await linkDocuments(data, new SlowMapLinker(answers), { outPath: again, format, batchSize: 2, concurrency: 3, signal: controller.signal, onDocumentWritten: () => { if (++written === 3) controller.abort(); } });
    expect(r1.aborted).toBe(true);
    const r2 = await linkDocuments(data, new SlowMapLinker(answers), { outPath: again, format, batchSize: 2, concurrency: 3 });
    expect(r2.skippedDocuments).toBe(3);
    expect(readFileSync(again, "utf8")).toBe(readFileSync(reference, "utf8"));
  });
});

describe("syncabel link-docs (CLI, real KB + TF-IDF linker)", () => {
  it("links a SPACCC fixture into the authors' TSV layout and prints plain progress lines", async () => {
    const kbTsv = join(dir, "terms.tsv");
    writeFileSync(kbTsv, "code\tterm\tgroup\n386661006\tfiebre\tSINTOMA\n49727002\ttos\tSINTOMA\n25064002\tcefalea\tSINTOMA\n");
    const kb = join(dir, "kb.sqlite");
    await buildKnowledgeBase(kbTsv, kb);
    mkdirSync(join(dir, "texts"));
    const text = "Acude por fiebre. Refiere tos seca y cefalea.";
    writeFileSync(join(dir, "texts", "d1.txt"), text);
    const rows = [["fiebre", "386661006"], ["tos", "49727002"], ["cefalea", "25064002"]].map(([w, c]) => {
      const s = text.indexOf(w as string);
      return `d1\tSINTOMA\t${s}\t${s + (w as string).length}\t${w}\t${c}\tEXACT`;
    });
    writeFileSync(join(dir, "gold.tsv"), `filename\tlabel\tstart_span\tend_span\tspan\tcode\tsemantic_rel\n${rows.join("\n")}\n`);
    const stderr = new PassThrough();
    let err = "";
    stderr.on("data", (b: Buffer) => (err += b.toString()));
    const out = join(dir, "pred.tsv");
    const code = await run(["--kb", kb, "--format", "spaccc", join(dir, "gold.tsv"), "-o", out], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, isTTY: false, env: {} });
    expect(code, err).toBe(0);
    const lines = readFileSync(out, "utf8").trim().split("\n");
    const head = quotedTsvFields(lines[0] as string);
    const got = lines.slice(1).map((l) => quotedTsvFields(l)).map((f) => [f[head.indexOf("sentence")], f[head.indexOf("Predicted_code")], f[head.indexOf("annotation")]]);
    // annotation: the gold code's KB name (here each code has one name).
    expect(got).toEqual([
      ["Acude por [fiebre]{SINTOMA}.", "386661006", "fiebre"],
      ["Refiere [tos]{SINTOMA} seca y cefalea.", "49727002", "tos"],
      ["Refiere tos seca y [cefalea]{SINTOMA}.", "25064002", "cefalea"],
    ]);
    expect(err).toMatch(/link-docs 3\/3 mentions/);
    expect(err).not.toContain("\r");
    // On two worker threads: the same file.
    const pooled = join(dir, "pred-workers.tsv");
    const code2 = await run(["--kb", kb, "--format", "spaccc", "--workers", "2", join(dir, "gold.tsv"), "-o", pooled], { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false, env: {} });
    expect(code2).toBe(0);
    expect(readFileSync(pooled, "utf8")).toBe(readFileSync(out, "utf8"));
    await expect(run(["--kb", kb, "--format", "spaccc", "--workers", "0", join(dir, "gold.tsv"), "-o", pooled], { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false, env: {} })).rejects.toMatchObject({ code: "CLI_USAGE" });
  });

  it("usage errors: unknown format, missing -o", async () => {
    const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false, env: {} };
    await expect(run(["--kb", "k", "--format", "conll", "in", "-o", "o.tsv"], io)).rejects.toMatchObject({ code: "CLI_USAGE" });
    await expect(run(["--kb", "k", "--format", "spaccc", "in"], io)).rejects.toMatchObject({ code: "CLI_USAGE" });
  });
});
