/** A small Spanish KB and annotated training documents (SPACCC layout) for hybrid-linker tests. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "../../src/util/random.js";

export const KB_ROWS: [string, string, string][] = [
  ["100", "hipertensión arterial", "ENFERMEDAD"],
  ["101", "hipertensión pulmonar", "ENFERMEDAD"],
  ["200", "diabetes mellitus tipo 2", "ENFERMEDAD"],
  ["201", "diabetes mellitus tipo 1", "ENFERMEDAD"],
  ["500", "insuficiencia renal crónica (IRC)", "ENFERMEDAD"],
  ["501", "insuficiencia cardiaca", "ENFERMEDAD"],
  ["300", "dolor torácico", "SINTOMA"],
  ["301", "dolor abdominal", "SINTOMA"],
  ["302", "fiebre (hallazgo)", "SINTOMA"],
  ["400", "tomografía computarizada", "PROCEDIMIENTO"],
  ["401", "radiografía de tórax", "PROCEDIMIENTO"],
];

/** Training documents: text and [mention, label, code] in order of appearance. */
export const DOCS: [string, string, [string, string, string][]][] = [
  ["es-d1", "Varón con HTA y diabetes mellitus tipo II. Refiere dolor en el pecho. Se realiza TC.", [["HTA", "ENFERMEDAD", "100"], ["diabetes mellitus tipo II", "ENFERMEDAD", "200"], ["dolor en el pecho", "SINTOMA", "300"], ["TC", "PROCEDIMIENTO", "400"]]],
  ["es-d2", "Antecedentes de HTA. Presenta dolor en el pecho irradiado y fiebre. Se solicita TC.", [["HTA", "ENFERMEDAD", "100"], ["dolor en el pecho", "SINTOMA", "300"], ["fiebre", "SINTOMA", "302"], ["TC", "PROCEDIMIENTO", "400"]]],
  ["es-d3", "Mujer con IRC y DM2. Dolor abdominal difuso sin fiebre.", [["IRC", "ENFERMEDAD", "500"], ["DM2", "ENFERMEDAD", "200"], ["Dolor abdominal difuso", "SINTOMA", "301"], ["fiebre", "SINTOMA", "NO_CODE"]]],
  ["es-d4", "Paciente con HTA e insuficiencia cardiaca. Radiografía de tórax normal.", [["HTA", "ENFERMEDAD", "100"], ["insuficiencia cardiaca", "ENFERMEDAD", "501"], ["Radiografía de tórax", "PROCEDIMIENTO", "401"], ["normal", "OTRO", "999"]]],
  ["es-d5", "Hipertensión pulmonar grave y dolor en el pecho. Se realiza TC y radiografía.", [["Hipertensión pulmonar", "ENFERMEDAD", "101"], ["dolor en el pecho", "SINTOMA", "300"], ["TC", "PROCEDIMIENTO", "400"], ["radiografía", "PROCEDIMIENTO", "401+400"]]],
  ["es-d6", "Diabetes mellitus tipo I desde la infancia, con fiebre y dolor abdominal.", [["Diabetes mellitus tipo I", "ENFERMEDAD", "201"], ["fiebre", "SINTOMA", "302"], ["dolor abdominal", "SINTOMA", "301"]]],
];

/** Write DOCS as a SPACCC TSV (filename, label, start_span, end_span, span, code) with a texts/ folder. */
export function writeSpaccc(dir: string, docs = DOCS): string {
  mkdirSync(join(dir, "texts"), { recursive: true });
  const lines = ["filename\tlabel\tstart_span\tend_span\tspan\tcode\tsemantic_rel"];
  for (const [id, text, mentions] of docs) {
    writeFileSync(join(dir, "texts", `${id}.txt`), text);
    let from = 0;
    for (const [span, label, code] of mentions) {
      const start = text.indexOf(span, from);
      if (start < 0) throw new Error(`fixture: ${span} not in ${id}`);
      lines.push([id, label, start, start + span.length, span, code, "EXACT"].join("\t"));
      from = start + span.length;
    }
  }
  const tsv = join(dir, "train.tsv");
  writeFileSync(tsv, `${lines.join("\n")}\n`);
  return tsv;
}

/** Documents whose mentions are KB names, cut or misspelt versions of them (some linked right, some wrong). */
export function variantDocuments(n: number, seed: number, prefix: string): [string, string, [string, string, string][]][] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, (_, d) => {
    const picks = Array.from({ length: 4 }, () => KB_ROWS[Math.floor(random() * KB_ROWS.length)]!);
    const spans = picks.map(([, name]) => {
      const words = name.replace(/ \(.*\)/, "").split(" ");
      const r = random();
      return r < 0.4 ? words.join(" ") : r < 0.7 ? words.slice(0, Math.max(1, words.length - 1)).join(" ") : words.map((w) => w.replace(/[aeo]/, "i")).join(" ");
    });
    return [`${prefix}${d}`, spans.map((s) => `Refiere ${s} hoy.`).join(" "), picks.map(([code, , group], k) => [spans[k]!, group, code] as [string, string, string])];
  });
}
