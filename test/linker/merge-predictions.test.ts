/**
 * link-docs --shard K/N + merge-predictions, in-process on the hybrid fixture (real KB, real TF-IDF and hybrid
 * linkers, SPACCC and BRAT files on disk): every N gives, once merged, the bytes of one run over the dataset.
 * The child-process runs on real data are in test/cli/shard-cli.test.ts.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { readDatasets } from "../../src/data/read-dataset.js";
import { parseShard, selectShard, shardOfId } from "../../src/data/shard.js";
import type { Dataset } from "../../src/data/types.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import { mulberry32 } from "../../src/util/random.js";
import { captureIO } from "../support/cli-io.js";
import { DOCS, KB_ROWS, writeSpaccc } from "../support/hybrid-fixture.js";
import { buildKbFromRows } from "../support/kb.js";

let dir: string;
let tfidfKb: string;
let hybridKb: string;
let gold: string;

type Doc = (typeof DOCS)[number];
/** The fixture's documents without the mention of a label outside the KB (it would fail: exit status 1). */
const KNOWN: Doc[] = DOCS.map(([id, text, m]) => [id, text, m.filter(([, label]) => label !== "OTRO")]);
/** More documents than the fixture's 6 (N = 7 needs some): the fixture's documents again under other ids. */
const MANY_DOCS: Doc[] = [...KNOWN, ...KNOWN.map(([id, text, m]): Doc => [`${id}-b`, text, m]), ...KNOWN.slice(0, 3).map(([id, text, m]): Doc => [`x${id}`, text, m])];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncabel-merge-"));
  tfidfKb = await buildKbFromRows(dir, KB_ROWS, join(dir, "tfidf.sqlite"));
  hybridKb = join(dir, "hybrid.sqlite");
  copyFileSync(tfidfKb, hybridKb);
  const trainDir = join(dir, "train");
  mkdirSync(trainDir);
  await trainLinker(hybridKb, { train: [{ path: writeSpaccc(trainDir), format: "spaccc" }], seed: 3, folds: 2 });
  const goldDir = join(dir, "gold");
  mkdirSync(goldDir);
  gold = writeSpaccc(goldDir, MANY_DOCS);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; err: string }> {
  const t = captureIO();
  const code = await main(args, t.io);
  return { code, err: t.err() };
}

async function linkDocs(kb: string, out: string, extra: string[] = [], inputs = [gold]): Promise<void> {
  const r = await cli(["link-docs", "--kb", kb, "--format", "spaccc", ...extra, ...inputs, "-o", out]);
  expect(r.code, r.err).toBe(0);
}

/** Shard K of N of every output, linked one after the other; returns their paths. */
async function linkShards(kb: string, n: number, stem: string, extra: string[] = [], ext = "tsv"): Promise<string[]> {
  const outs: string[] = [];
  for (let k = 0; k < n; k++) {
    const out = join(dir, `${stem}-${k}of${n}.${ext}`);
    await linkDocs(kb, out, ["--shard", `${k}/${n}`, ...extra]);
    outs.push(out);
  }
  return outs;
}

describe("shards of a dataset", () => {
  it("a document's shard is uint64 of the first 8 bytes of sha256(id) mod N, whatever the order of the documents", async () => {
    const dataset = await readDatasets([gold], { format: "spaccc" });
    const ids = dataset.documents.map((d) => d.id);
    for (const n of [1, 2, 3, 7, 1000]) {
      // Reference: the documented rule, computed here from the digest's hex.
      for (const id of ids) expect(shardOfId(id, n)).toBe(Number(BigInt(`0x${createHash("sha256").update(Buffer.from(id, "utf8")).digest("hex").slice(0, 16)}`) % BigInt(n)));
      // A partition, in dataset order, and the same for the documents shuffled.
      const parts = Array.from({ length: n }, (_, k) => selectShard(dataset, { index: k, count: n }).documents.map((d) => d.id));
      expect(parts.flat().sort()).toEqual([...ids].sort());
      for (const p of parts) expect(p).toEqual(ids.filter((id) => p.includes(id)));
      const random = mulberry32(n);
      const shuffled: Dataset = { ...dataset, documents: [...dataset.documents].sort(() => random() - 0.5) };
      for (let k = 0; k < n; k++) expect(new Set(selectShard(shuffled, { index: k, count: n }).documents.map((d) => d.id))).toEqual(new Set(parts[k]));
    }
    // 15 documents over 3 shards: no shard empty (a rule that put everything in one shard would fail here).
    expect(new Set(ids.map((id) => shardOfId(id, 3))).size).toBe(3);
  });

  it("--shard K/N: numbered from 0, K < N", () => {
    expect(parseShard("2/7")).toEqual({ index: 2, count: 7 });
    for (const bad of ["3/3", "1/0", "-1/3", "a/b", "1", "1/2/3", ""]) expect(() => parseShard(bad), bad).toThrow(/K\/N/);
  });
});

describe.each([
  ["tfidf", () => tfidfKb],
  ["hybrid", () => hybridKb],
] as const)("link-docs --shard + merge-predictions (%s)", (linker, kb) => {
  it.each([1, 3, 7])("N = %i: the merged TSV and run record are the bytes of one run", async (n) => {
    const single = join(dir, `${linker}-single.tsv`);
    if (!existsSync(single)) await linkDocs(kb(), single, ["--linker", linker]);
    const shards = await linkShards(kb(), n, `${linker}`, ["--linker", linker]);
    const merged = join(dir, `${linker}-merged-${n}.tsv`);
    const r = await cli(["merge-predictions", ...[...shards].reverse(), "-o", merged]);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(merged, "utf8")).toBe(readFileSync(single, "utf8"));
    expect(readFileSync(`${merged}.run.json`, "utf8")).toBe(readFileSync(`${single}.run.json`, "utf8"));
    const record = JSON.parse(readFileSync(`${shards[0]}.run.json`, "utf8")) as Record<string, unknown>;
    expect(record).toMatchObject({ shard: `0/${n}`, dataset_format: "spaccc", linker });
  }, 60_000);
});

describe("merge-predictions", () => {
  it("an empty shard (2 documents, 3 shards) writes the header only and merges", async () => {
    const small = join(dir, "small");
    mkdirSync(small);
    const input = writeSpaccc(small, MANY_DOCS.slice(0, 2));
    const single = join(dir, "small-single.tsv");
    await linkDocs(tfidfKb, single, [], [input]);
    const shards: string[] = [];
    for (let k = 0; k < 3; k++) {
      shards.push(join(dir, `small-${k}.tsv`));
      await linkDocs(tfidfKb, shards[k] as string, ["--shard", `${k}/3`], [input]);
    }
    const header = readFileSync(single, "utf8").split("\n")[0];
    expect(shards.filter((p) => readFileSync(p, "utf8") === `${header}\n`).length).toBeGreaterThanOrEqual(1);
    const merged = join(dir, "small-merged.tsv");
    expect((await cli(["merge-predictions", ...shards, "-o", merged])).code).toBe(0);
    expect(readFileSync(merged, "utf8")).toBe(readFileSync(single, "utf8"));
    // Never over the input.
    const over = await cli(["merge-predictions", ...shards, "-o", input]);
    expect(over.code).toBe(2);
    expect(over.err).toContain("would destroy the input");
  });

  it("JSONL shards merge to the JSONL of one run", async () => {
    const single = join(dir, "single.jsonl");
    await linkDocs(tfidfKb, single);
    const shards = await linkShards(tfidfKb, 3, "shard", [], "jsonl");
    const merged = join(dir, "merged.jsonl");
    expect((await cli(["merge-predictions", ...shards, "-o", merged])).code).toBe(0);
    expect(readFileSync(merged, "utf8")).toBe(readFileSync(single, "utf8"));
  });

  it("refuses a missing, duplicated, unfinished or foreign shard, naming it", async () => {
    const shards = await linkShards(tfidfKb, 3, "refuse");
    const out = join(dir, "refused.tsv");
    const missing = await cli(["merge-predictions", shards[0] as string, shards[2] as string, "-o", out]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("shard 1/3 is missing");
    const twice = await cli(["merge-predictions", ...shards, shards[1] as string, "-o", out]);
    expect(twice.code).toBe(2);
    expect(twice.err).toContain(`shard 1/3 is given twice: ${shards[1]} and ${shards[1]}`);
    // Another split.
    const other = await linkShards(tfidfKb, 2, "other");
    const mixed = await cli(["merge-predictions", shards[0] as string, shards[1] as string, other[1] as string, "-o", out]);
    expect(mixed.code).toBe(2);
    expect(mixed.err).toContain("different numbers of shards");
    // Other options (beams) for one shard.
    const beams = join(dir, "beams-1of3.tsv");
    await linkDocs(tfidfKb, beams, ["--shard", "1/3", "--beams", "3"]);
    const options = await cli(["merge-predictions", shards[0] as string, beams, shards[2] as string, "-o", out]);
    expect(options.code).toBe(2);
    expect(options.err).toMatch(new RegExp(`${shards[0]} and ${beams} were linked with different options \\(beams=5 / beams=3\\)`));
    // Unfinished: a .partial beside the output (or given itself).
    writeFileSync(`${shards[2]}.partial`, "");
    const unfinished = await cli(["merge-predictions", ...shards, "-o", out]);
    expect(unfinished.code).toBe(1);
    expect(unfinished.err).toContain(`shard output ${shards[2]} is unfinished`);
    const partialGiven = await cli(["merge-predictions", shards[0] as string, shards[1] as string, `${shards[2]}.partial`, "-o", out]);
    expect(partialGiven.err).toContain(`shard output ${shards[2]} is unfinished`);
    rmSync(`${shards[2]}.partial`);
    // A shard whose rows lost a line: named with the document.
    const damaged = join(dir, "damaged-2of3.tsv");
    const lines = readFileSync(shards[2] as string, "utf8").split("\n");
    writeFileSync(damaged, [...lines.slice(0, 2), ...lines.slice(3)].join("\n"));
    copyFileSync(`${shards[2]}.run.json`, `${damaged}.run.json`);
    const lost = await cli(["merge-predictions", shards[0] as string, shards[1] as string, damaged, "-o", out]);
    expect(lost.code).toBe(1);
    expect(lost.err).toMatch(new RegExp(`${damaged} \\(shard 2/3\\) should hold \\d+ row\\(s\\) of document ${lines[1]?.split("\t")[0]}`));
    // A row written twice (the document's group grew).
    writeFileSync(damaged, [...lines.slice(0, 2), ...lines.slice(1)].join("\n"));
    const extra = await cli(["merge-predictions", shards[0] as string, shards[1] as string, damaged, "-o", out]);
    expect(extra.code).toBe(1);
    expect(extra.err).toContain(`holds more rows of document ${lines[1]?.split("\t")[0]}`);
    expect(existsSync(out)).toBe(false);
    // -o of the other layout.
    const layout = await cli(["merge-predictions", ...shards, "-o", join(dir, "x.jsonl")]);
    expect(layout.code).toBe(2);
  });
});

describe("link-docs reads several inputs and BRAT folders as one dataset", () => {
  it("two SPACCC files = one file holding both; a document id read twice is skipped", async () => {
    const a = join(dir, "part-a");
    const b = join(dir, "part-b");
    mkdirSync(a);
    mkdirSync(b);
    const first = writeSpaccc(a, MANY_DOCS.slice(0, 8));
    const second = writeSpaccc(b, [...MANY_DOCS.slice(8), MANY_DOCS[0] as Doc]);
    const one = join(dir, "one-input.tsv");
    await linkDocs(tfidfKb, one);
    const two = join(dir, "two-inputs.tsv");
    const r = await cli(["link-docs", "--kb", tfidfKb, "--format", "spaccc", first, second, "-o", two]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`document ${MANY_DOCS[0]?.[0]} is also in ${first}`);
    expect(readFileSync(two, "utf8")).toBe(readFileSync(one, "utf8"));
    const record = JSON.parse(readFileSync(`${two}.run.json`, "utf8")) as { input: unknown };
    expect(record.input).toEqual([first, second]);
    // Sharded over the two inputs, merged: the same bytes again (the merge re-reads both files).
    const shards: string[] = [];
    for (let k = 0; k < 3; k++) {
      const out = join(dir, `two-${k}.tsv`);
      expect((await cli(["link-docs", "--kb", tfidfKb, "--format", "spaccc", "--shard", `${k}/3`, first, second, "-o", out])).code).toBe(0);
      shards.push(out);
    }
    const merged = join(dir, "two-merged.tsv");
    expect((await cli(["merge-predictions", ...shards, "-o", merged])).code).toBe(0);
    expect(readFileSync(merged, "utf8")).toBe(readFileSync(two, "utf8"));
  });

  it("a BRAT folder, sharded and merged, gives the rows of the same documents as SPACCC files", async () => {
    const brat = join(dir, "brat");
    mkdirSync(brat);
    for (const [id, text, mentions] of MANY_DOCS) {
      writeFileSync(join(brat, `${id}.txt`), text);
      let from = 0;
      const ann = mentions.map(([span, label, code], k) => {
        const start = text.indexOf(span, from);
        from = start + span.length;
        return `T${k + 1}\t${label} ${start} ${start + span.length}\t${span}\n#${k + 1}\tAnnotatorNotes T${k + 1}\t${code}`;
      });
      writeFileSync(join(brat, `${id}.ann`), `${ann.join("\n")}\n`);
    }
    const single = join(dir, "brat-single.tsv");
    expect((await cli(["link-docs", "--kb", tfidfKb, "--format", "brat", brat, "-o", single])).code).toBe(0);
    const shards: string[] = [];
    for (let k = 0; k < 3; k++) {
      const out = join(dir, `brat-${k}.tsv`);
      expect((await cli(["link-docs", "--kb", tfidfKb, "--format", "brat", "--shard", `${k}/3`, brat, "-o", out])).code).toBe(0);
      shards.push(out);
    }
    const merged = join(dir, "brat-merged.tsv");
    expect((await cli(["merge-predictions", ...shards, "-o", merged])).code).toBe(0);
    expect(readFileSync(merged, "utf8")).toBe(readFileSync(single, "utf8"));
    // The folder's documents are the SPACCC files' documents (sorted by file name): same predictions per mention.
    const key = (file: string): string[] => readFileSync(file, "utf8").trim().split("\n").slice(1).map((l) => { const f = l.split("\t"); return [f[0], f[2], f[3], f[10]].join(" "); }).sort();
    const reference = join(dir, "brat-reference.tsv");
    await linkDocs(tfidfKb, reference);
    expect(key(single)).toEqual(key(reference));
  });
});
