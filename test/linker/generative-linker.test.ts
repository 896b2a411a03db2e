import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildKnowledgeBase, openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { GenerativeLinker } from "../../src/linker/generative-linker.js";
import { NO_CODE, type SampleResult } from "../../src/linker/types.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { buildPrompt, parseMarkedSentence } from "../../src/markup/index.js";
import { makeTinyModel, openTinyModelKb, type TinyModelKb } from "../support/tiny-model.js";
import { buildKbFromRows } from "../support/kb.js";
import { beamsOf, CLINICAL_KB_ROWS, DISEASES, SYMPTOMS } from "../support/linker-fixtures.js";
import { referenceRows, referenceScore } from "../support/reference-decoding.js";

const SENTENCES = [
  "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó signos de dificultad respiratoria.",
  "Antecedentes de [diabetes]{ENFERMEDAD} mal controlada.",
  "Refiere [fiebre alta]{SINTOMA} desde hace tres días.",
  "Se diagnosticó [neumonía]{ENFERMEDAD} basal derecha.",
  "Presenta [dolor] torácico y [tos]{SINTOMA}.",
  "Cuadro compatible con [hepatitis aguda]{ENFERMEDAD}.",
  "Sin [cefalea]{SINTOMA} ni vómitos.",
  "Ingresa por [insuficiencia cardiaca descompensada]{ENFERMEDAD}.",
  "Ingresa por [sepsis]{ENFERMEDAD} de origen urinario.",
];

describe("generative linker on a random-weight Llama", () => {
  let setup: TinyModelKb;
  let model: { dir: string };
  let kb: KnowledgeBase;
  let lm: OnnxCausalLM;
  let tok: HfTokenizer;
  let ref: ReferenceLlama;
  let linker: GenerativeLinker;

  beforeAll(async () => {
    setup = await openTinyModelKb(23, CLINICAL_KB_ROWS);
    ({ kb, lm, tokenizer: tok } = setup);
    model = { dir: setup.dir };
    ref = loadReferenceLlama(model.dir);
    linker = new GenerativeLinker({ kb, lm, tokenizer: tok, verb: "es", owns: false });
  });
  afterAll(async () => {
    await setup?.dispose();
  });

  /**
   * Brute force: the reference model's length-normalised log-prob of " es {name}" + EOS after the prompt, name by
   * name (the reference rows are memoised per token prefix, so names that share a prefix share its rows).
   */
  function bruteForce(sentence: string, names: readonly string[], verb = "es"): { name: string; score: number }[] {
    const rows = referenceRows(ref, tok.encode(buildPrompt(parseMarkedSentence(sentence), verb)));
    const verbTokens = tok.encode(` ${verb}`, { addSpecialTokens: false }).length;
    return names
      .map((name) => {
        const target = [...tok.encode(` ${verb} ${name}`, { addSpecialTokens: false }).slice(verbTokens), tok.eosTokenId];
        return { name, score: referenceScore(rows, target) };
      })
      .sort((a, b) => b.score - a.score);
  }

  it("with num_beams >= names, returns every name of the group ranked as brute-force scoring ranks them", async () => {
    const names = [...new Set(DISEASES.map(([, n]) => n))];
    const sentence = SENTENCES[0];
    const [result] = await linker.sample([sentence], { num_beams: names.length + 2 });
    const beams = beamsOf(result);
    const expected = bruteForce(sentence, names);
    expect(beams.map((b) => b.pred_concept_name).sort()).toEqual([...names].sort());
    beams.forEach((b, i) => {
      expect(Math.abs(Math.log(b.beam_score) - expected[i].score)).toBeLessThan(1e-4);
      // Same rank, unless two names score within numerical noise of each other.
      if (b.pred_concept_name !== expected[i].name) {
        const other = expected.find((e) => e.name === b.pred_concept_name)!;
        expect(Math.abs(other.score - expected[i].score)).toBeLessThan(1e-5);
      }
    });
    for (let i = 1; i < beams.length; i++) expect(beams[i].beam_score).toBeLessThanOrEqual(beams[i - 1].beam_score);
  });

  it("a verb the tokenizer splits into two tokens links every sentence, ranked as brute-force scoring ranks the names", async () => {
    const verb = "corresponde";
    expect(tok.encode(` ${verb}`, { addSpecialTokens: false })).toHaveLength(2);
    const twoTokens = new GenerativeLinker({ kb, lm, tokenizer: tok, verb, owns: false });
    const names = [...new Set(DISEASES.map(([, n]) => n))];
    const results = await twoTokens.sample([SENTENCES[0], SENTENCES[2], SENTENCES[3]], { num_beams: names.length + 2 });
    for (const [i, sentence] of [SENTENCES[0], SENTENCES[2], SENTENCES[3]].entries()) {
      const groupNames = parseMarkedSentence(sentence).group === "SINTOMA" ? SYMPTOMS.map(([, n]) => n) : names;
      const expected = bruteForce(sentence, groupNames, verb);
      const beams = beamsOf(results[i]);
      expect(beams.map((b) => b.pred_concept_name).sort()).toEqual([...groupNames].sort());
      beams.forEach((b, j) => {
        expect(Math.abs(Math.log(b.beam_score) - expected[j].score)).toBeLessThan(1e-4);
        if (b.pred_concept_name !== expected[j].name) {
          const other = expected.find((e) => e.name === b.pred_concept_name)!;
          expect(Math.abs(other.score - expected[j].score)).toBeLessThan(1e-5);
        }
      });
    }
  });

  it("returns fewer beams than asked when the group has fewer names, never -inf padding", async () => {
    const [result] = await linker.sample([SENTENCES[2]], { num_beams: 8 });
    const beams = beamsOf(result);
    expect(beams.map((b) => b.pred_concept_name).sort()).toEqual(SYMPTOMS.map(([, n]) => n).sort());
    for (const b of beams) expect(b.beam_score).toBeGreaterThan(0);
  });

  it("constrained outputs are KB names of the mention's group mapped to their codes", async () => {
    const results = await linker.sample(SENTENCES, { num_beams: 5 });
    const codesOf = new Map<string, string[]>();
    for (const [c, n] of [...DISEASES, ...SYMPTOMS]) codesOf.set(n, [...(codesOf.get(n) ?? []), c]);
    results.forEach((r, i) => {
      if (i === 4) return; // the malformed sentence
      const group = parseMarkedSentence(SENTENCES[i]).group;
      const names = new Set((group === "SINTOMA" ? SYMPTOMS : DISEASES).map(([, n]) => n));
      const beams = beamsOf(r);
      expect(beams.length).toBe(Math.min(5, names.size));
      for (const b of beams) {
        expect(names.has(b.pred_concept_name)).toBe(true);
        expect(b.semantic_group).toBe(group);
        expect([...b.pred_concept_codes].sort()).toEqual(codesOf.get(b.pred_concept_name)!.sort());
        expect(b.pred_concept_codes).toContain(b.pred_concept_code);
        expect(b.beam_score).toBeGreaterThan(0);
        expect(b.beam_score).toBeLessThanOrEqual(1);
      }
    });
    // "sepsis" has codes 129 and 130: the reported code is the deterministic lowest.
    expect(kb.lookup("sepsis", "ENFERMEDAD")?.code).toBe("129");
  });

  it("unconstrained output that is not a KB name gets NO_CODE; one that is gets its code", async () => {
    const [free] = await linker.sample([SENTENCES[1]], { constrained: false, num_beams: 3, max_new_tokens: 3 });
    const beams = beamsOf(free);
    expect(beams.length).toBeGreaterThan(0);
    // Expected codes from the KB rows themselves: a disease name's lowest code, NO_CODE for any other text.
    const rowCode = new Map([...DISEASES].reverse().map(([c, n]) => [n, c]));
    for (const b of beams) expect(b.pred_concept_code).toBe(rowCode.get(b.pred_concept_name) ?? NO_CODE);
    expect(beams.some((b) => b.pred_concept_code === NO_CODE)).toBe(true);
    // A KB whose one name is a generated text (one the KB's text cleaning leaves as it is) maps it to its code.
    const top = beams.map((b) => b.pred_concept_name).find((n) => n !== "NO_PREDICTION" && !/[[\]{}\u00a0]/.test(n));
    if (top === undefined) throw new Error("no generated text usable as a KB name");
    const dir = mkdtempSync(join(tmpdir(), "syncabel-kb2-"));
    try {
      writeFileSync(join(dir, "t.jsonl"), `${JSON.stringify({ code: "999", term: top, group: "ENFERMEDAD" })}\n`);
      await buildKnowledgeBase(join(dir, "t.jsonl"), join(dir, "kb.sqlite"));
      const kb2 = openKnowledgeBase(join(dir, "kb.sqlite"));
      const other = new GenerativeLinker({ kb: kb2, lm, tokenizer: tok, verb: "es", owns: false });
      const [again] = await other.sample([SENTENCES[1]], { constrained: false, num_beams: 3, max_new_tokens: 3 });
      const found = beamsOf(again).find((b) => b.pred_concept_name === top);
      expect(found?.pred_concept_code).toBe("999");
      expect(found?.pred_concept_codes).toEqual(["999"]);
      kb2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("unconstrained greedy search (1 beam) follows the reference model's argmax", async () => {
    const [r] = await linker.sample([SENTENCES[3]], { constrained: false, num_beams: 1, max_new_tokens: 4 });
    const prompt = tok.encode(buildPrompt(parseMarkedSentence(SENTENCES[3]), "es"));
    const seq = [...prompt];
    for (let t = 0; t < 4; t++) {
      const lp = ref.logProbs(seq, { from: seq.length - 1 })[0];
      let best = 0;
      for (let i = 1; i < lp.length; i++) if (lp[i] > lp[best]) best = i;
      if (best === tok.eosTokenId) break;
      seq.push(best);
    }
    expect(beamsOf(r)[0].pred_concept_name).toBe(tok.decode(seq.slice(prompt.length), { skipSpecialTokens: true }).trim());
  });

  it("stops at any end-of-sequence id of the generation config (unconstrained)", async () => {
    const prompt = tok.encode(buildPrompt(parseMarkedSentence(SENTENCES[3]), "es"));
    const seq = [...prompt];
    for (let t = 0; t < 3; t++) {
      const lp = ref.logProbs(seq, { from: seq.length - 1 })[0];
      let best = 0;
      for (let i = 1; i < lp.length; i++) if (lp[i] > lp[best]) best = i;
      seq.push(best);
    }
    const [t1, t2] = seq.slice(prompt.length);
    expect([t1, t2]).not.toContain(tok.eosTokenId);
    // Declaring the second greedy token an end-of-sequence id ends the greedy hypothesis right before it.
    const withStop = new GenerativeLinker({ kb, lm, tokenizer: tok, verb: "es", eosTokenIds: [tok.eosTokenId, t2], owns: false });
    const [r] = await withStop.sample([SENTENCES[3]], { constrained: false, num_beams: 1, max_new_tokens: 3 });
    // The authors' string keeps the end token's text when it is not a declared special token.
    expect(beamsOf(r)[0].pred_concept_name).toBe(tok.decode([t1, t2]).trim());
    expect(beamsOf(r)[0].finished).toBeUndefined();
    const [plain] = await linker.sample([SENTENCES[3]], { constrained: false, num_beams: 1, max_new_tokens: 3 });
    expect(beamsOf(plain)[0].pred_concept_name).toBe(tok.decode(seq.slice(prompt.length)).trim());
    expect(beamsOf(plain)[0].finished).toBe(false);
  });

  it("gives identical results for batch sizes 1 and 8 and across runs", async () => {
    const a = await linker.sample(SENTENCES, { num_beams: 4, batch_size: 1 });
    const b = await linker.sample(SENTENCES, { num_beams: 4, batch_size: 8 });
    const c = await linker.sample(SENTENCES, { num_beams: 4, batch_size: 8 });
    const names = (rs: SampleResult[]) => rs.map((r) => (r.error ? r.error.code : r.beams.map((x) => `${x.pred_concept_name}|${x.pred_concept_code}`)));
    expect(names(b)).toEqual(names(a));
    expect(c).toEqual(b);
    a.forEach((r, i) => r.beams?.forEach((x, j) => expect(Math.abs(x.beam_score - b[i].beams![j].beam_score)).toBeLessThan(1e-6)));
  });

  it("concurrent sample() calls give the same results as one after the other", async () => {
    const a = await linker.sample(SENTENCES.slice(0, 3), { num_beams: 3 });
    const b = await linker.sample(SENTENCES.slice(3, 6), { num_beams: 3 });
    const [a2, b2] = await Promise.all([linker.sample(SENTENCES.slice(0, 3), { num_beams: 3 }), linker.sample(SENTENCES.slice(3, 6), { num_beams: 3 })]);
    expect(a2).toEqual(a);
    expect(b2).toEqual(b);
  });

  it("reports each malformed sentence with its own error and links the rest of the batch", async () => {
    const bad: [string, string][] = [
      ["Paciente sin marcas.", "MARKUP_NO_BRACKETS"],
      ["Paciente con [fiebre] alta.", "MARKUP_NO_GROUP"],
      ["Paciente con [fiebre alta{SINTOMA}.", "MARKUP_UNBALANCED"],
      ["Paciente con [fiebre [alta]]{SINTOMA}.", "MARKUP_NESTED"],
      ["Paciente con [ ]{SINTOMA}.", "MARKUP_EMPTY_MENTION"],
      ["Paciente con [fiebre]{HALLAZGO}.", "MARKUP_UNKNOWN_GROUP"],
    ];
    const batch = [SENTENCES[1], ...bad.map(([s]) => s), SENTENCES[6]];
    const results = await linker.sample(batch, { num_beams: 2, batch_size: 3 });
    expect(results).toHaveLength(batch.length);
    expect(beamsOf(results[0]).length).toBe(2);
    expect(beamsOf(results[results.length - 1]).length).toBe(2);
    bad.forEach(([s, code], i) => {
      const r = results[i + 1];
      expect(r.sentence).toBe(s);
      expect(r.error?.code).toBe(code);
      expect(r.error?.message).toContain(s.slice(0, 12));
    });
  });

  it("refuses a prompt longer than max_prompt_tokens for that sentence only", async () => {
    const length = tok.encode(buildPrompt(parseMarkedSentence(SENTENCES[0]), "es")).length;
    const shorter = tok.encode(buildPrompt(parseMarkedSentence(SENTENCES[6]), "es")).length;
    expect(shorter).toBeLessThan(length);
    const atLimit = await linker.sample([SENTENCES[0], SENTENCES[6]], { num_beams: 2, max_prompt_tokens: length });
    expect(atLimit.every((r) => r.beams !== undefined)).toBe(true);
    const below = await linker.sample([SENTENCES[0], SENTENCES[6]], { num_beams: 2, max_prompt_tokens: length - 1 });
    expect(below[0].error?.code).toBe("SENTENCE_TOO_LONG");
    expect(below[0].error?.message).toContain(String(length));
    // The other sentence is linked as before (alone now, so scores may differ by float noise only).
    expect(below[1].beams?.map((b) => b.pred_concept_name)).toEqual(atLimit[1].beams?.map((b) => b.pred_concept_name));
    below[1].beams?.forEach((b, i) => expect(Math.abs(b.beam_score - atLimit[1].beams![i].beam_score)).toBeLessThan(1e-6));
  });

  it("multiple-answers mode: names joined with <SEP>, each part's code joined with + as the authors do (codes from the KB rows)", async () => {
    const multi = new GenerativeLinker({ kb, lm, tokenizer: tok, verb: "es", multipleAnswers: true, owns: false });
    const [r] = await multi.sample([SENTENCES[0]], { num_beams: 6, max_new_tokens: 24 });
    const codesOf = new Map<string, string[]>();
    for (const [c, n] of DISEASES) codesOf.set(n, [...(codesOf.get(n) ?? []), c].sort());
    const beams = beamsOf(r);
    expect(beams.some((b) => b.pred_concept_name.includes("<SEP>"))).toBe(true);
    // Some answer names one concept twice: its code string repeats it (the deduplicated list does not).
    expect(beams.some((b) => new Set(b.pred_concept_name.split("<SEP>")).size < b.pred_concept_name.split("<SEP>").length)).toBe(true);
    for (const b of beams) {
      const parts = b.pred_concept_name.split("<SEP>");
      const complete = b.finished === false ? parts.slice(0, -1) : parts;
      for (const p of complete) expect(codesOf.has(p), p).toBe(true);
      // A beam cut by max_new_tokens ends inside a name.
      if (b.finished === false) expect([...codesOf.keys()].some((n) => n.startsWith(parts[parts.length - 1]))).toBe(true);
      // The authors' string: every part's (lowest) code, repeats and NO_CODE parts kept; the list: all codes, once.
      expect(b.pred_concept_code).toBe(parts.map((p) => codesOf.get(p)?.[0] ?? NO_CODE).join("+"));
      expect(b.pred_concept_codes).toEqual([...new Set(parts.flatMap((p) => codesOf.get(p) ?? []))]);
    }
    // Ranked by score, beams cut by max_new_tokens among the others (transformers' order).
    for (let i = 1; i < beams.length; i++) expect(beams[i].beam_score).toBeLessThanOrEqual(beams[i - 1].beam_score);
  });
});
