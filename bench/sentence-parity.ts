/**
 * Sentence-builder parity with the authors' marked sentences: for every row of the published SPACCC
 * predictions file, rebuild the marked sentence from `texts/` + offsets and compare it with the
 * `sentence` column. Prints JSON: rows, exact matches, parity, and the differences by category.
 * Usage: npx tsx bench/sentence-parity.ts [PREDICTIONS.tsv] [--examples N]
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { quotedTsvFields } from "../src/data/tsv.js";
import { cleanText } from "../src/markup/clean.js";
import { parseMarkedSentence } from "../src/markup/marked-sentence.js";
import { buildMarkedSentence, SegmentationCache } from "../src/markup/sentence-builder.js";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const exIdx = args.indexOf("--examples");
const examplesPer = exIdx >= 0 ? Number(args[exIdx + 1]) : 2;
const positional = args.filter((a, i) => !a.startsWith("--") && (exIdx < 0 || i !== exIdx + 1));
const file = positional[0] ?? join(here, "../../shared/data/spaccc/predictions/Llama_guided_with_SynCABEL.test-dev.tsv");
if (!existsSync(file)) {
  console.error(`sentence-parity: ${file} not found (the shared data folder is absent); nothing to measure`);
  process.exit(0);
}
const textsDir = join(dirname(file), "../texts");

/** Why our sentence differs from the authors': judged on the plain (unmarked) sentences in the text. */
function categorise(text: string, ours: { start: number; end: number }, theirPlain: string, theirStart: number): string {
  if (text.slice(theirStart, theirStart + theirPlain.length) !== theirPlain) return "authors' sentence is not the document text at the mention's offsets";
  const theirEnd = theirStart + theirPlain.length;
  const startRel = ours.start < theirStart ? "we start earlier (authors split before)" : ours.start > theirStart ? "we start later (we split before)" : "";
  const endRel = ours.end > theirEnd ? "we end later (authors split after)" : ours.end < theirEnd ? "we end earlier (we split after)" : "";
  if (startRel === "" && endRel === "") return "same span, different markup";
  return [startRel, endRel].filter(Boolean).join(" + ");
}

function boundaryContext(text: string, at: number): string {
  return `${text.slice(Math.max(0, at - 25), at)}|${text.slice(at, at + 15)}`;
}

const lines = readFileSync(file, "utf8").split(/\r?\n/).filter((l) => l !== "");
const head = quotedTsvFields(lines[0] as string);
const col = (name: string): number => {
  const i = head.indexOf(name);
  if (i < 0) throw new Error(`${file}: no column ${name}`);
  return i;
};
const [cFile, cLabel, cStart, cEnd, cSentence] = ["filename", "label", "start_span", "end_span", "sentence"].map(col) as [number, number, number, number, number];
const cache = new SegmentationCache();
const texts = new Map<string, string>();
let rows = 0;
let exact = 0;
const categories = new Map<string, { count: number; examples: string[] }>();
for (const line of lines.slice(1)) {
  const f = quotedTsvFields(line);
  const id = f[cFile] as string;
  let text = texts.get(id);
  if (text === undefined) {
    text = readFileSync(join(textsDir, `${id}.txt`), "utf8");
    texts.set(id, text);
  }
  const start = Number(f[cStart]);
  const end = Number(f[cEnd]);
  const theirs = f[cSentence] as string;
  rows++;
  const built = buildMarkedSentence({ id, text, language: "es" }, { label: f[cLabel] as string, fragments: [{ start, end }] }, { cache });
  if (built.sentence === theirs) {
    exact++;
    continue;
  }
  const parsed = parseMarkedSentence(theirs);
  const theirStart = start - (parsed.fragments[0]?.start ?? 0);
  const cleaned = cleanText(text);
  const cat = categorise(cleaned, built, parsed.plain, theirStart);
  const entry = categories.get(cat) ?? { count: 0, examples: [] };
  entry.count++;
  if (entry.examples.length < examplesPer) {
    const theirEnd = theirStart + parsed.plain.length;
    const at = cat.includes("start") ? (cat.includes("earlier") ? theirStart : built.start) : cat.includes("end") ? (cat.includes("later") ? theirEnd : built.end) : start;
    entry.examples.push(`${id}@${start}: ${JSON.stringify(boundaryContext(cleaned, at))}`);
  }
  categories.set(cat, entry);
}
const differences = [...categories.entries()].sort((a, b) => b[1].count - a[1].count).map(([category, v]) => ({ category, count: v.count, examples: v.examples }));
console.log(JSON.stringify({ file, rows, exact, parity: rows === 0 ? 0 : Number((exact / rows).toFixed(4)), differences }, null, 2));
