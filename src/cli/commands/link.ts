import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { SyncabelError } from "../../errors.js";
import { openLinker } from "../../linker/open.js";
import { LINKER_ARGS, linkerOptionsFromArgs } from "../linker-args.js";
import type { SampleResult } from "../../linker/types.js";
import type { CliIO } from "../io.js";
import { positiveInt } from "../args.js";

export const usage = `usage: syncabel link --kb KB.sqlite [--model DIR] [--language es|fr|en] [--beams N]
                     [--unconstrained] [--multiple-answers] [--batch-size B] [--max-new-tokens T]
                     [--threads N] [--verb V] [--device cpu|cuda] [--linker generative|tfidf] [SENTENCE ...]

Links marked sentences such as "El paciente con [embolia pulmonar]{ENFERMEDAD} ...". Sentences come from the
arguments, else from stdin: one per line, or JSONL lines {"sentence": "..."}. Writes one JSONL line per input
sentence, in order: {"sentence", "beams": [{mention, semantic_group, pred_concept_name, pred_concept_code,
beam_score, pred_concept_codes}]} or {"sentence", "error": {code, message}}.
Without --model the TF-IDF lexical linker is used. --multiple-answers lets the model join several names with
<SEP> (composite mentions; for checkpoints fine-tuned that way, such as the SPACCC ones); codes are joined with +.
`;


/** One input line: plain text, or a JSON object with a `sentence` (or `text`) field. */
function sentenceOfLine(line: string): string {
  const trimmed = line.trim();
  if (trimmed.startsWith("{")) {
    try {
      const value = JSON.parse(trimmed) as { sentence?: unknown; text?: unknown };
      const s = value.sentence ?? value.text;
      if (typeof s === "string") return s;
    } catch {
      // not JSON: a plain sentence that starts with a brace
    }
  }
  return line;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...LINKER_ARGS,
      beams: { type: "string" },
      unconstrained: { type: "boolean", default: false },
      "batch-size": { type: "string" },
      "max-new-tokens": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const numBeams = positiveInt(values.beams, "beams", 5);
  const batchSize = positiveInt(values["batch-size"], "batch-size", 8);
  const maxNewTokens = positiveInt(values["max-new-tokens"], "max-new-tokens", 128);
  const linker = await openLinker(linkerOptionsFromArgs(values, usage));
  try {
    const write = (results: SampleResult[]): void => {
      for (const r of results) io.stdout.write(`${JSON.stringify(r)}\n`);
    };
    const options = { constrained: !values.unconstrained, num_beams: numBeams, batch_size: batchSize, max_new_tokens: maxNewTokens };
    if (positionals.length > 0) {
      write(await linker.sample(positionals, options));
      return 0;
    }
    // Stream stdin in chunks so long inputs start producing output early and memory stays flat.
    const chunk: string[] = [];
    const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === "") continue;
      chunk.push(sentenceOfLine(line));
      if (chunk.length >= batchSize * 4) write(await linker.sample(chunk.splice(0), options));
    }
    if (chunk.length > 0) write(await linker.sample(chunk.splice(0), options));
    return 0;
  } finally {
    await linker.close();
  }
}
