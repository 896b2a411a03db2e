/**
 * The worker-thread pool of the model-free linkers: real worker threads, each opening the KB index file. Its
 * answers must be exactly the in-process linker's, in order, however the call is split; bad sentences stay
 * per-sentence errors; a worker that dies fails only its own sentences; bad KB files fail at open with the
 * worker's error.
 */
import { innerLinker } from "../../src/linker/calibrated-linker.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { HybridLinker } from "../../src/linker/hybrid-linker.js";
import { openLinker } from "../../src/linker/open.js";
import { TfidfLinker } from "../../src/linker/tfidf-linker.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import type { Linker, MentionQuery } from "../../src/linker/types.js";
import { queryOfSentence } from "../../src/data/mention-queries.js";
import { WorkerPoolLinker } from "../../src/linker/worker-pool-linker.js";
import { mulberry32 } from "../../src/util/random.js";
import { buildKbFromRows } from "../support/kb.js";
import { KB_ROWS, writeSpaccc } from "../support/hybrid-fixture.js";

/** Random marked sentences over the fixture's vocabulary, a few of them malformed or of an unknown group. */
function sentences(n: number, seed: number): string[] {
  const random = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const mentions: [string, string][] = [["HTA", "ENFERMEDAD"], ["hipertension pulmonar grave", "ENFERMEDAD"], ["DM tipo 2", "ENFERMEDAD"], ["IRC", "ENFERMEDAD"], ["dolor en el pecho", "SINTOMA"], ["fiebre alta", "SINTOMA"], ["TC de tórax", "PROCEDIMIENTO"], ["radiografia", "PROCEDIMIENTO"], ["fallo cardiaco", "ENFERMEDAD"]];
  return Array.from({ length: n }, (_, i) => {
    if (i % 17 === 5) return "sin marca ninguna";
    if (i % 23 === 7) return "Paciente con [HTA]{OTRO} controlada.";
    const [m, g] = pick(mentions);
    return `${pick(["Paciente con", "Se observa", "Refiere"])} [${m}]{${g}} ${pick(["desde hace años.", "en la consulta.", "."])}`;
  });
}

describe("WorkerPoolLinker", () => {
  let dir: string;
  let kbPath: string;
  const pools: Linker[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-pool-"));
    kbPath = await buildKbFromRows(dir, KB_ROWS);
    await trainLinker(kbPath, { train: [{ path: writeSpaccc(dir), format: "spaccc" }], seed: 3, folds: 2 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives exactly the in-process hybrid and TF-IDF answers, in order, however a call is split", async () => {
    const kb = openKnowledgeBase(kbPath);
    const inProcess = { hybrid: HybridLinker.fromKnowledgeBase(kb), tfidf: TfidfLinker.fromKnowledgeBase(kb) };
    kb.close();
    const input = sentences(150, 11);
    // Queries with document context, one mention array shared per "document" of 10 sentences, as link-docs builds them.
    const parsed = input.flatMap((s) => {
      try {
        return [queryOfSentence(s)];
      } catch {
        return [];
      }
    });
    const docs = Array.from({ length: 15 }, (_, d) => parsed.slice(d * 10, d * 10 + 10).map((q) => q.mention));
    const queries: MentionQuery[] = parsed.map((q, i) => ({ ...q, documentMentions: docs[Math.floor(i / 10)], ...(i % 9 === 0 ? { expansion: "hipertension arterial" } : {}) }));
    // One split per kind (the splitting does not depend on the kind): 3 workers with chunks of at least 7 for the
    // hybrid linker, 2 workers with chunks of 1 for TF-IDF.
    const splits = { hybrid: [3, 7], tfidf: [2, 1] } as const;
    for (const kind of ["hybrid", "tfidf"] as const) {
      const expected = await inProcess[kind].link(queries, { numBeams: 4 });
      expect(expected.filter((r) => r.error !== undefined).length).toBeGreaterThan(3); // the unknown groups
      const expectedSample = await inProcess[kind].sample(input, { num_beams: 4 });
      expect(expectedSample.filter((r) => r.error !== undefined).length).toBeGreaterThan(10); // and the malformed
      const [workers, minChunk] = splits[kind];
      const pool = await WorkerPoolLinker.open({ kb: kbPath, linker: kind, workers, minChunk });
      pools.push(pool);
      expect(pool.kind).toBe(kind);
      let done = 0;
      expect(await pool.link(queries, { numBeams: 4, onMentionDone: () => done++ })).toEqual(expected);
      expect(done).toBe(queries.length);
      expect(await pool.sample(input, { num_beams: 4 })).toEqual(expectedSample);
      // Concurrent calls (as a server makes) are answered each with its own sentences.
      const [a, b] = await Promise.all([pool.sample(input.slice(0, 40), { num_beams: 4 }), pool.sample(input.slice(40, 45), { num_beams: 4 })]);
      expect([...a, ...b]).toEqual(await inProcess[kind].sample(input.slice(0, 45), { num_beams: 4 }));
      expect(await pool.sample([])).toEqual([]);
    }
  }, 60_000);

  it("opens through openLinker with workers > 1, and refuses a KB without a trained hybrid model", async () => {
    const linker = await openLinker({ kb: kbPath, workers: 2 });
    pools.push(linker);
    expect(innerLinker(linker)).toBeInstanceOf(WorkerPoolLinker); // under its out-of-fold calibration
    expect(linker.kind).toBe("hybrid");
    const untrained = await buildKbFromRows(mkdtempSync(join(dir, "plain-")), KB_ROWS);
    await expect(openLinker({ kb: untrained, linker: "hybrid", workers: 2 })).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS", message: expect.stringContaining("train-linker") });
    const tfidf = await openLinker({ kb: untrained, workers: 2 });
    pools.push(tfidf);
    expect(tfidf.kind).toBe("tfidf");
  }, 60_000);

  it("fails at open with the worker's error for a corrupt KB file, and with a usage error for bad counts", async () => {
    const bad = join(dir, "corrupt.sqlite");
    writeFileSync(bad, "this is not a SQLite database at all, just text".repeat(100));
    await expect(WorkerPoolLinker.open({ kb: bad, linker: "tfidf", workers: 2 })).rejects.toMatchObject({ code: "KB_INDEX_INVALID", message: expect.stringContaining("corrupt.sqlite") });
    await expect(WorkerPoolLinker.open({ kb: kbPath, linker: "tfidf", workers: 0 })).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
  }, 60_000);

  it("turns a dead worker's mentions into LINKER_WORKER_FAILED errors, goes on with the others, refuses an aborted call", async () => {
    const pool = await WorkerPoolLinker.open({ kb: kbPath, linker: "tfidf", workers: 2, minChunk: 1 });
    pools.push(pool);
    const input = sentences(20, 5).filter((s) => s.includes("]{") && !s.includes("{OTRO}"));
    const kb = openKnowledgeBase(kbPath);
    const reference = await TfidfLinker.fromKnowledgeBase(kb).sample(input);
    kb.close();
    expect(reference.every((r) => r.error === undefined)).toBe(true);
    // Crash worker 1 as an uncaught error would: a message it cannot read, queued before the call. The call's first
    // chunk goes to it (both idle: the first worker is taken) and is never answered; the second to worker 2.
    const slots = (pool as unknown as { slots: { worker: { postMessage(m: unknown): void } }[] }).slots;
    slots[0]!.worker.postMessage(null);
    const during = await pool.sample(input);
    const half = Math.ceil(input.length / 2);
    expect(during.slice(0, half).map((r) => r.error?.code)).toEqual(Array(half).fill("LINKER_WORKER_FAILED"));
    expect(during.slice(half)).toEqual(reference.slice(half));
    expect(pool.workers).toBe(1);
    expect(await pool.sample(input)).toEqual(reference); // all on the live worker now
    const controller = new AbortController();
    controller.abort();
    await expect(pool.sample(input, { signal: controller.signal })).rejects.toMatchObject({ code: "INTERRUPTED" });
    await pool.close();
    await expect(pool.sample(input)).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
  }, 60_000);
});
