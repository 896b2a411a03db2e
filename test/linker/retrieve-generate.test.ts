import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import type { LexicalIndex } from "../../src/lexical/lexical-index.js";
import { GenerativeLinker } from "../../src/linker/generative-linker.js";
import { openLinker } from "../../src/linker/open.js";
import { HybridLinker } from "../../src/linker/hybrid-linker.js";
import { hybridRetriever, lexicalRetriever, RetrieveGenerateLinker, type RetrieveGenerateParts } from "../../src/linker/retrieve-generate.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import { fitRetrieveGenerateWeight } from "../../src/linker/retrieve-generate-fit.js";
import { loadOrBuildLexicalIndex } from "../../src/linker/tfidf-linker.js";
import { loadOnnxCausalLM, type OnnxCausalLM } from "../../src/lm/onnx-lm.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { buildPrompt, parseMarkedSentence } from "../../src/markup/index.js";
import { loadReferenceLlama, type ReferenceLlama } from "../../src/testing/reference-llama.js";
import { buildKbFromRows } from "../support/kb.js";
import { makeTinyModel, openTinyModelKb, type TinyModelKb } from "../support/tiny-model.js";
import { beamsOf, CLINICAL_KB_ROWS } from "../support/linker-fixtures.js";

const SENTENCES = [
  "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó signos de dificultad respiratoria.",
  "Antecedentes de [diabetes]{ENFERMEDAD} mal controlada.",
  "Refiere [fiebre alta]{SINTOMA} desde hace tres días.",
  "Se diagnosticó [neumonía]{ENFERMEDAD} basal derecha.",
  "Cuadro compatible con [hepatitis aguda]{ENFERMEDAD}.",
  "Ingresa por [insuficiencia cardiaca descompensada]{ENFERMEDAD}.",
  "Ingresa por [sepsis]{ENFERMEDAD} de origen urinario.",
  "Crisis de [asma]{ENFERMEDAD} tras ejercicio.",
];

describe("retrieve-then-generate linker on a random-weight Llama", () => {
  let setup: TinyModelKb;
  let model: { dir: string };
  let kb: KnowledgeBase;
  let lm: OnnxCausalLM;
  let tok: HfTokenizer;
  let ref: ReferenceLlama;
  let index: LexicalIndex;

  beforeAll(async () => {
    setup = await openTinyModelKb(23, CLINICAL_KB_ROWS);
    ({ kb, lm, tokenizer: tok } = setup);
    model = { dir: setup.dir };
    ref = loadReferenceLlama(model.dir);
    index = loadOrBuildLexicalIndex(kb).index;
  });
  afterAll(async () => {
    await setup?.dispose();
  });

  const linker = (extra: Partial<RetrieveGenerateParts> = {}): RetrieveGenerateLinker =>
    new RetrieveGenerateLinker({ kb, lm, tokenizer: tok, verb: "es", retriever: lexicalRetriever(index), owns: false, ...extra });

  /** Distinct names of the retriever's top-k, in its order (independent of the linker). */
  function retrievedNames(sentence: string, k: number): string[] {
    const s = parseMarkedSentence(sentence);
    return [...new Set(index.search(s.mention, s.group, k).map((c) => c.name))];
  }

  /** Brute force: the reference model's length-normalised log-prob of " es {name}" + EOS after the prompt. */
  function referenceScore(sentence: string, name: string, verb = "es"): number {
    const prompt = tok.encode(buildPrompt(parseMarkedSentence(sentence), verb));
    const verbLength = tok.encode(` ${verb}`, { addSpecialTokens: false }).length;
    const target = [...tok.encode(` ${verb} ${name}`, { addSpecialTokens: false }).slice(verbLength), tok.eosTokenId];
    const lps = ref.logProbs([...prompt, ...target].slice(0, -1), { from: prompt.length - 1 });
    return target.reduce((sum, t, j) => sum + lps[j][t], 0) / target.length;
  }

  it("ranks exactly the retrieved names by their reference LM score, beam_score = exp(score)", async () => {
    const k = 6;
    const sentence = SENTENCES[0];
    const [r] = await linker({ candidates: k }).sample([sentence], { num_beams: 10 });
    const names = retrievedNames(sentence, k);
    const beams = beamsOf(r);
    expect(beams.map((b) => b.pred_concept_name).sort()).toEqual([...names].sort());
    const expected = names.map((n) => ({ n, s: referenceScore(sentence, n) })).sort((a, b) => b.s - a.s);
    beams.forEach((b, i) => {
      expect(Math.abs(Math.log(b.beam_score) - expected[i].s)).toBeLessThan(1e-4);
      expect(b.pred_concept_code).toBe(kb.lookup(b.pred_concept_name, "ENFERMEDAD")!.code);
    });
    // Fewer beams: the exact best ones (prefixes that cannot reach them are skipped, not approximated).
    const [two] = await linker({ candidates: k }).sample([sentence], { num_beams: 2 });
    expect(beamsOf(two).map((b) => b.pred_concept_name)).toEqual(beams.slice(0, 2).map((b) => b.pred_concept_name));
  });

  it("a verb of two tokens: names are scored after both, in both modes", async () => {
    const verb = "corresponde";
    expect(tok.encode(` ${verb}`, { addSpecialTokens: false })).toHaveLength(2);
    const k = 5;
    const sentence = SENTENCES[3];
    const names = retrievedNames(sentence, k);
    const expected = names.map((n) => ({ n, s: referenceScore(sentence, n, verb) })).sort((a, b) => b.s - a.s);
    for (const mode of ["score", "beam"] as const) {
      const [r] = await linker({ candidates: k, verb, mode }).sample([sentence], { num_beams: k + 1 });
      const beams = beamsOf(r);
      expect(beams.map((b) => b.pred_concept_name).sort()).toEqual([...names].sort());
      beams.forEach((b, i) => expect(Math.abs(Math.log(b.beam_score) - expected[i].s)).toBeLessThan(1e-4));
    }
  });

  it("finds the top beam of full-trie beam search whenever the retriever puts it in the top-K", async () => {
    const k = 8;
    const full = new GenerativeLinker({ kb, lm, tokenizer: tok, verb: "es", owns: false });
    // Exhaustive beam search (more beams than names) gives the exact best name of the whole group.
    const exact = await full.sample(SENTENCES, { num_beams: 40 });
    const usual = await full.sample(SENTENCES, { num_beams: 5 });
    const rg = await linker({ candidates: k }).sample(SENTENCES, { num_beams: k });
    let inTopK = 0;
    SENTENCES.forEach((s, i) => {
      const names = retrievedNames(s, k);
      const mine = beamsOf(rg[i]);
      for (const fullTop of [beamsOf(exact[i])[0], beamsOf(usual[i])[0]]) {
        if (!names.includes(fullTop.pred_concept_name)) continue;
        inTopK++;
        const found = mine.find((b) => b.pred_concept_name === fullTop.pred_concept_name)!;
        expect(Math.abs(Math.log(found.beam_score) - Math.log(fullTop.beam_score))).toBeLessThan(1e-5);
        // Nothing beam search missed can be ranked above it unless it scores higher.
        expect(Math.log(mine[0].beam_score)).toBeGreaterThanOrEqual(Math.log(fullTop.beam_score) - 1e-5);
      }
      const exactTop = beamsOf(exact[i])[0];
      // The exact best of the group, when retrieved, is the exact best of the K (unless two names tie within noise).
      if (names.includes(exactTop.pred_concept_name) && mine[0].pred_concept_name !== exactTop.pred_concept_name) {
        expect(Math.abs(Math.log(mine[0].beam_score) - Math.log(exactTop.beam_score))).toBeLessThan(1e-5);
      }
    });
    expect(inTopK).toBeGreaterThanOrEqual(4);
  });

  it("beam mode (beam search over a trie of the top-K names) gives found names the exact scores", async () => {
    const k = 8;
    const scored = await linker({ candidates: k }).sample(SENTENCES, { num_beams: k });
    const beamed = await linker({ candidates: k, mode: "beam" }).sample(SENTENCES, { num_beams: 3 });
    const exhaustive = await linker({ candidates: k, mode: "beam" }).sample(SENTENCES, { num_beams: k + 2 });
    SENTENCES.forEach((s, i) => {
      const all = beamsOf(scored[i]);
      const names = retrievedNames(s, k);
      const found = beamsOf(beamed[i]);
      expect(found.length).toBe(Math.min(3, names.length));
      for (const b of found) {
        expect(names).toContain(b.pred_concept_name);
        const same = all.find((x) => x.pred_concept_name === b.pred_concept_name)!;
        expect(Math.abs(Math.log(same.beam_score) - Math.log(b.beam_score))).toBeLessThan(1e-5);
      }
      // With more beams than names the search is exhaustive: the same ranking as scoring every name.
      expect(beamsOf(exhaustive[i]).map((b) => b.pred_concept_name)).toEqual(all.map((b) => b.pred_concept_name));
    });
  });

  it("gives a mixed batch the per-sentence results, errors for bad sentences only", async () => {
    const l = linker({ candidates: 8 });
    const batch = [SENTENCES[1], "Paciente sin marcas.", SENTENCES[2], "Paciente con [fiebre]{HALLAZGO}.", SENTENCES[5]];
    const together = await l.sample(batch, { num_beams: 4 });
    expect(together[1].error?.code).toBe("MARKUP_NO_BRACKETS");
    expect(together[3].error?.code).toBe("MARKUP_UNKNOWN_GROUP");
    for (const i of [0, 2, 4]) {
      const [alone] = await l.sample([batch[i]], { num_beams: 4 });
      expect(beamsOf(together[i]).map((b) => b.pred_concept_name)).toEqual(beamsOf(alone).map((b) => b.pred_concept_name));
      beamsOf(together[i]).forEach((b, j) => expect(Math.abs(b.beam_score - beamsOf(alone)[j].beam_score)).toBeLessThan(1e-6));
    }
    // A tight row limit (chunked candidates, re-prefilled prompts) changes nothing but float noise.
    const chunked = await linker({ candidates: 8, maxRows: 3 }).sample(batch, { num_beams: 4 });
    for (const i of [0, 2, 4]) expect(beamsOf(chunked[i]).map((b) => b.pred_concept_name)).toEqual(beamsOf(together[i]).map((b) => b.pred_concept_name));
  });

  it("a large retriever weight follows the retriever's order; bad options are refused", async () => {
    const k = 6;
    const [r] = await linker({ candidates: k, retrieverWeight: 1e6 }).sample([SENTENCES[4]], { num_beams: k });
    expect(beamsOf(r).map((b) => b.pred_concept_name)).toEqual(retrievedNames(SENTENCES[4], k));
    expect(() => linker({ candidates: 0 })).toThrow(expect.objectContaining({ code: "LINKER_INVALID_OPTIONS" }));
    await expect(linker().sample([SENTENCES[0]], { constrained: false })).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
    for (const bad of [{ max_new_tokens: 0 }, { max_prompt_tokens: 0 }, { num_beams: 1.5 }, { batch_size: 0 }]) {
      await expect(linker().sample([SENTENCES[0]], bad)).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
    }
  });

  it("leaves out names longer than max_new_tokens (beam search could not finish them)", async () => {
    const k = 8;
    const limit = 3;
    const [r] = await linker({ candidates: k }).sample([SENTENCES[1]], { num_beams: k, max_new_tokens: limit });
    const fits = retrievedNames(SENTENCES[1], k).filter((n) => tok.encode(` ${n}`, { addSpecialTokens: false }).length + 1 <= limit);
    expect(fits.length).toBeGreaterThan(0);
    expect(fits.length).toBeLessThan(retrievedNames(SENTENCES[1], k).length);
    expect(beamsOf(r).map((b) => b.pred_concept_name).sort()).toEqual([...fits].sort());
  });

  it("fits the retriever weight on training sentences; the fitted linker ranks them as fitted", async () => {
    const k = 6;
    // Gold = the retriever's best code: the random model alone rarely agrees, the retriever score fixes it.
    const training = SENTENCES.map((sentence) => {
      const s = parseMarkedSentence(sentence);
      return { sentence, gold: [index.search(s.mention, s.group, 1)[0].code] };
    });
    const fit = await fitRetrieveGenerateWeight(linker({ candidates: k }), [...training, { sentence: "sin marcas", gold: ["100"] }]);
    expect(fit.examples).toBe(SENTENCES.length);
    expect(fit.recallAt1).toBe(1);
    expect(fit.recallAt1PureLm).toBeLessThan(1);
    expect(fit.weight).toBeGreaterThan(0);
    const fitted = await linker({ candidates: k, retrieverWeight: fit.weight }).sample(training.map((t) => t.sentence), { num_beams: 1 });
    fitted.forEach((r, i) => expect(beamsOf(r)[0].pred_concept_code).toBe(training[i].gold[0]));
  });

  it("candidateScores gives every retrieved name the score sample() ranks it by, and errors per sentence", async () => {
    const l = linker({ candidates: 6 });
    const [scores, bad] = await l.candidateScores([SENTENCES[5], "Paciente sin marcas."]);
    const [r] = await l.sample([SENTENCES[5]], { num_beams: 6 });
    if (!Array.isArray(scores)) throw new Error("expected scores");
    expect(scores.map((c) => c.name)).toEqual(retrievedNames(SENTENCES[5], 6));
    for (const b of beamsOf(r)) {
      const c = scores.find((x) => x.name === b.pred_concept_name)!;
      expect(Math.abs(Math.exp(c.lmScore) - b.beam_score)).toBeLessThan(1e-9);
    }
    expect((bad as { code: string }).code).toBe("MARKUP_NO_BRACKETS");
  });

  it("opens through Linker.open with linker retrieve-generate and a model", async () => {
    const opened = await openLinker({ kb: setup.kbPath, model: model.dir, linker: "retrieve-generate", candidates: 6, threads: 1 });
    try {
      expect(opened.kind).toBe("retrieve-generate");
      const [a] = await opened.sample([SENTENCES[3]], { num_beams: 3 });
      const [b] = await linker({ candidates: 6 }).sample([SENTENCES[3]], { num_beams: 3 });
      expect(beamsOf(a).map((x) => x.pred_concept_name)).toEqual(beamsOf(b).map((x) => x.pred_concept_name));
    } finally {
      await opened.close();
    }
    await expect(openLinker({ kb: setup.kbPath, linker: "retrieve-generate" })).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
  });

  it("takes the trained hybrid linker's candidates when the KB holds one (Linker.open picks it)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-rg-hybrid-"));
    try {
      const kbPath = await buildKbFromRows(dir, CLINICAL_KB_ROWS);
      // A small PubTator training set: abbreviations and variants the KB names do not contain.
      const mentions: [string, string][] = [["HTA", "104"], ["DM2", "102"], ["neumonía", "107"], ["TBC", "118"], ["IC", "111"], ["IRC", "112"], ["asma", "109"], ["HTA", "104"], ["DM", "101"], ["sepsis", "129"]];
      const docs = mentions.map(([m, code], i) => {
        const title = `Paciente con ${m} conocida.`;
        return `${i + 1}|t|${title}\n${i + 1}|a|Sin otros antecedentes.\n${i + 1}\t13\t${13 + m.length}\t${m}\tENFERMEDAD\t${code}\n`;
      });
      writeFileSync(join(dir, "train.txt"), `${docs.join("\n")}\n`);
      await trainLinker(kbPath, { train: [{ path: join(dir, "train.txt"), format: "pubtator" }], folds: 2 });
      const kb2 = openKnowledgeBase(kbPath);
      try {
        const hybrid = HybridLinker.fromKnowledgeBase(kb2);
        const sentence = "Antecedentes de [HTA]{ENFERMEDAD} en tratamiento.";
        const parsed = parseMarkedSentence(sentence);
        const retrieved = hybridRetriever(hybrid, kb2).retrieve(parsed, 8);
        const expectedCodes = hybrid.candidates(sentence, 8).map((c) => c.code).filter((c) => !c.includes("+"));
        expect(retrieved.map((c) => c.code)).toEqual(expectedCodes.filter((c) => retrieved.some((r) => r.code === c)));
        expect(retrieved.length).toBeGreaterThan(0);
        for (const c of retrieved) expect(kb2.lookup(c.name, "ENFERMEDAD")?.codes).toContain(c.code);
        // The whole query reaches the hybrid linker: its document context (a long form here) counts.
        const withContext = { ...parsed, expansion: "insuficiencia renal", documentMentions: ["HTA", "insuficiencia renal"] };
        const scoreWith = new Map(hybrid.candidates(withContext, 8).map((c) => [c.code, c.score]));
        const scoreWithout = new Map(hybrid.candidates(parsed, 8).map((c) => [c.code, c.score]));
        const fromContext = hybridRetriever(hybrid, kb2).retrieve(withContext, 8);
        for (const c of fromContext) expect(c.score, c.code).toBe(scoreWith.get(c.code));
        expect(fromContext.some((c) => c.score !== scoreWithout.get(c.code))).toBe(true);
        const opened = await openLinker({ kb: kbPath, model: model.dir, linker: "retrieve-generate", candidates: 8, threads: 1 });
        try {
          const [viaOpen] = await opened.sample([sentence], { num_beams: 8 });
          const direct = new RetrieveGenerateLinker({ kb: kb2, lm, tokenizer: tok, verb: "es", retriever: hybridRetriever(hybrid, kb2), candidates: 8, owns: false });
          const [mine] = await direct.sample([sentence], { num_beams: 8 });
          expect(beamsOf(viaOpen).map((b) => b.pred_concept_code)).toEqual(beamsOf(mine).map((b) => b.pred_concept_code));
          expect(beamsOf(mine).map((b) => b.pred_concept_code).sort()).toEqual(retrieved.map((c) => c.code).sort());
        } finally {
          await opened.close();
        }
      } finally {
        kb2.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
