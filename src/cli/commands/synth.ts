import { readDataset } from "../../data/read-dataset.js";
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { openKnowledgeBase } from "../../kb/sqlite-kb.js";
import { HttpChatGenerator } from "../../synth/http-generator.js";
import { asStyleExample, markHumanMentions } from "../../synth/human-dataset.js";
import { type HumanExamples, NO_HUMAN_EXAMPLES, collectHumanExamples } from "../../synth/human-examples.js";
import { asSynthLanguage } from "../../synth/language.js";
import { loadLocalGenerator } from "../../synth/load-local-generator.js";
import { DEFAULT_PROMPT_DIR, loadPromptTemplates } from "../../synth/prompt-template.js";
import { DEFAULT_RETRY_POLICY } from "../../synth/retry-policy.js";
import { runSynth, type SynthSummary } from "../../synth/run.js";
import { readCodesFile, selectConcepts } from "../../synth/select-concepts.js";
import type { Generator } from "../../synth/types.js";
import type { CliIO } from "../io.js";
import { Progress, formatSeconds } from "../../io/progress.js";
import { checkOutputPath, parseCommandArgs, positiveInt, fraction } from "../args.js";

export const usage = `usage: syncabel synth --kb KB.sqlite (--endpoint URL --model NAME [--api-key-env VAR] | --local MODEL_DIR)
                      --language es|en|fr [--per-concept N] [--examples TRAIN [--examples-format F] [--texts DIR]]
                      [--groups G1,G2] [--codes FILE] [--limit N] [--concurrency C] -o SYNTH.jsonl

Writes short contextual sentences for KB concepts with an instruction-tuned LLM (SynCABEL synthetic data).
Generator: any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, TGI; --endpoint is its base
URL such as http://127.0.0.1:8000/v1), or --local: an ONNX model folder run in-process (sampling decoder).

Options:
  --per-concept N        sentences per concept (default 5 for es, 3 otherwise)
  --examples FILE        human training data: style examples (5 random sentences of the concept's group) and
                         known mentions of each code; --examples-format ${DATASET_FORMATS.join("|")} (default spaccc)
  --prompt-dir DIR       templates DIR/<language>/{system,user}.txt (default: the package's prompts/)
  --temperature T        default 0.6          --top-p P         default 0.9
  --max-tokens N         default 1024         --timeout SECS    per request, default 120
  --max-attempts N       default ${DEFAULT_RETRY_POLICY.maxAttempts}              --seed N          default 0
  --concurrency C        requests in flight (default 4; the local generator runs one at a time)
  --retry-failed         attempt again concepts a previous run recorded as failed

Exit status: 0 when every concept is done, 1 when some failed (count on stderr) or the endpoint cannot be
reached, 130 when interrupted. The output is resumable: run the same command again after a crash or Ctrl-C and it skips the concepts already
complete. Each line is a JSON record: {"type":"sentence",code,group,marked,text,mention,offsets,...} or the
concept's closing {"type":"concept",code,status:"done"|"failed",reason?,attempts,...}.
`;



export function formatSummary(s: SynthSummary): string {
  const lines = [
    `concepts selected ${s.selected}: skipped ${s.skipped} (already complete), done ${s.done}, failed ${s.failed}, retried ${s.retried}`,
    `sentences written ${s.sentences}`,
    s.usageReported ? `tokens: prompt ${s.promptTokens}, completion ${s.completionTokens}` : "tokens: not reported by the server",
    `wall time ${formatSeconds(s.wallSeconds)}${s.interrupted ? " (interrupted: run again to resume)" : ""}`,
  ];
  const reasons = Object.entries(s.failureReasons);
  if (reasons.length > 0) lines.push(`failures: ${reasons.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  return lines.join("\n") + "\n";
}

async function loadHuman(path: string | undefined, format: string, textsDir: string | undefined, language: string, io: CliIO): Promise<HumanExamples> {
  if (path === undefined) return NO_HUMAN_EXAMPLES;
  if (!(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw new SyncabelError("CLI_USAGE", `--examples-format must be one of ${DATASET_FORMATS.join(", ")}`);
  }
  const dataset = await readDataset(path, { format: format as DatasetFormat, language, ...(textsDir ? { textsDir } : {}) });
  const marked = markHumanMentions(dataset, language);
  io.stderr.write(`examples: ${marked.items.length} human mentions from ${dataset.documents.length} documents of ${path}` +
    `${dataset.problems.length + marked.problems.length > 0 ? ` (${dataset.problems.length + marked.problems.length} skipped)` : ""}\n`);
  return collectHumanExamples(marked.items.map(asStyleExample));
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: {
      kb: { type: "string" },
      endpoint: { type: "string" },
      model: { type: "string" },
      "api-key-env": { type: "string" },
      local: { type: "string" },
      "per-concept": { type: "string" },
      language: { type: "string", default: "es" },
      examples: { type: "string" },
      "examples-format": { type: "string", default: "spaccc" },
      texts: { type: "string" },
      groups: { type: "string" },
      codes: { type: "string" },
      limit: { type: "string" },
      concurrency: { type: "string" },
      "prompt-dir": { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      "max-tokens": { type: "string" },
      timeout: { type: "string" },
      "max-attempts": { type: "string" },
      seed: { type: "string" },
      threads: { type: "string" },
      "retry-failed": { type: "boolean", default: false },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (!values.kb) throw new SyncabelError("CLI_USAGE", `--kb is required\n\n${usage}`);
  if (!values.output) throw new SyncabelError("CLI_USAGE", `-o/--output is required\n\n${usage}`);
  if ((values.endpoint === undefined) === (values.local === undefined)) {
    throw new SyncabelError("CLI_USAGE", `give either --endpoint URL --model NAME or --local MODEL_DIR\n\n${usage}`);
  }
  if (values.endpoint !== undefined && !values.model) throw new SyncabelError("CLI_USAGE", "--endpoint needs --model NAME");
  checkOutputPath(values.output, "-o", [values.kb, ...(values.examples ? [values.examples] : []), ...(values.codes ? [values.codes] : [])]);
  const language = asSynthLanguage(values.language);
  const perConcept = positiveInt(values["per-concept"], "per-concept", language === "es" ? 5 : 3);
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new SyncabelError("CLI_USAGE", `--seed must be a non-negative integer, got ${JSON.stringify(values.seed)}`);
  const templates = loadPromptTemplates(language, values["prompt-dir"] ?? DEFAULT_PROMPT_DIR);
  const retry = { ...DEFAULT_RETRY_POLICY, maxAttempts: positiveInt(values["max-attempts"], "max-attempts", DEFAULT_RETRY_POLICY.maxAttempts) };

  let apiKey: string | undefined;
  if (values["api-key-env"]) {
    apiKey = io.env[values["api-key-env"]];
    if (!apiKey) throw new SyncabelError("CLI_USAGE", `--api-key-env ${values["api-key-env"]}: that environment variable is empty or unset`);
  }

  const kb = openKnowledgeBase(values.kb);
  let generator: Generator | undefined;
  try {
    const human = await loadHuman(values.examples, values["examples-format"], values.texts, language, io);
    const { jobs, unknownCodes } = selectConcepts(kb, {
      groups: values.groups ? values.groups.split(",").map((g) => g.trim()).filter(Boolean) : undefined,
      codes: values.codes ? readCodesFile(values.codes) : undefined,
      limit: values.limit === undefined ? undefined : positiveInt(values.limit, "limit", 1),
    });
    if (unknownCodes.length > 0) {
      io.stderr.write(`warning: ${unknownCodes.length} code(s) of --codes are not in the KB (first: ${unknownCodes.slice(0, 5).join(", ")})\n`);
    }
    generator = values.local !== undefined
      ? await loadLocalGenerator(values.local, { seed, ...(values.threads ? { threads: positiveInt(values.threads, "threads", 1) } : {}) })
      : new HttpChatGenerator({ endpoint: values.endpoint!, model: values.model!, ...(apiKey ? { apiKey } : {}), timeoutMs: 1000 * fraction(values.timeout, "timeout", 120, 86_400) });

    const controller = new AbortController();
    const onSigint = (): void => {
      io.stderr.write("\ninterrupted: finishing the concepts in flight (Ctrl-C again to stop at once)\n");
      controller.abort();
      process.removeListener("SIGINT", onSigint);
    };
    process.on("SIGINT", onSigint);
    let progress: Progress | undefined;
    let failed = 0;
    try {
      const summary = await runSynth({
        kb, generator, templates, language, jobs, perConcept, retry, seed,
        outPath: values.output,
        concurrency: positiveInt(values.concurrency, "concurrency", 4),
        human,
        temperature: fraction(values.temperature, "temperature", 0.6, 5),
        topP: fraction(values["top-p"], "top-p", 0.9, 1),
        maxTokens: positiveInt(values["max-tokens"], "max-tokens", 1024),
        retryFailed: values["retry-failed"],
        signal: controller.signal,
        onResume: ({ skipped, pending, truncatedBytes }) => {
          if (skipped > 0 || truncatedBytes > 0) {
            io.stderr.write(`resuming ${values.output}: ${skipped} concepts already complete${truncatedBytes > 0 ? `, ${truncatedBytes} bytes of an unfinished write cut` : ""}\n`);
          }
          progress = new Progress({ total: pending, label: "synth", stream: io.stderr, tty: io.isTTY, unit: "concepts" });
        },
        onConcept: (m) => {
          if (m.status === "failed") failed++;
          progress?.tick(1, failed > 0 ? `failed ${failed}` : "");
        },
      });
      progress?.finish(failed > 0 ? `failed ${failed}` : "");
      io.stderr.write(formatSummary(summary));
      if (summary.interrupted) return 130;
      if (summary.failed > 0) {
        io.stderr.write(`syncabel synth: ${summary.failed} of ${summary.done + summary.failed} concepts failed (reasons in the summary above and in ${values.output}; --retry-failed attempts them again)\n`);
        return 1;
      }
      return 0;
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
  } finally {
    await generator?.close();
    kb.close();
  }
}
