import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve, run } from "../../src/cli/commands/serve.js";
import { main } from "../../src/cli/main.js";
import { openLinker } from "../../src/linker/open.js";
import type { SampleResult } from "../../src/linker/types.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";
import { waitFor } from "../support/wait.js";

let work: string;
let kbPath: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "syncabel-serve-cli-"));
  const rows = ["100\tembolia pulmonar\tENFERMEDAD", "200\tedema pulmonar\tENFERMEDAD", "400\ttos\tSINTOMA", "401\ttos seca\tSINTOMA"];
  kbPath = join(work, "kb.sqlite");
  await buildKbFromRows(work, rows, kbPath);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("syncabel serve", () => {
  it("starts on an ephemeral loopback port, prints the URL, serves, logs, and stops when aborted", async () => {
    const { io, out, err } = captureIO();
    const stop = new AbortController();
    const exit = serve(["--kb", kbPath, "--port", "0", "--max-sentences", "2"], io, { signal: stop.signal, handleSignals: false });
    const url = await waitFor(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out())?.[1]);
    const sentences = ["Refiere [tos seca]{SINTOMA} y [fiebre].", "Refiere [tos seca]{SINTOMA} desde ayer."];
    const res = await fetch(`${url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sentences, num_beams: 2 }) });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: SampleResult[] };
    // Independent path: the same KB through the library.
    const linker = await openLinker({ kb: kbPath });
    try {
      expect(results).toEqual(JSON.parse(JSON.stringify(await linker.sample(sentences, { num_beams: 2 }))));
    } finally {
      await linker.close();
    }
    const tooMany = await fetch(`${url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sentences: [...sentences, ...sentences] }) });
    expect(tooMany.status).toBe(413);
    stop.abort();
    expect(await exit).toBe(0);
    expect(err()).toMatch(/^[0-9a-f-]{36} POST \/v1\/link 200 2 sentences \d+ ms$/m);
    expect(err()).toMatch(/^[0-9a-f-]{36} POST \/v1\/link 413 \d+ ms$/m);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    expect(err()).not.toMatch(/warning/);
  });

  it("is wired into main, has --help, and rejects bad arguments as usage errors", async () => {
    const help = captureIO();
    expect(await main(["serve", "--help"], help.io)).toBe(0);
    expect(help.out()).toMatch(/usage: syncabel serve --kb/);
    const list = captureIO();
    await main(["--help"], list.io);
    expect(list.out()).toMatch(/serve\s+HTTP linking service/);
    for (const args of [[], ["--kb", kbPath, "--port", "70000"], ["--kb", kbPath, "--port", "x"], ["--kb", kbPath, "--max-concurrent", "0"], ["--kb", kbPath, "extra"], ["--kb", kbPath, "--bogus-flag"], ["--kb", kbPath, "--batch-size", "0"]]) {
      const c = captureIO();
      expect(await main(["serve", ...args], c.io), args.join(" ")).toBe(2);
      expect(c.err()).toMatch(/CLI_USAGE/);
    }
    const missing = captureIO();
    expect(await run(["--kb", join(work, "missing.sqlite"), "--port", "0"], missing.io).catch((e: { code?: string }) => e.code)).toBe("KB_INDEX_INVALID");
  });
});
