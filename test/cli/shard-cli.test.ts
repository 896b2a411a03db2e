/**
 * Sharded link-docs on real data with the real CLI in child processes: SPACCC dev (116 documents, 4,155 mentions)
 * with the TF-IDF linker over the proxy KB, N = 3 shards linked in parallel processes, one of them killed
 * (SIGKILL) mid-run and resumed, merged in another process: the bytes of one run. The full matrix (N = 1, 3, 7;
 * SPACCC dev and BC5CDR dev; TF-IDF and hybrid) is `npm run bench:shard`; N = 1, 3, 7 with both linkers on a
 * fixture are in test/linker/merge-predictions.test.ts.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { buildKnowledgeBase } from "../../src/kb/index.js";
import { CLI_CHILD } from "../support/cli-child.js";
import { captureIO } from "../support/cli-io.js";

const DATA = new URL("../../../shared/data/spaccc/", import.meta.url).pathname;
const present = existsSync(join(DATA, "test-dev.tsv"));
if (!present) console.warn(`shard-cli.test: skipped, no SPACCC data at ${DATA}`);

interface Child {
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

function startCli(args: readonly string[]): Child {
  const child = spawn(process.execPath, ["--import", "tsx", CLI_CHILD, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stderr })));
  return { done, kill: (signal) => child.kill(signal) };
}

/** Documents with rows in a predictions file, counting complete lines only (the first column is the document). */
function documentsWritten(path: string): number {
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, "utf8").split("\n").slice(1, -1);
  return new Set(lines.map((l) => l.split("\t")[0])).size;
}

describe.skipIf(!present)("link-docs --shard in child processes on SPACCC dev, merged", () => {
  let dir: string;
  let kb: string;
  const gold = join(DATA, "test-dev.tsv");
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-shard-cli-"));
    kb = join(dir, "kb.sqlite");
    await buildKnowledgeBase(join(DATA, "kb-proxy-dev.tsv"), kb);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("3 shards in parallel, one killed and resumed: merged = one run, byte for byte; a missing shard is named", async () => {
    const linkArgs = (out: string, shard?: string): string[] => ["link-docs", "--kb", kb, "--format", "spaccc", "--linker", "tfidf", ...(shard === undefined ? [] : ["--shard", shard]), gold, "-o", out];
    const outs = [0, 1, 2].map((k) => join(dir, `shard-${k}.tsv`));
    const children = outs.map((out, k) => startCli(linkArgs(out, `${k}/3`)));
    // SIGKILL shard 1 once its first document is surely whole (a second one has begun: one write per document, and a
    // write that SIGKILL lands in may be torn), and before it ends.
    const partial = `${outs[1]}.partial`;
    let killedAt = -1;
    while (killedAt < 0) {
      if (documentsWritten(partial) >= 2 && !existsSync(outs[1] as string)) {
        children[1]?.kill("SIGKILL");
        killedAt = documentsWritten(partial);
      } else if (existsSync(outs[1] as string)) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    const results = await Promise.all(children.map((c) => c.done));
    expect(killedAt, "shard 1 finished before it could be killed").toBeGreaterThan(0);
    expect(results[1]?.signal).toBe("SIGKILL");
    expect(existsSync(outs[1] as string)).toBe(false);
    for (const k of [0, 2]) expect(results[k]?.code, results[k]?.stderr).toBe(0);

    // The single run meanwhile (in-process: the same command).
    const single = join(dir, "single.tsv");
    const t = captureIO();
    expect(await main(linkArgs(single), t.io), t.err()).toBe(0);

    // The merge refuses the unfinished shard, then a missing one, naming them.
    const merge = async (paths: readonly string[]): Promise<{ code: number; err: string }> => {
      const io = captureIO();
      return { code: await main(["merge-predictions", ...paths, "-o", merged], io.io), err: io.err() };
    };
    const merged = join(dir, "merged.tsv");
    const refused = await merge(outs);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`shard output ${outs[1]} is unfinished`);

    // Resume shard 1: the documents already written are kept.
    const resumed = await startCli(linkArgs(outs[1] as string, "1/3")).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    const skipped = Number(/(\d+) already done/.exec(resumed.stderr)?.[1]);
    expect(skipped).toBeGreaterThan(0);

    const missing = await merge([outs[0] as string, outs[2] as string]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("shard 1/3 is missing");
    expect(existsSync(merged)).toBe(false);

    const m = await merge([outs[2] as string, outs[0] as string, outs[1] as string]);
    expect(m.code, m.err).toBe(0);
    expect(statSync(merged).size).toBe(statSync(single).size);
    expect(readFileSync(merged).equals(readFileSync(single))).toBe(true);
    expect(readFileSync(`${merged}.run.json`, "utf8")).toBe(readFileSync(`${single}.run.json`, "utf8"));
    expect(m.err).toContain("3 shards, 116 documents, 4155 rows");
  }, 600_000);
});
