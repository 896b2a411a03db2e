/** An English KB and PubTator training abstracts whose short forms are defined in their documents (hybrid tests). */
import { writeFileSync } from "node:fs";

export const KB_ROWS: [string, string, string][] = [
  ["D001", "butylated hydroxyanisole", "Chemical"],
  ["D002", "bisphenol A", "Chemical"],
  ["D003", "retinyl acetate", "Chemical"],
  ["D004", "valproic acid", "Chemical"],
  ["D005", "hypertension", "Disease"],
  ["D006", "myocardial infarction", "Disease"],
  ["D007", "heart failure", "Disease"],
];

/** PubTator documents: [id, text, [mention, type, code] in order of appearance]. */
export type Doc = [string, string, [string, string, string][]];

export function writePubtator(path: string, docs: readonly Doc[]): void {
  const out: string[] = [];
  for (const [id, text, mentions] of docs) {
    out.push(`${id}|t|${text}`, `${id}|a|`);
    let from = 0;
    for (const [span, type, code] of mentions) {
      const start = text.indexOf(span, from);
      if (start < 0) throw new Error(`fixture: ${span} not in ${id}`);
      out.push([id, start, start + span.length, span, type, code].join("\t"));
      from = start + span.length;
    }
    out.push("");
  }
  writeFileSync(path, `${out.join("\n")}\n`);
}

// Training abstracts: short forms defined in the text, linked to the long form's code.
export const TRAIN: Doc[] = [
  ["1", "Effect of retinyl acetate (RA) on rats. RA was given daily.", [["retinyl acetate", "Chemical", "D003"], ["RA", "Chemical", "D003"], ["RA", "Chemical", "D003"]]],
  ["2", "Valproic acid (VPA) in epilepsy. VPA levels were high.", [["Valproic acid", "Chemical", "D004"], ["VPA", "Chemical", "D004"], ["VPA", "Chemical", "D004"]]],
  ["3", "Patients with myocardial infarction (MI) and hypertension. MI was fatal.", [["myocardial infarction", "Disease", "D006"], ["MI", "Disease", "D006"], ["hypertension", "Disease", "D005"], ["MI", "Disease", "D006"]]],
  ["4", "Bisphenol A (BPA) exposure. BPA was measured.", [["Bisphenol A", "Chemical", "D002"], ["BPA", "Chemical", "D002"], ["BPA", "Chemical", "D002"]]],
  ["5", "Congestive heart failure (CHF) after hypertension. CHF worsened.", [["heart failure", "Disease", "D007"], ["CHF", "Disease", "D007"], ["hypertension", "Disease", "D005"], ["CHF", "Disease", "D007"]]],
  ["6", "Hypertension (HT) and heart failure. HT was treated.", [["Hypertension", "Disease", "D005"], ["HT", "Disease", "D005"], ["heart failure", "Disease", "D007"], ["HT", "Disease", "D005"]]],
];

/** The reproduced case of issue 17: "BHA" is defined in its document only (never seen in training). */
export const BHA_DOCUMENT: Doc = ["9", "Butylated hydroxyanisole (BHA) and rat tumours. BHA was added to the diet.", [["Butylated hydroxyanisole", "Chemical", "D001"], ["BHA", "Chemical", "D001"], ["BHA", "Chemical", "D001"]]];
