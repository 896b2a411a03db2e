import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { readDataset } from "../../data/read-dataset.js";
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { writeFileAtomic } from "../../io/atomic-write.js";
import { openKnowledgeBase } from "../../kb/sqlite-kb.js";
import { verbFor } from "../../markup/prompt.js";
import { buildSeq2SeqData, buildSftData } from "../../train/build-sft-data.js";
import { seq2seqTrainerConfig, TRAIN_SEQ2SEQ_PY } from "../../train/seq2seq-pairs.js";
import { LANGUAGE_CODE } from "../../convert/mbart-config.js";
import { asMixMode } from "../../train/mix.js";
import { readSyntheticJsonl } from "../../train/synthetic-reader.js";
import { TargetNameSelector } from "../../train/target-name.js";
import { ADD_SEP_TOKEN_PY, trlSftConfigYaml } from "../../train/trl-config.js";
import type { CliIO } from "../io.js";
import { parseCommandArgs } from "../args.js";

export const usage = `usage: syncabel sft-data --kb KB.sqlite [--human TRAIN [--format F] [--texts DIR]] [--synthetic SYNTH.jsonl]
                         [--mix interleave|human-only|synthetic-only] [--dev-ratio 0.1] [--seed N]
                         [--language es|en|fr] [--base-model ID] [--arch decoder|seq2seq] -o OUT_DIR

Builds fine-tuning data: OUT_DIR/train.jsonl and dev.jsonl of {"prompt","completion"} pairs
("{marked sentence}<SEP>[{mention}] {verb}" -> " {KB name}", composite names joined with <SEP>; the target name is
the code's KB name closest to the mention by TF-IDF char-3-gram cosine), OUT_DIR/sft-config.yaml (TRL: loss on the
completion only, packing, lr 3e-5, linear schedule, warm-up 0.03, bf16), OUT_DIR/add_sep_token.py and stats.json.
dev.jsonl holds the human mentions of --dev-ratio of the documents; interleave mixes human and synthetic pairs 1:1
by round robin, cycling the smaller set. --format: ${DATASET_FORMATS.join("|")} (default spaccc).
--eos TEXT appends TEXT to every completion (default none: TRL appends the tokenizer's EOS itself).
--arch seq2seq writes {"source","target"} pairs for an encoder-decoder model instead (mBART-50, BART; the authors'
format: source = the marked sentence, target = "[mention] es name", composite names joined with <SEP>), plus
seq2seq-config.json (Seq2SeqTrainingArguments as the authors set them) and train_seq2seq.py (adds <SEP>, src_lang /
tgt_lang = es_XX|fr_XX|en_XX, loss on the name only, decoder inputs after the target language code);
--base-model then defaults to facebook/mbart-large-50.
`;

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: {
      kb: { type: "string" },
      human: { type: "string" },
      format: { type: "string", default: "spaccc" },
      texts: { type: "string" },
      synthetic: { type: "string" },
      mix: { type: "string", default: "interleave" },
      "dev-ratio": { type: "string", default: "0.1" },
      seed: { type: "string", default: "0" },
      language: { type: "string", default: "es" },
      verb: { type: "string" },
      eos: { type: "string", default: "" },
      "base-model": { type: "string" },
      arch: { type: "string", default: "decoder" },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (!values.kb) throw new SyncabelError("CLI_USAGE", `--kb is required\n\n${usage}`);
  if (!values.output) throw new SyncabelError("CLI_USAGE", `-o OUT_DIR is required\n\n${usage}`);
  if (!values.human && !values.synthetic) throw new SyncabelError("CLI_USAGE", "give --human and/or --synthetic");
  const mode = asMixMode(values.mix);
  const devRatio = Number(values["dev-ratio"]);
  if (!Number.isFinite(devRatio) || devRatio < 0 || devRatio >= 1) throw new SyncabelError("CLI_USAGE", `--dev-ratio must be in [0, 1), got ${values["dev-ratio"]}`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new SyncabelError("CLI_USAGE", `--seed must be a non-negative integer, got ${values.seed}`);
  if (!(DATASET_FORMATS as readonly string[]).includes(values.format)) throw new SyncabelError("CLI_USAGE", `--format must be one of ${DATASET_FORMATS.join(", ")}`);

  if (values.arch !== "decoder" && values.arch !== "seq2seq") throw new SyncabelError("CLI_USAGE", `--arch must be decoder or seq2seq, got ${JSON.stringify(values.arch)}\n\n${usage}`);
  const seq2seq = values.arch === "seq2seq";
  const baseModel = values["base-model"] ?? (seq2seq ? "facebook/mbart-large-50" : "meta-llama/Meta-Llama-3-8B-Instruct");
  const kb = openKnowledgeBase(values.kb);
  try {
    const human = values.human
      ? await readDataset(values.human, { format: values.format as DatasetFormat, language: values.language, ...(values.texts ? { textsDir: values.texts } : {}) })
      : undefined;
    if (human && human.problems.length > 0) io.stderr.write(`${values.human}: ${human.problems.length} problem(s) while reading (first: ${human.problems[0].message})\n`);
    const synthetic = values.synthetic ? await readSyntheticJsonl(values.synthetic) : undefined;
    if (synthetic && synthetic.problems.length > 0) io.stderr.write(`${values.synthetic}: ${synthetic.problems.length} bad line(s) skipped (first: ${synthetic.problems[0]})\n`);
    const dataOptions = {
      kb,
      selector: TargetNameSelector.fitOnKnowledgeBase(kb),
      verb: verbFor(values.language, values.verb),
      language: values.language,
      ...(human ? { human } : {}),
      ...(synthetic ? { synthetic: synthetic.mentions } : {}),
      mode, devRatio, seed, eos: values.eos,
    };
    const data = seq2seq ? buildSeq2SeqData(dataOptions) : buildSftData(dataOptions);
    const out = resolve(values.output);
    if (data.train.length === 0) {
      throw new SyncabelError("TRAIN_INVALID_INPUT", `no training pair could be built (skipped: ${JSON.stringify(data.stats.skipped)}): check that the codes of the data are in ${values.kb} and the --format`, {});
    }
    if (existsSync(out) && !statSync(out).isDirectory()) throw new SyncabelError("CLI_USAGE", `-o ${values.output} is a file: give a folder for the fine-tuning data`);
    mkdirSync(out, { recursive: true });
    const jsonl = (pairs: readonly object[]): string => pairs.map((p) => JSON.stringify(p)).join("\n") + (pairs.length > 0 ? "\n" : "");
    writeFileAtomic(join(out, "train.jsonl"), jsonl(data.train));
    writeFileAtomic(join(out, "dev.jsonl"), jsonl(data.dev));
    if (seq2seq) {
      const config = seq2seqTrainerConfig({ baseModel, dataDir: out, outputDir: join(out, "checkpoints"), verb: dataOptions.verb, langCode: LANGUAGE_CODE[values.language] ?? null, seed });
      writeFileAtomic(join(out, "seq2seq-config.json"), JSON.stringify(config, null, 2) + "\n");
      writeFileAtomic(join(out, "train_seq2seq.py"), TRAIN_SEQ2SEQ_PY);
    } else {
      writeFileAtomic(join(out, "sft-config.yaml"), trlSftConfigYaml({ model: join(out, "base-with-sep"), baseModel, dataDir: out, outputDir: join(out, "checkpoints"), seed }));
      writeFileAtomic(join(out, "add_sep_token.py"), ADD_SEP_TOKEN_PY);
    }
    const stats = { ...data.stats, mix: mode, seed, devDocumentIds: data.devDocumentIds, syntheticUnfinished: synthetic?.unfinished ?? 0 };
    writeFileAtomic(join(out, "stats.json"), JSON.stringify(stats, null, 2) + "\n");
    const s = data.stats;
    io.stderr.write(
      `train ${s.trainPairs} pairs (human ${s.trainFromHuman} from ${s.humanPairsTrain} distinct, synthetic ${s.trainFromSynthetic} from ${s.syntheticPairs} distinct); ` +
        `dev ${s.devPairs} pairs from ${s.devDocuments} documents; skipped ${JSON.stringify(s.skipped)}\n`,
    );
    return 0;
  } finally {
    kb.close();
  }
}
