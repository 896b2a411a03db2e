/**
 * The judge's prompt: one text file with a `[system]` and a `[user]` section (prompts/judge/judge.txt, or the
 * user's `--prompt FILE`), whose `{{placeholders}}` are filled from the mention and the two concepts' KB cards.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SyncabelError } from "../errors.js";
import { codeSet } from "../eval/codes.js";
import type { KnowledgeBase } from "../kb/types.js";
import { renderTemplate } from "../synth/prompt-template.js";
import type { ChatMessage } from "../synth/types.js";
import type { JudgeItem } from "./types.js";

export const DEFAULT_JUDGE_PROMPT = fileURLToPath(new URL("../../prompts/judge/judge.txt", import.meta.url));

export interface JudgePrompt {
  readonly path: string;
  readonly system: string;
  readonly user: string;
  /** SHA-256 of the file's text: part of the cache key, so another prompt never reuses old verdicts. */
  readonly sha256: string;
}

export const JUDGE_PLACEHOLDERS = [
  "sentence", "mention", "group",
  "gold_code", "gold_name", "gold_synonyms", "gold_definition",
  "predicted_code", "predicted_name", "predicted_synonyms", "predicted_definition",
] as const;

/** Read and check a prompt file: both sections present, no unknown placeholder. */
export function loadJudgePrompt(path: string = DEFAULT_JUDGE_PROMPT): JudgePrompt {
  if (!existsSync(path)) throw new SyncabelError("JUDGE_PROMPT_INVALID", `judge prompt file ${path} not found`, { path });
  const text = readFileSync(path, "utf8").replace(/\r\n/g, "\n");
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split("\n")) {
    const header = /^\[(system|user)\]\s*$/.exec(line);
    if (header) {
      if (sections.has(header[1])) throw new SyncabelError("JUDGE_PROMPT_INVALID", `${path}: two [${header[1]}] sections`, { path });
      current = [];
      sections.set(header[1], current);
    } else current?.push(line);
  }
  const system = sections.get("system")?.join("\n").trim();
  const user = sections.get("user")?.join("\n").trim();
  if (!system || !user) throw new SyncabelError("JUDGE_PROMPT_INVALID", `${path}: a judge prompt needs a [system] and a [user] section, each on its own line before its text`, { path });
  const blank = Object.fromEntries(JUDGE_PLACEHOLDERS.map((p) => [p, ""]));
  renderTemplate(system, blank, `${path} [system]`, "JUDGE_PROMPT_INVALID");
  renderTemplate(user, blank, `${path} [user]`, "JUDGE_PROMPT_INVALID");
  return { path, system, user, sha256: createHash("sha256").update(text).digest("hex") };
}

const MAX_SYNONYMS = 8;
const MAX_DEFINITION = 400;

/** Name, other names and definition of a (possibly composite) code from the KB; parts joined with " + ". */
export function conceptText(kb: KnowledgeBase, code: string): { name: string; synonyms: string; definition: string } {
  const names: string[] = [];
  const synonyms: string[] = [];
  const definitions: string[] = [];
  for (const part of codeSet(code)) {
    const card = kb.concept(part);
    if (card === undefined) {
      names.push("(not in the knowledge base)");
      continue;
    }
    names.push(card.title);
    synonyms.push(...card.names.filter((n) => n !== card.title).slice(0, MAX_SYNONYMS));
    if (card.definitions[0]) definitions.push(card.definitions[0].length > MAX_DEFINITION ? `${card.definitions[0].slice(0, MAX_DEFINITION)}...` : card.definitions[0]);
  }
  return { name: names.join(" + "), synonyms: synonyms.length > 0 ? synonyms.join("; ") : "none", definition: definitions.length > 0 ? definitions.join(" + ") : "none" };
}

export function judgeMessages(prompt: JudgePrompt, kb: KnowledgeBase, item: JudgeItem): ChatMessage[] {
  const gold = conceptText(kb, item.gold);
  const predicted = conceptText(kb, item.predicted);
  const vars: Record<(typeof JUDGE_PLACEHOLDERS)[number], string> = {
    sentence: item.sentence,
    mention: item.span,
    group: item.label,
    gold_code: item.gold,
    gold_name: gold.name,
    gold_synonyms: gold.synonyms,
    gold_definition: gold.definition,
    predicted_code: item.predicted,
    predicted_name: predicted.name,
    predicted_synonyms: predicted.synonyms,
    predicted_definition: predicted.definition,
  };
  return [
    { role: "system", content: renderTemplate(prompt.system, vars, `${prompt.path} [system]`, "JUDGE_PROMPT_INVALID") },
    { role: "user", content: renderTemplate(prompt.user, vars, `${prompt.path} [user]`, "JUDGE_PROMPT_INVALID") },
  ];
}
