import type { Beam, SampleResult } from "../../src/linker/types.js";

/** ~30 disease names (some prefixes of others, one name shared by two codes, 129 and 130) as [code, name]. */
export const DISEASES: [string, string][] = [
  ["100", "diabetes"], ["101", "diabetes mellitus"], ["102", "diabetes mellitus tipo 2"], ["103", "diabetes insípida"],
  ["104", "hipertensión arterial"], ["105", "hipertensión pulmonar"], ["106", "embolia pulmonar"], ["107", "neumonía"],
  ["108", "neumonía bacteriana"], ["109", "asma"], ["110", "asma bronquial"], ["111", "insuficiencia cardiaca"],
  ["112", "insuficiencia renal"], ["113", "cirrosis hepática"], ["114", "hepatitis"], ["115", "apendicitis aguda"],
  ["116", "anemia"], ["117", "anemia ferropénica"], ["118", "tuberculosis"], ["119", "gripe"], ["120", "migraña"],
  ["121", "epilepsia"], ["122", "obesidad"], ["123", "artritis reumatoide"], ["124", "lupus"], ["125", "melanoma"],
  ["126", "linfoma"], ["127", "gastritis"], ["128", "pancreatitis"], ["129", "sepsis"], ["130", "sepsis"],
];
/** A few symptoms as [code, name]. */
export const SYMPTOMS: [string, string][] = [["200", "fiebre"], ["201", "tos"], ["202", "cefalea"]];

/** KB rows (`code<TAB>term<TAB>group`) of DISEASES (ENFERMEDAD) and SYMPTOMS (SINTOMA). */
export const CLINICAL_KB_ROWS: readonly string[] = [...DISEASES.map(([c, n]) => `${c}\t${n}\tENFERMEDAD`), ...SYMPTOMS.map(([c, n]) => `${c}\t${n}\tSINTOMA`)];

/** The beams of a result, failing the test on a sentence error. */
export function beamsOf(r: SampleResult): readonly Beam[] {
  if (r.error) throw new Error(`unexpected error: ${r.error.message}`);
  return r.beams;
}
