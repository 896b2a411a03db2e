import { resolve } from "node:path";
import { readPredictions } from "../../data/predictions-jsonl.js";
import { readDataset } from "../../data/read-dataset.js";
import { DATASET_FORMATS, type DatasetFormat } from "../../data/types.js";
import { SyncabelError } from "../../errors.js";
import { DEFAULT_JUDGMENT_COLUMN } from "../../eval/judgments.js";
import { writeFileAtomic } from "../../io/atomic-write.js";
import { Progress, formatSeconds } from "../../io/progress.js";
import { VerdictCache } from "../../judge/cache.js";
import { judgeItems, type GoldCodeSource } from "../../judge/items.js";
import { judgmentsTsv } from "../../judge/output.js";
import { DEFAULT_JUDGE_PROMPT, loadJudgePrompt } from "../../judge/prompt.js";
import { runJudge, type JudgeSummary } from "../../judge/run.js";
import { openKnowledgeBase } from "../../kb/sqlite-kb.js";
import { HttpChatGenerator } from "../../synth/http-generator.js";
import { DEFAULT_RETRY_POLICY } from "../../synth/retry-policy.js";
import { acquireRunLock } from "../../synth/run-lock.js";
import { checkOutputPath, fraction, parseCommandArgs, positiveInt } from "../args.js";
import type { CliIO } from "../io.js";

export const usage = `usage: syncabel judge --gold GOLD --predictions PRED.tsv --kb KB.sqlite --endpoint URL --model NAME -o J.tsv
                      [--prompt FILE] [--cache FILE] [--gold-codes predictions|gold] [--format F] [--texts DIR]
                      [--concurrency C] [--timeout SECS] [--max-attempts N] [--max-tokens N] [--temperature T]
                      [--api-key-env VAR] [--limit N]

LLM-as-judge (the SynCABEL authors' evaluation): labels the top prediction of every predicted gold mention
STRICT (same code) or PARTIAL (the predicted codes a subset of a composite gold) from the codes alone, and the
rest EXACT (clinically equivalent), BROAD (too general), NARROW (too specific) or NO_RELATION by asking a model
through any OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, hosted APIs; --endpoint
is its base URL such as http://127.0.0.1:8000/v1). The model sees the mention, its marked sentence and both
concepts (code, group, preferred name, other names, definition from the KB) and answers a JSON object.
Writes a judgments TSV (${DEFAULT_JUDGMENT_COLUMN} column) for 'syncabel eval --judgments'. See docs/judge.md.

Options:
  --prompt FILE          the prompt: a [system] and a [user] section with {{placeholders}} (default: the
                         package's prompts/judge/judge.txt)
  --cache FILE           verdicts JSONL, keyed by (model, prompt, gold, prediction, mention, sentence): the resume
                         state, shareable between runs and predictions files (default: J.tsv.cache.jsonl)
  --gold-codes           predictions (default): the predictions file's own gold 'code' column where it has one
                         (as the authors judged), else the gold file; gold: always the gold file
  --format               gold format (default spaccc); --texts: folder of SPACCC texts (default: beside GOLD)
  --concurrency C        requests in flight (default 4)     --timeout SECS    per request (default 120)
  --max-attempts N       per verdict (default ${DEFAULT_RETRY_POLICY.maxAttempts}): bad replies are asked again at once,
                         429 / 5xx / timeouts after a backoff (Retry-After honoured)
  --max-tokens N         default 256      --temperature T   default 0
  --api-key-env VAR      read the bearer token from this environment variable
  --limit N              judge the first N predictions only (a cost probe)

Exit status: 0 when every prediction is labelled, 1 when some failed (count on stderr; run again to retry them),
130 when interrupted (nothing written but the cache: run the same command again to resume).
`;

function summaryLines(s: JudgeSummary, items: number): string {
  const perThousand = (x: number): string => (items === 0 ? "-" : ((1000 * x) / items).toFixed(0));
  const lines = [
    `predictions ${items}: by the codes ${s.byCodes}, from the cache ${s.fromCache}, asked the model ${s.asked} (distinct contexts), failed ${s.failures.length}`,
    `requests ${s.attempts} (${perThousand(s.attempts)} per 1,000 predictions)`,
    s.usageReported
      ? `tokens: prompt ${s.promptTokens}, completion ${s.completionTokens} (${perThousand(s.promptTokens)} + ${perThousand(s.completionTokens)} per 1,000 predictions)`
      : "tokens: not reported by the server",
    `wall time ${formatSeconds(s.wallSeconds)}${s.interrupted ? " (interrupted: run again to resume)" : ""}`,
  ];
  const reasons = new Map<string, number>();
  for (const f of s.failures) reasons.set(f.errorCode, (reasons.get(f.errorCode) ?? 0) + 1);
  if (reasons.size > 0) lines.push(`failures: ${[...reasons].map(([k, v]) => `${k} ${v}`).join(", ")}; first: ${s.failures[0].reason}`);
  return `${lines.join("\n")}\n`;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: {
      gold: { type: "string" },
      predictions: { type: "string" },
      kb: { type: "string" },
      endpoint: { type: "string" },
      model: { type: "string" },
      output: { type: "string", short: "o" },
      prompt: { type: "string" },
      cache: { type: "string" },
      "gold-codes": { type: "string" },
      format: { type: "string" },
      texts: { type: "string" },
      concurrency: { type: "string" },
      timeout: { type: "string" },
      "max-attempts": { type: "string" },
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      "api-key-env": { type: "string" },
      limit: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, usage);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const missing = (["gold", "predictions", "kb", "endpoint", "model", "output"] as const).filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new SyncabelError("CLI_USAGE", `judge needs ${missing.map((m) => (m === "output" ? "-o J.tsv" : `--${m}`)).join(", ")}`);
  const gold = values.gold as string;
  const predictionsPath = values.predictions as string;
  const kbPath = values.kb as string;
  const output = values.output as string;
  const goldCodes = (values["gold-codes"] ?? "predictions") as GoldCodeSource;
  if (goldCodes !== "gold" && goldCodes !== "predictions") throw new SyncabelError("CLI_USAGE", `--gold-codes must be predictions or gold, got ${JSON.stringify(goldCodes)}`);
  const format = (values.format ?? "spaccc") as DatasetFormat;
  if (!DATASET_FORMATS.includes(format)) throw new SyncabelError("CLI_USAGE", `--format must be one of ${DATASET_FORMATS.join(", ")}`);
  const inputs = [gold, predictionsPath, kbPath];
  checkOutputPath(output, "-o", inputs);
  const cachePath = values.cache ?? `${output}.cache.jsonl`;
  checkOutputPath(cachePath, "--cache", [...inputs, output]);
  const concurrency = positiveInt(values.concurrency, "concurrency", 4);
  const retry = { ...DEFAULT_RETRY_POLICY, maxAttempts: positiveInt(values["max-attempts"], "max-attempts", DEFAULT_RETRY_POLICY.maxAttempts) };
  const timeoutMs = 1000 * fraction(values.timeout, "timeout", 120, 86_400);
  const maxTokens = positiveInt(values["max-tokens"], "max-tokens", 256);
  const temperature = fraction(values.temperature, "temperature", 0, 5);
  const limit = values.limit === undefined ? undefined : positiveInt(values.limit, "limit", 1);
  let apiKey: string | undefined;
  if (values["api-key-env"]) {
    apiKey = io.env[values["api-key-env"]];
    if (!apiKey) throw new SyncabelError("CLI_USAGE", `--api-key-env ${values["api-key-env"]}: that environment variable is empty or unset`);
  }
  const prompt = loadJudgePrompt(values.prompt ?? DEFAULT_JUDGE_PROMPT);
  const generator = new HttpChatGenerator({ endpoint: values.endpoint as string, model: values.model as string, timeoutMs, ...(apiKey ? { apiKey } : {}) });

  const dataset = await readDataset(gold, { format, ...(values.texts ? { textsDir: values.texts } : {}) });
  const predictions = readPredictions(predictionsPath);
  for (const p of predictions.problems.slice(0, 20)) io.stderr.write(`${p.file}:${p.line}: ${p.message} (row skipped)\n`);
  const built = judgeItems(dataset, predictions.rows, goldCodes);
  const items = limit === undefined ? built.items : built.items.slice(0, limit);
  io.stderr.write(`judge: ${items.length} predictions to label (${built.withoutGold} without a gold mention and ${built.goldNoCode} of NO_CODE gold left out${built.withoutSentence > 0 ? `; ${built.withoutSentence} without a sentence` : ""})\n`);
  if (items.length === 0) throw new SyncabelError("JUDGE_INVALID_INPUT", `no prediction of ${predictionsPath} matches a gold mention of ${gold} with a code: check the files and --format/--texts`);

  const kb = openKnowledgeBase(kbPath);
  const release = acquireRunLock(resolve(output), "judge run");
  const cache = new VerdictCache(cachePath);
  const controller = new AbortController();
  const onSignal = (signal: string) => (): void => {
    io.stderr.write(`\n${signal}: stopping (requests in flight cancelled; the cache keeps every verdict received)\n`);
    controller.abort();
  };
  const handlers = { SIGINT: onSignal("interrupted"), SIGTERM: onSignal("terminated") };
  process.on("SIGINT", handlers.SIGINT);
  process.on("SIGTERM", handlers.SIGTERM);
  try {
    if (cache.size > 0 || cache.truncatedBytes > 0) io.stderr.write(`resuming with ${cache.size} cached verdicts from ${cachePath}${cache.truncatedBytes > 0 ? ` (${cache.truncatedBytes} bytes of a torn write cut)` : ""}\n`);
    const progress = new Progress({ total: items.length, label: "judge", stream: io.stderr, tty: io.isTTY, unit: "predictions" });
    let failed = 0;
    const summary = await runJudge({
      items, kb, generator, prompt, cache, concurrency, retry, maxTokens, temperature, signal: controller.signal,
      onItem: (_i, verdict) => {
        if (verdict === undefined) failed++;
        const extra = failed > 0 ? `failed ${failed}` : "";
        if (verdict !== undefined && verdict.by !== "model") progress.skip(1, extra);
        else progress.tick(1, extra);
      },
    });
    progress.finish(failed > 0 ? `failed ${failed}` : "");
    io.stderr.write(summaryLines(summary, items.length));
    if (summary.interrupted) return 130;
    writeFileAtomic(output, judgmentsTsv(items, summary.verdicts));
    io.stderr.write(`wrote ${output}: ${items.length - summary.failures.length} judgments\n`);
    if (summary.failures.length > 0) {
      io.stderr.write(`syncabel judge: ${summary.failures.length} of ${items.length} predictions failed (left out of ${output}; run the same command again to retry them)\n`);
      return 1;
    }
    return 0;
  } finally {
    process.removeListener("SIGINT", handlers.SIGINT);
    process.removeListener("SIGTERM", handlers.SIGTERM);
    cache.close();
    release();
    kb.close();
    await generator.close();
  }
}
