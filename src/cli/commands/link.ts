import { createInterface } from "node:readline";
import { SyncabelError } from "../../errors.js";
import { openLinker } from "../../linker/open.js";
import { LINKER_ARGS, linkerOptionsFromArgs, warnIneffectiveLinkerArgs } from "../linker-args.js";
import type { SampleResult } from "../../linker/types.js";
import type { CliIO } from "../io.js";
import { exitForItems, parseCommandArgs, positiveInt } from "../args.js";
import { openXrefMap, type XrefMap } from "../../kb/xrefs.js";
import { openAncestorAnnotator, type AncestorAnnotator } from "../beam-ancestors.js";
import { openKnowledgeBase } from "../../kb/sqlite-kb.js";
import { describeLinker } from "../../linker/linker-description.js";

export const usage = `usage: syncabel link --kb KB.sqlite [--model DIR] [--language es|fr|en] [--beams N]
                     [--unconstrained] [--multiple-answers] [--batch-size B] [--max-new-tokens T] [--early-stopping true|false|never]
                     [--threads N] [--verb V] [--device cpu|cuda] [--dtype fp32|fp16|q8|q4|... | --model-file PATH] [--linker hybrid|tfidf|generative|retrieve-generate [--candidates K]] [--workers N] [--map-to VOCAB] [--min-confidence P] [--ancestors] [SENTENCE ...]

Links marked sentences such as "El paciente con [embolia pulmonar]{ENFERMEDAD} ...". Sentences come from the
arguments, else from stdin: one per line, or JSONL lines {"sentence": "..."}. Writes one JSONL line per input
sentence, in order: {"sentence", "beams": [{mention, semantic_group, pred_concept_name, pred_concept_code,
beam_score, pred_concept_codes}]} or {"sentence", "error": {code, message}}.
Without --model the hybrid linker is used when the KB holds one (syncabel train-linker), else TF-IDF; --workers N
links on N worker threads, each with its own index (default 1: worth it for thousands of sentences). --linker retrieve-generate (with --model) retrieves the top --candidates K
concepts (default 64; hybrid candidates when the KB holds a trained linker, else TF-IDF) and ranks their names by
the model's exact constrained-decoding score. --multiple-answers lets the model join several names with
<SEP> (composite mentions; for checkpoints fine-tuned that way, such as the SPACCC ones); codes are joined with +
as the authors' sample() joins them (repeats and NO_CODE parts kept; pred_concept_codes lists them deduplicated).
--early-stopping sets when beam search stops, as transformers' early_stopping (default: the model's
generation_config.json, else false; docs/decoding.md).
--map-to VOCAB adds to every beam "mapped_codes": the code's ids in another vocabulary from the KB's
cross-references (e.g. MESH, UMLS_CUI, ICD10CM; one-to-many kept, [] when it has none).
A calibrated linker (train-linker for the hybrid one, syncabel calibrate for the others) adds "confidence" (the
probability that the first code is right), "code" and per beam "probability"; --min-confidence P answers
"code": "NO_CODE" with "abstained": true below P, keeping the beams.
--ancestors adds to every beam "ancestors": [{code, name, distance}] of its concept, nearest first, from the
KB's is-a relations (kb build stores them from RF2 relationships, OBO, OBO Graphs, MRREL, a parents column).
Encoder-decoder models (mBART, BART; docs/seq2seq.md): --decoder-start config|lang|ID picks the decoder's first
token (default config: generation_config.json's decoder_start_token_id, as Hugging Face generate); link-docs and
serve take it too.
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

/** Which linker answers (stderr), for a user who may not know the KB holds a trained one. */
function linkerInWords(kind: string, kbPath: string, model: string | undefined): string {
  const kb = openKnowledgeBase(kbPath);
  try {
    return describeLinker(kind, kb, model);
  } finally {
    kb.close();
  }
}

/** Each beam with its code's ids in the --map-to vocabulary. */
function withMappedCodes(r: SampleResult, xrefs: XrefMap): SampleResult {
  if (r.beams === undefined) return r;
  return { ...r, beams: r.beams.map((b) => ({ ...b, mapped_to: xrefs.vocab, mapped_codes: xrefs.map(b.pred_concept_code) })) };
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      ...LINKER_ARGS,
      beams: { type: "string" },
      unconstrained: { type: "boolean", default: false },
      "batch-size": { type: "string" },
      "max-new-tokens": { type: "string" },
      "map-to": { type: "string" },
      ancestors: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const numBeams = positiveInt(values.beams, "beams", 5);
  const batchSize = positiveInt(values["batch-size"], "batch-size", 8);
  const maxNewTokens = positiveInt(values["max-new-tokens"], "max-new-tokens", 128);
  const mapTo = values["map-to"] as string | undefined;
  if (mapTo !== undefined && typeof values.kb !== "string") throw new SyncabelError("CLI_USAGE", `--map-to needs --kb\n${usage}`);
  const xrefs: XrefMap | undefined = mapTo === undefined ? undefined : openXrefMap(values.kb as string, mapTo);
  if (values.ancestors && typeof values.kb !== "string") throw new SyncabelError("CLI_USAGE", `--ancestors needs --kb\n${usage}`);
  const ancestors: AncestorAnnotator | undefined = values.ancestors ? openAncestorAnnotator(values.kb as string) : undefined;
  const linker = await openLinker({ ...linkerOptionsFromArgs(values, usage), onWarning: (m) => void io.stderr.write(`warning: ${m}\n`) });
  warnIneffectiveLinkerArgs(values, linker.kind, "link", io.stderr, true);
  io.stderr.write(`link: ${linkerInWords(linker.kind, values.kb as string, values.model as string | undefined)}\n`);
  let total = 0;
  let failed = 0;
  try {
    const write = (results: SampleResult[]): void => {
      for (const r of results) {
        total++;
        if (r.error !== undefined) failed++;
        const mapped = xrefs ? withMappedCodes(r, xrefs) : r;
        io.stdout.write(`${JSON.stringify(ancestors ? ancestors.annotate(mapped) : mapped)}\n`);
      }
    };
    const options = { constrained: !values.unconstrained, num_beams: numBeams, batch_size: batchSize, max_new_tokens: maxNewTokens };
    if (positionals.length > 0) {
      write(await linker.sample(positionals, options));
    } else {
      if (io.stdinIsTTY) io.stderr.write(`syncabel link: reading marked sentences from the terminal, one per line (Ctrl-D to end); or give them as arguments, or pipe a file\n`);
      // Stream stdin in chunks so long inputs start producing output early and memory stays flat.
      const chunk: string[] = [];
      const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
      for await (const line of lines) {
        if (line.trim() === "") continue;
        chunk.push(sentenceOfLine(line));
        if (chunk.length >= batchSize * 4 || io.stdinIsTTY) write(await linker.sample(chunk.splice(0), options));
      }
      if (chunk.length > 0) write(await linker.sample(chunk.splice(0), options));
    }
  } finally {
    await linker.close();
    xrefs?.close();
    ancestors?.close();
  }
  return exitForItems(io, "link", failed, total, "sentences");
}
