/**
 * The web page's endpoints over real HTTP: uploads read by the dataset readers, document linking with marked
 * sentences (TF-IDF, and the hybrid linker, which reads the document: the same answers as link-docs), dictionary
 * suggestions (checked against a brute-force search), concept names, exports read back.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPubtator } from "../../src/data/pubtator.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { openLinker } from "../../src/linker/open.js";
import type { Linker, MentionQuery } from "../../src/linker/types.js";
import { DictionaryMatcher } from "../../src/server/dictionary-matcher.js";
import { startLinkServer, type LinkServer } from "../../src/server/index.js";
import { run as linkDocs } from "../../src/cli/commands/link-docs.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import { BHA_DOCUMENT, KB_ROWS as ABBREVIATION_KB, TRAIN as ABBREVIATION_TRAIN, writePubtator } from "../support/abbreviation-fixture.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";

const ROWS: [string, string, string][] = [
  ["100", "embolia pulmonar", "ENFERMEDAD"],
  ["100", "tromboembolismo pulmonar", "ENFERMEDAD"],
  ["200", "edema pulmonar", "ENFERMEDAD"],
  ["300", "neumonía", "ENFERMEDAD"],
  ["400", "tos", "SINTOMA"],
  ["401", "tos seca", "SINTOMA"],
  ["402", "fiebre", "SINTOMA"],
  ["403", "fiebre alta", "SINTOMA"],
  ["404", "fiebre alta persistente", "SINTOMA"],
];
const BC5CDR = join(__dirname, "../../../shared/data/bc5cdr/dev_corpus.txt");

let work: string;
let kb: KnowledgeBase;
let linker: Linker;
let server: LinkServer;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-webapi-"));
  const kbPath = await buildKbFromRows(work, ROWS);
  linker = await openLinker({ kb: kbPath });
  kb = openKnowledgeBase(kbPath);
  server = await startLinkServer(linker, { port: 0, kb });
});
afterAll(async () => {
  await server.close();
  await linker.close();
  kb.close();
  rmSync(work, { recursive: true, force: true });
});

async function postJson(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

type Doc = { id: string; text: string; mentions: { text: string; label: string; codes: string[]; fragments: { start: number; end: number }[] }[] };

describe("POST /v1/documents", () => {
  it("reads BRAT pairs, PubTator and BigBio uploads", async () => {
    const text = "Refiere tos seca y fiebre.";
    const brat = (await (
      await postJson("/v1/documents", {
        format: "brat",
        files: [
          { name: "caso1.txt", content: text },
          { name: "caso1.ann", content: "T1\tSINTOMA 8 16\ttos seca\nN1\tReference T1 SNOMED:401\ttos seca\nT2\tSINTOMA 19 25\tfiebre\n" },
        ],
      })
    ).json()) as { documents: Doc[] };
    expect(brat.documents).toHaveLength(1);
    expect(brat.documents[0].text).toBe(text);
    expect(brat.documents[0].mentions.map((m) => [m.text, m.label, m.codes])).toEqual([
      ["tos seca", "SINTOMA", ["401"]],
      ["fiebre", "SINTOMA", []],
    ]);

    const pubtator = "7|t|Fever and cough.\n7|a|The patient had fever.\n7\t0\t5\tFever\tDisease\tD005334\n7\t33\t38\tfever\tDisease\tD005334\n\n";
    const pt = (await (await postJson("/v1/documents", { format: "pubtator", files: [{ name: "x.pubtator", content: pubtator }] })).json()) as { documents: Doc[] };
    expect(pt.documents[0].text).toBe("Fever and cough. The patient had fever.");
    expect(pt.documents[0].mentions.map((m) => m.text)).toEqual(["Fever", "fever"]);

    const bigbio = { id: "d1", passages: [{ text: ["Tos seca."], offsets: [[0, 9]] }], entities: [{ id: "e1", type: "SINTOMA", text: ["Tos seca"], offsets: [[0, 8]], normalized: [{ db_name: "X", db_id: "401" }] }] };
    const bb = (await (await postJson("/v1/documents", { format: "bigbio", files: [{ name: "d.jsonl", content: `${JSON.stringify(bigbio)}\n` }] })).json()) as { documents: Doc[] };
    expect(bb.documents[0].mentions.map((m) => [m.text, m.codes])).toEqual([["Tos seca", ["401"]]]);
  });

  it.skipIf(!existsSync(BC5CDR))("reads the real BC5CDR dev corpus (first documents) as PubTator", async () => {
    const blocks = readFileSync(BC5CDR, "utf8").split(/\n\n/).slice(0, 3).join("\n\n") + "\n\n";
    const res = (await (await postJson("/v1/documents", { format: "pubtator", files: [{ name: "dev.txt", content: blocks }] })).json()) as { documents: Doc[]; problems: unknown[] };
    expect(res.documents).toHaveLength(3);
    expect(res.problems).toEqual([]);
    for (const d of res.documents) for (const m of d.mentions) expect(d.text.slice(m.fragments[0].start, m.fragments[0].end)).toBe(m.text);
  });

  it("rejects path-like file names and BRAT without .ann with 400", async () => {
    for (const files of [[{ name: "../../etc/passwd", content: "x" }].map((f) => ({ ...f, name: ".hidden" })), [{ name: "a/b\u0000.txt", content: "x" }]]) {
      const res = await postJson("/v1/documents", { format: "txt", files });
      expect(res.status).toBe(400);
    }
    const res = await postJson("/v1/documents", { format: "brat", files: [{ name: "a.txt", content: "x" }] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/\.ann/);
  });
});

describe("POST /v1/link-document", () => {
  it("links each mention in its marked sentence, as linker.sample does for the same sentence", async () => {
    const text = "Paciente con embolia pulmonar.\nRefiere tos seca desde ayer.";
    const m1 = text.indexOf("embolia pulmonar");
    const m2 = text.indexOf("tos seca");
    const res = await postJson("/v1/link-document", {
      document: { id: "d", text },
      mentions: [
        { id: "a", label: "ENFERMEDAD", fragments: [[m1, m1 + 16]] },
        { id: "b", label: "SINTOMA", fragments: [{ start: m2, end: m2 + 8 }] },
        { id: "c", label: "SINTOMA", fragments: [[500, 510]] },
      ],
      num_beams: 3,
    });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: { mention_id: string; sentence?: string; beams?: unknown[]; error?: { code: string } }[] };
    const expected = ["Paciente con [embolia pulmonar]{ENFERMEDAD}.", "Refiere [tos seca]{SINTOMA} desde ayer."];
    expect(results.map((r) => r.sentence)).toEqual([...expected, undefined]);
    const direct = await linker.sample(expected, { num_beams: 3 });
    expect(results[0].beams).toEqual(JSON.parse(JSON.stringify(direct[0].beams)));
    expect(results[1].beams).toEqual(JSON.parse(JSON.stringify(direct[1].beams)));
    expect(results[2]).toMatchObject({ mention_id: "c", error: { code: "MARKUP_BAD_OFFSETS" } });
  });
});

describe("POST /v1/link-document with the hybrid linker (reads the document: abbreviations, other mentions)", () => {
  let dir: string;
  let kbPath: string;
  let hybrid: Linker;
  let hybridServer: LinkServer;
  const [docId, text, gold] = BHA_DOCUMENT;
  const mentions = (() => {
    let from = 0;
    return gold.map(([span, label], i) => {
      const start = text.indexOf(span, from);
      from = start + span.length;
      return { id: `L${i}`, label, fragments: [[start, start + span.length]] };
    });
  })();
  const post = (body: unknown) => fetch(`${hybridServer.url}/v1/link-document`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  type Result = { mention_id: string; sentence?: string; beams?: { pred_concept_code: string }[]; error?: { code: string } };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-webapi-hybrid-"));
    kbPath = await buildKbFromRows(dir, ABBREVIATION_KB);
    writePubtator(join(dir, "train.txt"), ABBREVIATION_TRAIN);
    await trainLinker(kbPath, { train: [{ path: join(dir, "train.txt"), format: "pubtator" }], seed: 1, folds: 3 });
    hybrid = await openLinker({ kb: kbPath });
    hybridServer = await startLinkServer(hybrid, { port: 0 });
  }, 120_000);
  afterAll(async () => {
    await hybridServer?.close();
    await hybrid?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('links "Butylated hydroxyanisole (BHA) ... BHA ..." as link-docs does: D001 three times', async () => {
    expect(hybrid.kind).toBe("hybrid");
    const res = await post({ document: { id: docId, text, language: "en" }, mentions, num_beams: 3 });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: Result[] };
    expect(results.map((r) => r.beams?.[0]?.pred_concept_code)).toEqual(gold.map(([, , code]) => code));
    // link-docs, the command, on the same document.
    writePubtator(join(dir, "dev.txt"), [BHA_DOCUMENT]);
    const c = captureIO();
    expect(await linkDocs(["--kb", kbPath, "--format", "pubtator", "--beams", "3", join(dir, "dev.txt"), "-o", join(dir, "dev.jsonl")], c.io), c.err()).toBe(0);
    const rows = readFileSync(join(dir, "dev.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { sentence: string; beams: unknown[] });
    expect(results.map((r) => [r.sentence, r.beams])).toEqual(rows.map((r) => [r.sentence, r.beams]));
  });

  it("links only the mentions `link` names, each with the whole document as context", async () => {
    const all = (await (await post({ document: { id: docId, text, language: "en" }, mentions, num_beams: 3 })).json()) as { results: Result[] };
    const res = await post({ document: { id: docId, text, language: "en" }, mentions, link: ["L2", "L1"], num_beams: 3 });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: Result[] };
    expect(results).toEqual([all.results[2], all.results[1]]);
    // The linker is handed the whole document's mention texts and the short form's long form with each query.
    const seen: MentionQuery[] = [];
    const watched: Linker = { kind: "hybrid", link: (q, o) => (seen.push(...q), hybrid.link(q, o)), sample: (x, o) => hybrid.sample(x, o), close: async () => undefined };
    const watchedServer = await startLinkServer(watched, { port: 0 });
    try {
      const body = { document: { id: docId, text, language: "en" }, mentions, link: ["L2"], num_beams: 3 };
      await fetch(`${watchedServer.url}/v1/link-document`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    } finally {
      await watchedServer.close();
    }
    expect(seen.map((q) => [q.mention, q.expansion, q.documentMentions])).toEqual([["BHA", "Butylated hydroxyanisole", gold.map(([span]) => span)]]);
  });

  it("refuses a `link` naming no mention, or more mentions than a request may link", async () => {
    const bad = await post({ document: { id: docId, text }, mentions, link: ["nope"] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/link\[0\]/);
    const small = await startLinkServer(hybrid, { port: 0, maxSentences: 2 });
    try {
      const many = await fetch(`${small.url}/v1/link-document`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ document: { id: docId, text }, mentions }) });
      expect(many.status).toBe(413);
      const parts = await fetch(`${small.url}/v1/link-document`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ document: { id: docId, text }, mentions, link: ["L0", "L1"] }) });
      expect(parts.status).toBe(200);
    } finally {
      await small.close();
    }
  });
});

/** Brute force: every occurrence of every name at word boundaries, then leftmost-longest without overlaps. */
function bruteForce(text: string, names: readonly string[]): [number, number][] {
  const lower = text.toLowerCase();
  const hits: [number, number][] = [];
  for (const n of names) {
    for (let i = lower.indexOf(n); i >= 0; i = lower.indexOf(n, i + 1)) {
      const before = i === 0 || !/[\p{L}\p{N}]/u.test(lower[i - 1]);
      const after = i + n.length === lower.length || !/[\p{L}\p{N}]/u.test(lower[i + n.length]);
      if (before && after) hits.push([i, i + n.length]);
    }
  }
  hits.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const out: [number, number][] = [];
  for (const h of hits) if (out.length === 0 || h[0] >= out[out.length - 1][1]) out.push(h);
  return out;
}

describe("dictionary suggestions", () => {
  it("POST /v1/match finds leftmost-longest KB names, as a brute-force search does", async () => {
    const text = "Fiebre alta persistente, tos seca y TOS; fiebre altamente rara. Neumonía, tromboembolismo pulmonar y edema pulmonar. tosferina";
    const res = (await (await postJson("/v1/match", { text })).json()) as { matches: { start: number; end: number; text: string; entries: { group: string; code: string }[] }[] };
    expect(res.matches.map((m) => [m.start, m.end])).toEqual(bruteForce(text, ROWS.map((r) => r[1])));
    expect(res.matches.map((m) => m.text)).toEqual(["Fiebre alta persistente", "tos seca", "TOS", "fiebre", "Neumonía", "tromboembolismo pulmonar", "edema pulmonar"]);
    expect(res.matches[1].entries[0]).toMatchObject({ group: "SINTOMA", code: "401" });
  });

  it("matches decomposed accents and random texts like the brute force", () => {
    const m = DictionaryMatcher.fromKnowledgeBase(kb);
    expect(m.match("neumoni\u0301a").map((x) => x.entries[0].code)).toEqual(["300"]);
    const words = ["tos", "seca", "fiebre", "alta", "persistente", "edema", "pulmonar", "embolia", "y", "de"];
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let t = 0; t < 200; t++) {
      const text = Array.from({ length: 12 }, () => words[rand(words.length)]).join(rand(2) ? " " : ", ");
      expect(m.match(text).map((x) => [x.start, x.end]), text).toEqual(bruteForce(text, ROWS.map((r) => r[1])));
    }
  });
});

describe("GET /v1/concept/:code and /v1/info", () => {
  it("answers every KB name of a concept, 404 for an unknown code", async () => {
    const res = (await (await fetch(`${server.url}/v1/concept/100`)).json()) as { code: string; names: { name: string; group: string }[] };
    expect(res.code).toBe("100");
    expect(res.names.map((n) => n.name).sort()).toEqual(ROWS.filter((r) => r[0] === "100").map((r) => r[1]).sort());
    const missing = await fetch(`${server.url}/v1/concept/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    expect((await fetch(`${server.url}/v1/concept/%E0%A4%A`)).status).toBe(400);
    expect(await (await fetch(`${server.url}/v1/info`)).json()).toEqual({
      linker: "tfidf",
      linker_description: "TF-IDF linker (the KB index holds no trained linker: 'syncabel train-linker' trains the hybrid one)",
      groups: ["ENFERMEDAD", "SINTOMA"],
      concepts: true,
      matcher: true,
    });
  });
});

describe("POST /v1/export", () => {
  it("writes PubTator that the PubTator reader reads back with the same offsets, even across CRLF line breaks", async () => {
    const text = "Tos seca\r\ny fiebre alta.\nSigue con tos.";
    const spans = [[0, 8, "401"], [12, 23, "403"], [35, 38, "400"]] as const;
    const res = await postJson("/v1/export", {
      format: "pubtator",
      document: { id: "doc 1", text, mentions: spans.map(([s, e, code], i) => ({ id: `m${i}`, label: "SINTOMA", fragments: [[s, e]], code })) },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="doc_1.pubtator.txt"');
    writeFileSync(join(work, "export.pubtator"), await res.text());
    const back = await readPubtator(join(work, "export.pubtator"));
    expect(back.problems).toEqual([]);
    expect(back.documents[0].mentions.map((m) => [m.fragments[0].start, m.fragments[0].end, m.text, m.codes[0]])).toEqual(spans.map(([s, e, c]) => [s, e, text.slice(s, e), c]));
  });

  it("rejects mentions past the text and unknown formats with 400", async () => {
    const doc = { id: "d", text: "abc", mentions: [{ id: "m", label: "G", fragments: [[0, 10]] }] };
    expect((await postJson("/v1/export", { format: "brat", document: doc })).status).toBe(400);
    expect((await postJson("/v1/export", { format: "xml", document: { ...doc, mentions: [] } })).status).toBe(400);
  });
});
