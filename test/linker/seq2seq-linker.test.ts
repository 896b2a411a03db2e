import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { GenerativeLinker } from "../../src/linker/generative-linker.js";
import { openLinker } from "../../src/linker/open.js";
import { RetrieveGenerateLinker, lexicalRetriever } from "../../src/linker/retrieve-generate.js";
import { loadSeq2SeqScheme } from "../../src/linker/seq2seq-prompt.js";
import { TfidfLinker } from "../../src/linker/tfidf-linker.js";
import type { Linker } from "../../src/linker/types.js";
import { NO_CODE } from "../../src/linker/types.js";
import { loadOnnxSeq2SeqLM, type OnnxSeq2SeqLM } from "../../src/lm/onnx-seq2seq-lm.js";
import { loadTokenizer, type HfTokenizer } from "../../src/lm/tokenizer.js";
import { parseMarkedSentence } from "../../src/markup/index.js";
import { loadReferenceSeq2Seq, type ReferenceSeq2Seq } from "../../src/testing/reference-mbart.js";
import { buildKbFromRows } from "../support/kb.js";
import { beamsOf, CLINICAL_KB_ROWS, DISEASES, SYMPTOMS } from "../support/linker-fixtures.js";
import { makeTinySeq2Seq } from "../support/seq2seq.js";
import { run as linkCli } from "../../src/cli/commands/link.js";
import { startLinkServer } from "../../src/server/index.js";
import type { CausalLM } from "../../src/lm/types.js";
import type { SampleResult } from "../../src/linker/types.js";
import { captureIO } from "../support/cli-io.js";

const SENTENCES = [
  "El paciente con [embolia pulmonar masiva]{ENFERMEDAD} presentó signos de dificultad respiratoria.",
  "Refiere [fiebre alta]{SINTOMA} desde hace tres días.",
  "Ingresa por [sepsis]{ENFERMEDAD} de origen urinario.",
];

/**
 * Independent expectations: the source `[src_lang] tokens </s>` (BART `<s> ... </s>`), the decoder prompt
 * `[start] [tgt_lang] tokens("[mention] es")`, and each name's tokens as the target `"[mention] es {name}"` continues
 * that prompt, then </s>; scored by the reference forward as HF beam search scores a finished hypothesis.
 */
function bruteForce(ref: ReferenceSeq2Seq, tok: HfTokenizer, prefix: number, start: number, sentence: string, names: readonly string[]): { name: string; score: number; tokens: number[] }[] {
  const s = parseMarkedSentence(sentence);
  const enc = (t: string) => tok.encode(t, { addSpecialTokens: false });
  const source = [prefix, ...enc(s.marked), tok.eosTokenId];
  const promptText = enc(`[${s.mention}] es`);
  const prompt = [start, prefix, ...promptText];
  return names
    .map((name) => {
      const target = enc(`[${s.mention}] es ${name}`);
      expect(target.slice(0, promptText.length)).toEqual(promptText);
      const cont = [...target.slice(promptText.length), tok.eosTokenId];
      const lps = ref.logProbs(source, [...prompt, ...cont].slice(0, -1), { from: prompt.length - 1 });
      const sum = cont.reduce((acc, t, j) => acc + lps[j][t], 0);
      return { name, score: sum / cont.length, tokens: cont };
    })
    .sort((a, b) => b.score - a.score);
}

function expectRanked(beams: readonly { pred_concept_name: string; beam_score: number }[], expected: readonly { name: string; score: number }[]): void {
  expect(beams.map((b) => b.pred_concept_name).sort()).toEqual(expected.map((e) => e.name).sort());
  beams.forEach((b, i) => {
    expect(Math.abs(Math.log(b.beam_score) - expected[i].score)).toBeLessThan(1e-4);
    if (b.pred_concept_name !== expected[i].name) expect(Math.abs(expected.find((e) => e.name === b.pred_concept_name)!.score - expected[i].score)).toBeLessThan(1e-5);
  });
}

for (const arch of ["mbart", "bart"] as const) {
  describe(`generative linker on a random ${arch} (Linker.open picks the seq2seq runtime from config.json)`, () => {
    let model: Awaited<ReturnType<typeof makeTinySeq2Seq>>;
    let work: string;
    let kbPath: string;
    let linker: Linker;
    let ref: ReferenceSeq2Seq;
    let tok: HfTokenizer;
    let prefix: number;

    beforeAll(async () => {
      model = await makeTinySeq2Seq(arch, {}, 21, { dModel: 32, heads: 4, ffn: 64 });
      work = mkdtempSync(join(tmpdir(), "s2s-linker-"));
      kbPath = await buildKbFromRows(work, CLINICAL_KB_ROWS);
      linker = await openLinker({ kb: kbPath, model: model.dir, threads: 2 });
      ref = loadReferenceSeq2Seq(model.dir);
      tok = await loadTokenizer(model.dir);
      prefix = arch === "mbart" ? model.info.tokenizer.languageIds.es_XX : 0;
    });
    afterAll(async () => {
      await linker?.close();
      model?.cleanup();
      rmSync(work, { recursive: true, force: true });
    });

    it("with num_beams >= names, constrained beam search returns every name of the group, scored and ranked as brute force over the trie", async () => {
      const diseases = [...new Set(DISEASES.map(([, n]) => n))];
      // mBART: three sentences in one batch (mixed lengths); BART: two.
      const sentences = arch === "mbart" ? SENTENCES : SENTENCES.slice(0, 2);
      const results = await linker.sample(sentences, { num_beams: diseases.length + 2, batch_size: 3 });
      for (const [i, sentence] of sentences.entries()) {
        const names = parseMarkedSentence(sentence).group === "SINTOMA" ? SYMPTOMS.map(([, n]) => n) : diseases;
        expectRanked(beamsOf(results[i]), bruteForce(ref, tok, prefix, 2, sentence, names));
      }
    });

    it("unconstrained output that is not a KB name gets NO_CODE", async () => {
      const [free] = await linker.sample([SENTENCES[1]], { constrained: false, num_beams: 3, max_new_tokens: 3 });
      for (const b of beamsOf(free)) expect(b.pred_concept_code).toBe(NO_CODE);
    });
  });
}

describe("seq2seq prompt, decoder start and multiple answers (mBART)", () => {
  let model: Awaited<ReturnType<typeof makeTinySeq2Seq>>;
  let work: string;
  let tok: HfTokenizer;
  let lm: OnnxSeq2SeqLM;
  let ref: ReferenceSeq2Seq;
  let es: number;

  beforeAll(async () => {
    model = await makeTinySeq2Seq("mbart", {}, 31, { dModel: 32, heads: 4, ffn: 64 });
    work = mkdtempSync(join(tmpdir(), "s2s-prompt-"));
    tok = await loadTokenizer(model.dir);
    lm = await loadOnnxSeq2SeqLM(model.dir, { threads: 2 });
    ref = loadReferenceSeq2Seq(model.dir);
    es = model.info.tokenizer.languageIds.es_XX;
  });
  afterAll(async () => {
    await lm?.dispose();
    model?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it("builds the source, the decoder prompt and the name sequences as the authors' seq2seq training did", () => {
    const enc = (t: string) => tok.encode(t, { addSpecialTokens: false });
    const sentence = parseMarkedSentence(SENTENCES[0]);
    const scheme = loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "es" });
    const { prompt, encoderInput } = scheme.inputs(sentence, 1024);
    expect(encoderInput).toEqual([es, ...enc(sentence.marked), 2]);
    expect(prompt).toEqual([2, es, ...enc("[embolia pulmonar masiva] es")]);
    expect(scheme.names.root).toEqual(enc("[x] es").slice(enc("[x]").length));
    expect(scheme.names.sequence("embolia pulmonar")).toEqual([...scheme.names.root, ...enc("[x] es embolia pulmonar").slice(enc("[x] es").length), 2]);
    // --decoder-start lang: the authors' decoder inputs [es_XX, es_XX, ...]; an id: that id.
    expect(loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "es", decoderStart: "lang" }).inputs(sentence, 1024).prompt.slice(0, 2)).toEqual([es, es]);
    expect(loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "es", decoderStart: 7 }).inputs(sentence, 1024).prompt[0]).toBe(7);
    expect(() => scheme.inputs(sentence, 5)).toThrow(expect.objectContaining({ code: "SENTENCE_TOO_LONG" }));
  });

  it("takes the language codes from tokenizer_config.json (src_lang / tgt_lang), else from the language", () => {
    const config = JSON.parse(readFileSync(join(model.dir, "tokenizer_config.json"), "utf8"));
    const fr = model.info.tokenizer.languageIds.fr_XX;
    const en = model.info.tokenizer.languageIds.en_XX;
    const sentence = parseMarkedSentence(SENTENCES[0]);
    try {
      writeFileSync(join(model.dir, "tokenizer_config.json"), JSON.stringify({ ...config, src_lang: "fr_XX", tgt_lang: "en_XX" }));
      const both = loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "es" }).inputs(sentence, 1024);
      expect([both.encoderInput![0], both.prompt[1]]).toEqual([fr, en]);
      const { src_lang: _s, tgt_lang: _t, ...none } = config;
      writeFileSync(join(model.dir, "tokenizer_config.json"), JSON.stringify(none));
      const french = loadSeq2SeqScheme(model.dir, tok, { verb: "est", language: "fr" }).inputs(sentence, 1024);
      expect([french.encoderInput![0], french.prompt[1]]).toEqual([fr, fr]);
      expect(() => loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "de" })).toThrow(/no language code/);
    } finally {
      writeFileSync(join(model.dir, "tokenizer_config.json"), JSON.stringify(config));
    }
  });

  it("the decoder start changes what is scored: --decoder-start lang scores names after [es_XX, es_XX]", async () => {
    const kbPath = await buildKbFromRows(work, CLINICAL_KB_ROWS);
    const symptoms = SYMPTOMS.map(([, n]) => n);
    for (const [start, token] of [["config", 2], ["lang", es]] as const) {
      const linker = await openLinker({ kb: kbPath, model: model.dir, threads: 1, decoderStart: start });
      const [r] = await linker.sample([SENTENCES[1]], { num_beams: 5 });
      expectRanked(beamsOf(r), bruteForce(ref, tok, es, token, SENTENCES[1], symptoms));
      await linker.close();
    }
    await expect(openLinker({ kb: kbPath, model: model.dir, decoderStart: 999_999 })).rejects.toMatchObject({ code: "LINKER_INVALID_OPTIONS" });
  });

  it("multiple answers: <SEP>-joined names, as brute force over every 1- and 2-name answer the trie admits", async () => {
    const names = ["fiebre", "tos", "cefalea"];
    const kbPath = await buildKbFromRows(mkdtempSync(join(work, "sep-")), names.map((n, i) => `30${i}\t${n}\tSINTOMA`));
    const kb = openKnowledgeBase(kbPath);
    const scheme = loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "es" });
    const linker = new GenerativeLinker({ kb, lm, tokenizer: tok, verb: "es", multipleAnswers: true, owns: false, scheme });
    const enc = (t: string) => tok.encode(t, { addSpecialTokens: false });
    const cont = (n: string) => enc(`[x] es ${n}`).slice(enc("[x] es").length);
    const sep = tok.sepTokenId!;
    // Every answer of one or two names that fits max_new_tokens (three names never fit).
    const maxNew = Math.max(...names.flatMap((a) => names.map((b) => cont(a).length + 1 + cont(b).length + 1)));
    expect(Math.min(...names.map((n) => cont(n).length)) * 3 + 3).toBeGreaterThan(maxNew);
    const answers = [...names.map((n) => [n]), ...names.flatMap((a) => names.map((b) => [a, b]))];
    const s = parseMarkedSentence(SENTENCES[1]);
    const source = [es, ...enc(s.marked), 2];
    const prompt = [2, es, ...enc(`[${s.mention}] es`)];
    const expected = answers
      .map((parts) => {
        const tokens = [...parts.flatMap((p, i) => (i === 0 ? cont(p) : [sep, ...cont(p)])), 2];
        const lps = ref.logProbs(source, [...prompt, ...tokens].slice(0, -1), { from: prompt.length - 1 });
        return { name: parts.join("<SEP>"), score: tokens.reduce((a, t, j) => a + lps[j][t], 0) / tokens.length };
      })
      .sort((a, b) => b.score - a.score);
    const [r] = await linker.sample([SENTENCES[1]], { num_beams: 40, max_new_tokens: maxNew });
    const finished = beamsOf(r).filter((b) => b.finished !== false);
    expectRanked(finished, expected);
    const composite = finished.find((b) => b.pred_concept_name === "tos<SEP>fiebre")!;
    expect(composite.pred_concept_code).toBe("301+300");
    await linker.close();
    kb.close();
  });

  it("syncabel link takes the mBART folder as it takes a Llama one, --decoder-start included", async () => {
    const kbPath = await buildKbFromRows(mkdtempSync(join(work, "cli-")), CLINICAL_KB_ROWS);
    const cli = captureIO();
    expect(await linkCli(["--kb", kbPath, "--model", model.dir, "--threads", "1", "--beams", "2", "--decoder-start", "lang", SENTENCES[1]], cli.io), cli.err()).toBe(0);
    const line = JSON.parse(cli.out().trim()) as SampleResult;
    const expected = bruteForce(ref, tok, es, es, SENTENCES[1], SYMPTOMS.map(([, n]) => n));
    expect(beamsOf(line).map((b) => b.pred_concept_name)).toEqual(expected.slice(0, 2).map((e) => e.name));
    await expect(linkCli(["--kb", kbPath, "--model", model.dir, "--decoder-start", "first", SENTENCES[1]], captureIO().io)).rejects.toMatchObject({ code: "CLI_USAGE" });
  });

  it("serve --batching continuous: sentences join a running seq2seq decode (extend) and get what they get alone", async () => {
    const kbPath = await buildKbFromRows(mkdtempSync(join(work, "serve-")), CLINICAL_KB_ROWS);
    let extended = 0;
    const counted: CausalLM = {
      encoderDecoder: true,
      vocabSize: lm.vocabSize,
      get forwardMs() {
        return lm.forwardMs;
      },
      prefill: (p, r, s) => lm.prefill(p, r, s),
      extend: (st, p, r, s) => (extended++, lm.extend(st, p, r, s)),
      step: (st, pa, t, r) => lm.step(st, pa, t, r),
      dispose: async () => undefined,
    };
    const scheme = loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "es" });
    const linker = new GenerativeLinker({ kb: openKnowledgeBase(kbPath), lm: counted, tokenizer: tok, verb: "es", scheme });
    const decode = { num_beams: 3 };
    const alone = new Map<string, SampleResult>();
    for (const s of SENTENCES) alone.set(s, (await linker.sample([s], decode))[0]);
    const server = await startLinkServer(linker, { port: 0, batching: "continuous", batchSize: 2, batchWaitMs: 0 });
    try {
      const post = (s: string) => fetch(`${server.url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sentences: [s], ...decode }) });
      const replies = await Promise.all([0, 1, 2].map(async (c) => {
        const got: [string, SampleResult][] = [];
        for (let i = 0; i < 2; i++) {
          const s = SENTENCES[(c + i) % SENTENCES.length];
          got.push([s, ((await (await post(s)).json()) as { results: SampleResult[] }).results[0]]);
        }
        return got;
      }));
      for (const [s, r] of replies.flat()) {
        expect(beamsOf(r).map((b) => b.pred_concept_name)).toEqual(beamsOf(alone.get(s)!).map((b) => b.pred_concept_name));
        beamsOf(r).forEach((b, k) => expect(b.beam_score).toBeCloseTo(beamsOf(alone.get(s)!)[k].beam_score, 4));
      }
      expect(extended).toBeGreaterThan(0);
    } finally {
      await server.close();
      await linker.close();
    }
  });

  it("retrieve-generate ranks retrieved names by their exact seq2seq score; a source too long is that sentence's error", async () => {
    const kbPath = await buildKbFromRows(mkdtempSync(join(work, "rg-")), CLINICAL_KB_ROWS);
    const kb = openKnowledgeBase(kbPath);
    const scheme = loadSeq2SeqScheme(model.dir, tok, { verb: "es", language: "es" });
    const rg = new RetrieveGenerateLinker({ kb, lm, tokenizer: tok, verb: "es", retriever: lexicalRetriever(TfidfLinker.fromKnowledgeBase(kb).index), candidates: 8, owns: false, scheme });
    const long = `Refiere [fiebre]{SINTOMA} ${"y mucho dolor ".repeat(200)}.`;
    const [r, tooLong] = await rg.sample([SENTENCES[0], long], { num_beams: 3 });
    const beams = beamsOf(r);
    const all = bruteForce(ref, tok, es, 2, SENTENCES[0], [...new Set(DISEASES.map(([, n]) => n))]);
    for (const b of beams) expect(Math.abs(Math.log(b.beam_score) - all.find((e) => e.name === b.pred_concept_name)!.score)).toBeLessThan(1e-4);
    for (let i = 1; i < beams.length; i++) expect(beams[i].beam_score).toBeLessThanOrEqual(beams[i - 1].beam_score);
    expect(tooLong.error?.code).toBe("SENTENCE_TOO_LONG");
    kb.close();
  });
});
