import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WriteOnnxOptions } from "../../src/convert/onnx-llama-graph.js";
import { writeRandomModel, type RandomModelShape } from "../../src/testing/random-model.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { buildKbFromRows, type TermRow } from "./kb.js";

/** A tiny random Llama (real Llama-3 tokenizer + <SEP>) in a fresh temp folder; `cleanup` removes it. */
export async function makeTinyModel(shape: Partial<RandomModelShape> = {}, onnx: WriteOnnxOptions = {}): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-test-model-"));
  await writeRandomModel(dir, { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, seed: 11, ...shape }, onnx);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A tiny random model, its ONNX session and tokenizer, and a KB built from `rows`, with one cleanup for all. */
export interface TinyModelKb {
  readonly dir: string;
  readonly kbPath: string;
  readonly kb: KnowledgeBase;
  readonly lm: OnnxCausalLM;
  readonly tokenizer: HfTokenizer;
  dispose(): Promise<void>;
}

export async function openTinyModelKb(seed: number, rows: readonly TermRow[], threads = 2): Promise<TinyModelKb> {
  const model = await makeTinyModel({ seed });
  const work = mkdtempSync(join(tmpdir(), "syncabel-test-kb-"));
  const kbPath = await buildKbFromRows(work, rows);
  const kb = openKnowledgeBase(kbPath);
  const lm = await loadOnnxCausalLM(model.dir, { threads });
  const tokenizer = await loadTokenizer(model.dir);
  return {
    dir: model.dir,
    kbPath,
    kb,
    lm,
    tokenizer,
    async dispose() {
      await lm.dispose();
      kb.close();
      model.cleanup();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
