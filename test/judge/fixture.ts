/** Small judge inputs: a KB (TSV gazetteer), SPACCC-layout gold with texts, and a predictions TSV in the authors' layout. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildKnowledgeBase } from "../../src/kb/index.js";

export interface FixtureMention {
  readonly doc: string;
  /** The document text; the mention is `mention` at its first occurrence. */
  readonly text: string;
  readonly mention: string;
  readonly gold: string;
  readonly predicted: string;
  /** The authors' files carry a marked sentence; without it the judge builds one from the document. */
  readonly sentence?: string;
}

export interface JudgeFixture {
  readonly kb: string;
  readonly gold: string;
  readonly predictions: string;
  readonly texts: string;
}

/** Every code gets a KB concept named `name of CODE` (+ a synonym and a definition), group ENFERMEDAD. */
export async function writeJudgeFixture(dir: string, mentions: readonly FixtureMention[]): Promise<JudgeFixture> {
  const texts = join(dir, "texts");
  mkdirSync(texts, { recursive: true });
  const codes = new Set(mentions.flatMap((m) => [...m.gold.split("+"), ...m.predicted.split("+")]).filter((c) => c !== "NO_CODE"));
  const kbRows = ["code\tterm\tgroup\tpreferred\tdefinition"];
  for (const c of codes) kbRows.push(`${c}\tname of ${c}\tENFERMEDAD\t1\tdefinition of ${c}`, `${c}\tsynonym of ${c}\tENFERMEDAD\t0\t`);
  writeFileSync(join(dir, "kb.tsv"), `${kbRows.join("\n")}\n`);
  const kb = join(dir, "kb.sqlite");
  await buildKnowledgeBase(join(dir, "kb.tsv"), kb);
  const goldRows = ["filename\tlabel\tstart_span\tend_span\tspan\tcode"];
  const predRows = ["filename\tlabel\tstart_span\tend_span\tspan\tcode\tsentence\tPrediction\tPredicted_code"];
  for (const m of mentions) {
    writeFileSync(join(texts, `${m.doc}.txt`), m.text);
    const start = m.text.indexOf(m.mention);
    const end = start + m.mention.length;
    goldRows.push(`${m.doc}\tENFERMEDAD\t${start}\t${end}\t${m.mention}\t${m.gold}`);
    predRows.push(`${m.doc}\tENFERMEDAD\t${start}\t${end}\t${m.mention}\t${m.gold}\t${m.sentence ?? ""}\tname of ${m.predicted}\t${m.predicted}`);
  }
  const gold = join(dir, "gold.tsv");
  const predictions = join(dir, "pred.tsv");
  writeFileSync(gold, `${goldRows.join("\n")}\n`);
  writeFileSync(predictions, `${predRows.join("\n")}\n`);
  return { kb, gold, predictions, texts };
}

/** The predicted code our prompt states ("PREDICTED concept CODE"): the scripted server's key. */
export function predictedCodeOf(body: Record<string, unknown>): string {
  const messages = body.messages as { role: string; content: string }[];
  const user = messages.find((m) => m.role === "user")?.content ?? "";
  return /PREDICTED concept (\S+)/.exec(user)?.[1] ?? "?";
}

/** A chat reply holding a verdict. */
export const verdict = (label: string, explanation = "because"): string => JSON.stringify({ explanation, label });
