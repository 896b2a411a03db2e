import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { quotedTsvFields } from "../../src/data/tsv.js";
import { buildMarkedSentence, SegmentationCache } from "../../src/markup/sentence-builder.js";
import { segmentSentences } from "../../src/markup/segment.js";

/** Mark `needle` (k-th occurrence) in `text` and build its sentence. */
function build(text: string, needle: string, label = "SINTOMA", k = 0) {
  let s = -1;
  for (let i = 0; i <= k; i++) s = text.indexOf(needle, s + 1);
  if (s < 0) throw new Error("fixture");
  return buildMarkedSentence({ id: text, text, language: "es" }, { label, fragments: [{ start: s, end: s + needle.length }] }).sentence;
}

function sentences(text: string): string[] {
  return segmentSentences(text, "es").map((s) => text.slice(s.start, s.end));
}

describe("segmentSentences", () => {
  it("splits at sentence ends and line breaks, trims, drops empty lines", () => {
    expect(sentences("Ingresa con fiebre. Se pauta paracetamol.\n\n  Evolución favorable\nAlta a domicilio.")).toEqual([
      "Ingresa con fiebre.",
      "Se pauta paracetamol.",
      "Evolución favorable",
      "Alta a domicilio.",
    ]);
  });
  it("Punkt-like rules: a period before a lower-case word ends a sentence, an initial does not", () => {
    expect(sentences("Tumoración de 5x3x3 cm. en la región frontal.")).toEqual(["Tumoración de 5x3x3 cm.", "en la región frontal."]);
    expect(sentences("Suplementos de vitamina D. No refería hábitos tóxicos.")).toEqual(["Suplementos de vitamina D. No refería hábitos tóxicos."]);
    expect(sentences("Calcitriol i.v.) y furosemida. Mejoró.")).toEqual(["Calcitriol i.v.)", "y furosemida.", "Mejoró."]);
  });
});

describe("buildMarkedSentence", () => {
  it("marks the mention inside its own sentence only", () => {
    const text = "Paciente de 40 años. Presenta fiebre alta y tos. Sin otros síntomas.";
    expect(build(text, "fiebre alta")).toBe("Presenta [fiebre alta]{SINTOMA} y tos.");
    expect(build(text, "Paciente", "X")).toBe("[Paciente]{X} de 40 años.");
  });
  it("line breaks end sentences", () => {
    expect(build("Antecedentes\nDolor abdominal sin fiebre\nExploración normal", "Dolor abdominal")).toBe("[Dolor abdominal]{SINTOMA} sin fiebre");
  });
  it("never splits inside a mention: the covering sentences are joined", () => {
    const text = "Vive solo. Refiere dolor tipo A. Sigue en casa. Fin."; // "A." is an initial: no break
    const t2 = "Tiene cefalea. Intensa desde ayer. Fin.";
    expect(build(t2, "cefalea. Intensa")).toBe("Tiene [cefalea. Intensa]{SINTOMA} desde ayer.");
    expect(build(text, "dolor")).toBe("Refiere [dolor]{SINTOMA} tipo A. Sigue en casa.");
  });
  it("cleans brackets and non-breaking spaces, and marks every fragment of a discontinuous mention", () => {
    const text = "Dolor [intenso] en\u00a0el brazo {izquierdo}.";
    const s = text.indexOf("brazo");
    const b = buildMarkedSentence({ id: "d", text }, { label: "SINTOMA", fragments: [{ start: 0, end: 5 }, { start: s, end: s + 5 }] });
    expect(b.sentence).toBe("[Dolor] (intenso) en el [brazo]{SINTOMA} (izquierdo).");
    expect(b.mention).toBe("Dolor brazo");
  });
  it("rejects offsets outside the text", () => {
    expect(() => buildMarkedSentence({ id: "d", text: "abc" }, { label: "X", fragments: [{ start: 1, end: 9 }] })).toThrow(/do not fit document d/);
  });
  it("the cache is keyed by document text, not only id", () => {
    const cache = new SegmentationCache();
    const a = buildMarkedSentence({ id: "same", text: "Uno. Dos tres." }, { label: "X", fragments: [{ start: 5, end: 8 }] }, { cache });
    const b = buildMarkedSentence({ id: "same", text: "Cuatro. Dos." }, { label: "X", fragments: [{ start: 8, end: 11 }] }, { cache });
    expect([a.sentence, b.sentence]).toEqual(["[Dos]{X} tres.", "[Dos]{X}."]);
  });
});

const PRED = fileURLToPath(new URL("../../../shared/data/spaccc/predictions/Llama_guided_with_SynCABEL.test-dev.tsv", import.meta.url));
describe.skipIf(!existsSync(PRED))("parity with the authors' marked sentences (../shared/data)", () => {
  it("reproduces at least 97 % of the `sentence` column from texts/ + offsets", () => {
    const lines = readFileSync(PRED, "utf8").split(/\r?\n/).filter((l) => l !== "");
    const head = quotedTsvFields(lines[0] as string);
    const c = (n: string) => head.indexOf(n);
    const texts = new Map<string, string>();
    const cache = new SegmentationCache();
    let same = 0;
    for (const line of lines.slice(1)) {
      const f = quotedTsvFields(line);
      const id = f[c("filename")] as string;
      const text = texts.get(id) ?? readFileSync(join(PRED, "../../texts", `${id}.txt`), "utf8");
      texts.set(id, text);
      const built = buildMarkedSentence({ id, text, language: "es" }, { label: f[c("label")] as string, fragments: [{ start: Number(f[c("start_span")]), end: Number(f[c("end_span")]) }] }, { cache });
      if (built.sentence === f[c("sentence")]) same++;
    }
    expect(lines.length - 1).toBe(4058);
    expect(same / (lines.length - 1)).toBeGreaterThanOrEqual(0.97);
  });
});
