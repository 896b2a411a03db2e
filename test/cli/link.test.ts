import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { main } from "../../src/cli/main.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { TfidfLinker } from "../../src/linker/tfidf-linker.js";
import type { SampleResult } from "../../src/linker/types.js";
import { captureIO } from "../support/cli-io.js";
import { makeTinyModel } from "../support/tiny-model.js";
import { buildKbFromRows } from "../support/kb.js";

const TERMS = ["386661006\tfiebre\tSINTOMA", "49727002\ttos\tSINTOMA", "59282003\tembolia pulmonar\tENFERMEDAD", "73211009\tdiabetes mellitus\tENFERMEDAD"];
const SENTENCES = ["Refiere [fiebre]{SINTOMA} alta.", "sin marcas", "Con [embolia pulmonar masiva]{ENFERMEDAD}.", "Tiene [tos]{SINTOMA} seca."];

const parse = (out: string): SampleResult[] => out.trim().split("\n").map((l) => JSON.parse(l) as SampleResult);

describe("syncabel link", () => {
  let dir: string;
  let kb: string;
  let expected: SampleResult[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-link-cli-"));
    kb = join(dir, "kb.sqlite");
    await buildKbFromRows(dir, TERMS, kb);
    const handle = openKnowledgeBase(kb);
    expected = await TfidfLinker.fromKnowledgeBase(handle).sample(SENTENCES, { num_beams: 2 });
    handle.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("links sentences given as arguments, one JSONL line each, in order (lexical linker without --model)", async () => {
    const c = captureIO();
    // One sentence of four has no markup: every result is written, and the exit status (1) and stderr say one failed.
    expect(await main(["link", "--kb", kb, "--beams", "2", ...SENTENCES], c.io), c.err()).toBe(1);
    expect(c.err()).toContain("1 of 4 sentences failed");
    expect(parse(c.out())).toEqual(expected);
    expect(parse(c.out())[1].error?.code).toBe("MARKUP_NO_BRACKETS");
  });

  it("reads plain lines and JSONL objects from stdin, skipping blank lines", async () => {
    const input = [SENTENCES[0], "", JSON.stringify({ sentence: SENTENCES[1] }), SENTENCES[2], JSON.stringify({ text: SENTENCES[3] })].join("\n");
    const c = captureIO(input);
    expect(await main(["link", "--kb", kb, "--beams", "2", "--batch-size", "1"], c.io), c.err()).toBe(1);
    expect(parse(c.out())).toEqual(expected);
  });

  it("--device: a bad value is a usage error; cuda without a GPU runtime fails with the reason", async () => {
    const c = captureIO();
    expect(await main(["link", "--kb", kb, "--device", "tpu", "x"], c.io)).toBe(2);
    expect(c.err()).toContain("--device must be cpu or cuda");
    const model = await makeTinyModel({ seed: 4 });
    try {
      const d = captureIO();
      const code = await main(["link", "--kb", kb, "--model", model.dir, "--device", "cuda", SENTENCES[0]], d.io);
      // CUDA runs only with onnxruntime-node's CUDA provider library (its install downloads it) and an NVIDIA device.
      const providers = join(dirname(createRequire(import.meta.url).resolve("onnxruntime-node")), "..", "bin", "napi-v6", process.platform, process.arch);
      const cuda = existsSync(join(providers, "libonnxruntime_providers_cuda.so")) && existsSync("/dev/nvidia0");
      if (cuda) {
        expect(code, d.err()).toBe(0);
        const cpu = captureIO();
        expect(await main(["link", "--kb", kb, "--model", model.dir, SENTENCES[0]], cpu.io)).toBe(0);
        expect(parse(d.out()).map((r) => r.beams?.map((b) => b.pred_concept_code))).toEqual(parse(cpu.out()).map((r) => r.beams?.map((b) => b.pred_concept_code)));
      } else {
        // No GPU runtime here: the command fails (exit 1) and says why, naming the device.
        expect(code).toBe(1);
        expect(d.err()).toMatch(/cuda.*\[MODEL_RUNTIME\]/is);
        expect(d.out()).toBe("");
      }
    } finally {
      model.cleanup();
    }
  });

  it("rejects bad options with a usage error (exit 2)", async () => {
    const c = captureIO();
    expect(await main(["link", "--kb", kb, "--beams", "0", "x"], c.io)).toBe(2);
    expect(c.err()).toContain("--beams must be a positive integer");
    const d = captureIO();
    expect(await main(["link", "x"], d.io)).toBe(2);
    expect(d.err()).toContain("--kb is required");
  });

  it("links with a model folder: every beam a KB name of the group with its code", async () => {
    const model = await makeTinyModel({ seed: 3 });
    try {
      const c = captureIO();
      expect(await main(["link", "--kb", kb, "--model", model.dir, "--beams", "2", "--threads", "1", ...SENTENCES], c.io), c.err()).toBe(1);
      const results = parse(c.out());
      expect(results.map((r) => r.sentence)).toEqual(SENTENCES);
      expect(results[1].error?.code).toBe("MARKUP_NO_BRACKETS");
      const codeOf = new Map(TERMS.map((t) => t.split("\t")).map(([code, name, group]) => [`${group}:${name}`, code]));
      for (const r of [results[0], results[2], results[3]]) {
        expect(r.beams?.length).toBe(2);
        for (const b of r.beams ?? []) expect(b.pred_concept_code).toBe(codeOf.get(`${b.semantic_group}:${b.pred_concept_name}`));
      }
    } finally {
      model.cleanup();
    }
  });
});
