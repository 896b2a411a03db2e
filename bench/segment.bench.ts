/**
 * Sentence segmentation and document reading at growing sizes (issue 16): time should grow like the size.
 *
 *   npm run bench:segment -- [--runs 3] [--max-mb 8] [--no-reference]
 *
 * Shapes: a single line of clinical prose (up to 2 MB), one 2 MB token without spaces (periods inside), a
 * multi-line document up to the server's 8 MiB body limit, and a PubTator file whose title is one long line
 * (read + the marked sentence of each mention, as `kb add-mentions` does). For each size: the median of `runs`
 * timings, milliseconds per MB, and per shape the ratio of ms/MB at the largest size to the smallest (1 =
 * linear; the machine is shared: read ratios, not absolute times). The previous implementation
 * (src/testing/reference-segment.ts) is timed on short lines for contrast (its ratio grows with the size).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDataset } from "../src/data/read-dataset.js";
import { trainingMentionsOf } from "../src/kb/mentions.js";
import { segmentSentences } from "../src/markup/segment.js";
import { referenceSegmentSentences } from "../src/testing/reference-segment.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? (process.argv[i + 1] as string) : fallback;
}
const RUNS = Number(arg("runs", "3"));
const MAX_MB = Number(arg("max-mb", "8"));
const WITH_REFERENCE = !process.argv.includes("--no-reference");
const MB = 2 ** 20;

const SENTENCES = [
  "Paciente de 67 años con hipertensión arterial y diabetes mellitus tipo 2.",
  "Refiere dolor torácico opresivo de 2 h. de evolución, irradiado a brazo izdo.",
  "Se realiza TC y Rx. de tórax (sin hallazgos), etc.",
  "¿Fiebre? No. Tª 36,8 ºC, TA 140/90 mmHg.",
  "Ingresa en UCI; se pauta AAS 100 mg/24 h. y control en 48 h.",
];

function prose(chars: number, lineBreakEvery = Infinity): string {
  let s = "";
  for (let i = 0; s.length < chars; i++) s += `${SENTENCES[i % SENTENCES.length]}${(i + 1) % lineBreakEvery === 0 ? "\n" : " "}`;
  return s.slice(0, chars);
}

function token(chars: number): string {
  return "fiebre.alta,TC.".repeat(Math.ceil(chars / 15)).slice(0, chars);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function time(work: () => unknown | Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    await work();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

interface Row {
  chars: number;
  ms: number;
  msPerMB: number;
  sentences?: number;
}

async function series(sizes: readonly number[], make: (chars: number) => string, run: (text: string) => number | Promise<number>): Promise<{ rows: Row[]; ratioLargestToSmallest: number }> {
  const rows: Row[] = [];
  for (const chars of sizes) {
    const text = make(chars);
    let sentences = 0;
    const ms = await time(async () => (sentences = await run(text)));
    rows.push({ chars, ms: Math.round(ms), msPerMB: Math.round((ms / (chars / MB)) * 10) / 10, sentences });
  }
  const first = rows[0] as Row;
  const last = rows[rows.length - 1] as Row;
  return { rows, ratioLargestToSmallest: Math.round((last.msPerMB / first.msPerMB) * 100) / 100 };
}

const seg = (text: string): number => segmentSentences(text, "es").length;
const upTo = (sizes: number[]): number[] => sizes.filter((s) => s <= MAX_MB * MB);

/** A PubTator document whose title is `chars` long, with a mention every ~40 kB (read, then every marked sentence). */
async function pubtatorRun(dir: string, chars: number): Promise<() => Promise<number>> {
  const title = prose(chars);
  const lines = [`1|t|${title}`, "1|a|Sin hallazgos."];
  for (let at = title.indexOf("hipertensión"); at >= 0; at = title.indexOf("hipertensión", at + 40_000)) lines.push(`1\t${at}\t${at + 12}\thipertensión\tDisease\tD006973`);
  const file = join(dir, `title-${chars}.pubtator`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return async () => trainingMentionsOf(await readDataset(file, { format: "pubtator" }), file).mentions.filter((m) => m.sentence !== "").length;
}

const dir = mkdtempSync(join(tmpdir(), "syncabel-bench-segment-"));
try {
  const lineSizes = upTo([MB / 8, MB / 4, MB / 2, MB, 2 * MB]);
  const docSizes = upTo([MB, 2 * MB, 4 * MB, 8 * MB]);
  const result: Record<string, unknown> = { runs: RUNS };
  result.singleLine = await series(lineSizes, (n) => prose(n), seg);
  result.oneToken = await series(lineSizes, token, seg);
  result.document = await series(docSizes, (n) => prose(n, 6), seg);
  const readers: Row[] = [];
  for (const chars of docSizes) {
    const run = await pubtatorRun(dir, chars);
    let sentences = 0;
    const ms = await time(async () => (sentences = await run()));
    readers.push({ chars, ms: Math.round(ms), msPerMB: Math.round((ms / (chars / MB)) * 10) / 10, sentences });
  }
  result.pubtatorTitle = { rows: readers, ratioLargestToSmallest: Math.round((readers[readers.length - 1]!.msPerMB / readers[0]!.msPerMB) * 100) / 100 };
  if (WITH_REFERENCE) {
    result.previousImplementationSingleLine = await series([12_500, 25_000, 50_000, 100_000], (n) => prose(n), (t) => referenceSegmentSentences(t).length);
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
