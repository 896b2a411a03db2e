import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/sft-data.js";
import { seq2seqTarget } from "../../src/train/seq2seq-pairs.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";

describe("sft-data --arch seq2seq", () => {
  let dir: string;
  let kbPath: string;
  let synth: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sft-s2s-"));
    kbPath = await buildKbFromRows(dir, ["10\tembolia pulmonar\tENFERMEDAD", "10\ttromboembolismo pulmonar\tENFERMEDAD", "20\tfiebre\tSINTOMA", "21\tfiebre alta\tSINTOMA"]);
    synth = join(dir, "synth.jsonl");
    const sentence = (code: string, group: string, mention: string, marked: string) => JSON.stringify({ type: "sentence", code, group, mention, marked });
    writeFileSync(
      synth,
      [
        sentence("10", "ENFERMEDAD", "embolia pulmonar", "Ingresa por [embolia pulmonar]{ENFERMEDAD} masiva."),
        JSON.stringify({ type: "concept", code: "10", status: "done" }),
        sentence("21", "SINTOMA", "fiebre muy alta", "Refiere [fiebre muy alta]{SINTOMA} desde ayer."),
        JSON.stringify({ type: "concept", code: "21", status: "done" }),
      ].join("\n") + "\n",
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes the authors' source/target pairs, the Seq2SeqTrainer configuration and the training script", async () => {
    const out = join(dir, "out");
    const cli = captureIO();
    expect(await run(["--kb", kbPath, "--synthetic", synth, "--arch", "seq2seq", "--mix", "synthetic-only", "-o", out], cli.io), cli.err()).toBe(0);
    const train = readFileSync(join(out, "train.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    expect(train).toEqual(expect.arrayContaining([
      { source: "Ingresa por [embolia pulmonar]{ENFERMEDAD} masiva.", target: "[embolia pulmonar] es embolia pulmonar" },
      { source: "Refiere [fiebre muy alta]{SINTOMA} desde ayer.", target: "[fiebre muy alta] es fiebre alta" },
    ]));
    expect(train).toHaveLength(2);
    const config = JSON.parse(readFileSync(join(out, "seq2seq-config.json"), "utf8"));
    expect(config).toMatchObject({ model_name_or_path: "facebook/mbart-large-50", src_lang: "es_XX", tgt_lang: "es_XX", decoder_start: "lang", verb: "es" });
    expect(config.training_arguments).toMatchObject({ learning_rate: 3e-5, warmup_ratio: 0.03, label_smoothing_factor: 0.1, lr_scheduler_type: "linear", bf16: true });
    expect(readFileSync(join(out, "train_seq2seq.py"), "utf8")).toMatch(/Seq2SeqTrainer/);
    // Composite answers: names joined with <SEP> and no spaces (the authors' "<SEP>".join(annotations)).
    expect(seq2seqTarget("embolia y fiebre", "es", ["embolia pulmonar", "fiebre"])).toBe("[embolia y fiebre] es embolia pulmonar<SEP>fiebre");
    await expect(run(["--kb", kbPath, "--synthetic", synth, "--arch", "t5", "-o", join(dir, "x")], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
  });
});
