import { writeRandomSeq2SeqModel } from "./src/testing/random-seq2seq.js";
import { loadReferenceSeq2Seq } from "./src/testing/reference-mbart.js";
import { OnnxSeq2SeqLM } from "./src/lm/onnx-seq2seq-lm.js";
import { rmSync } from "node:fs";
for (const [layout, decoder] of [["syncabel", "merged"], ["syncabel", "split"], ["optimum", "merged"], ["optimum", "split"]] as const) {
  const dir = `/tmp/i19rt-${layout}-${decoder}`;
  rmSync(dir, { recursive: true, force: true });
  const info = await writeRandomSeq2SeqModel(dir, { arch: "mbart", layers: 2, dModel: 16, heads: 2, ffn: 32 }, { seed: 5, onnx: { layout, decoder } });
  const ref = loadReferenceSeq2Seq(dir);
  const lm = await OnnxSeq2SeqLM.load(dir, { threads: 1 });
  const V = info.config.vocabSize;
  const sources = [[786, 589, 673, 81, 2], [786, 23, 2], [786, 600, 601, 602, 603, 604, 605, 2]];
  const prompts = [[2, 786, 639], [2, 786, 639, 330, 23], [2, 786, 23]];
  let maxd = 0;
  const check = (lp: { logits: Float32Array; logZ: Float32Array }, row: number, src: number[], dec: number[]) => {
    const want = ref.logProbs(src, dec, { from: dec.length - 1 })[0];
    for (let t = 0; t < V; t++) maxd = Math.max(maxd, Math.abs(lp.logits[row * V + t] - lp.logZ[row] - want[t]));
  };
  let { state, logProbs } = await lm.prefill(prompts, undefined, sources);
  const seqs = prompts.map((p, i) => ({ src: sources[i], dec: [...p] }));
  seqs.forEach((s, r) => check(logProbs, r, s.src, s.dec));
  // steps: expand to beams with reordering
  let rows = seqs;
  for (let step = 0; step < 4; step++) {
    const parents: number[] = [];
    const tokens: number[] = [];
    const next: typeof rows = [];
    // each sentence's rows: choose up to 3 children from varied parents, drop sentence 1 at step 2
    const sentenceRows = new Map<number[], number[]>();
    rows.forEach((r, i) => { const l = sentenceRows.get(r.src) ?? []; l.push(i); sentenceRows.set(r.src, l); });
    for (const [src, idx] of sentenceRows) {
      if (step === 2 && src === sources[1]) continue;
      const n = src === sources[2] && step === 1 ? 2 : 3;
      for (let k = 0; k < n; k++) {
        const p = idx[(k * 2 + step) % idx.length];
        const tok = 5 + ((k * 7 + step * 3 + p) % 50);
        parents.push(p); tokens.push(tok);
        next.push({ src, dec: [...rows[p].dec, tok] });
      }
    }
    const r = await lm.step(state, Int32Array.from(parents), Int32Array.from(tokens));
    state = r.state; logProbs = r.logProbs; rows = next;
    rows.forEach((s, i) => check(logProbs, i, s.src, s.dec));
  }
  console.log(layout, decoder, "grouped", lm.groupedCrossAttention, "max |diff|", maxd.toExponential(2));
  state.dispose();
  await lm.dispose();
}
