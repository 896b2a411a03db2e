import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";
import { abbreviationMap, bestLongForm, expansionOf, findAbbreviations } from "../../src/lexical/abbreviations.js";

const DATA = new URL("../../../shared/data/", import.meta.url).pathname;
const BC5CDR_DEV = `${DATA}bc5cdr/dev_corpus.txt`;

describe("Schwartz & Hearst abbreviation detection", () => {
  // Sentences quoted from the corpora (BC5CDR dev 3131282, 6436733; SPACCC test-dev); pairs checked by hand.
  it("finds 'long form (SF)' pairs with their offsets", () => {
    const text = "The potential modifying effect of retinyl acetate (RA) on butylated hydroxyanisole (BHA)-induced rat forestomach tumorigenesis was examined.";
    const found = findAbbreviations(text);
    expect(found.map((a) => [a.short, a.long])).toEqual([
      ["RA", "retinyl acetate"],
      ["BHA", "butylated hydroxyanisole"],
    ]);
    for (const a of found) {
      expect(text.slice(a.shortStart, a.shortStart + a.short.length)).toBe(a.short);
      expect(text.slice(a.longStart, a.longStart + a.long.length)).toBe(a.long);
    }
  });

  it("cuts the long form to the shortest span (first SF letter at a word start)", () => {
    expect(abbreviationMap("Valproic acid (VPA) was given to 24 epileptic patients.").get("VPA")).toBe("Valproic acid");
    expect(abbreviationMap("La agudeza visual máxima en el ojo derecho (OD) era de 1 y en el OI de 0,125.").get("OD")).toBe("ojo derecho");
    // A chemical formula is no abbreviation of its name: Schwartz & Hearst need every SF character in the LF.
    expect(abbreviationMap(" Ammonia (NH3) was higher in patients who complained of drowsiness.").get("NH3")).toBeUndefined();
    expect(
      abbreviationMap("in four 1-methyl-4-phenyl-1,2,3,6-tetrahydropyridine (MPTP)-exposed cynomolgus monkeys").get("MPTP"),
    ).toBe("1-methyl-4-phenyl-1,2,3,6-tetrahydropyridine");
    expect(bestLongForm("HTA", "paciente con hipertensión arterial")).toBe("hipertensión arterial");
    expect(bestLongForm("HTA", "presión arterial alta")).toBeUndefined(); // no word starts with h
    expect(bestLongForm("HTA", "paciente con historia de tensión arterial")).toBe("historia de tensión arterial");
  });

  it("finds 'SF (long form)' pairs and ignores parentheses that are no definitions", () => {
    const text = "elevation of intracellular cAMP (cyclic adenosine 3',5'-monophosphate). A fourth group was pair fed (food restricted) with 2% BHA by weight (w/v) for 52 weeks (n = 12).";
    expect(findAbbreviations(text).map((a) => [a.short, a.long])).toEqual([["cAMP", "cyclic adenosine 3',5'-monophosphate"]]);
  });

  it("never lets a long form cross a sentence end, and keeps the first definition", () => {
    expect(abbreviationMap("Patients were treated. (PT) was noted.").size).toBe(0);
    const map = abbreviationMap("Myocardial infarction (MI) is common. Mitral insufficiency (MI) too.");
    expect(map.get("MI")).toBe("Myocardial infarction");
    expect(expansionOf(abbreviationMap("non-steroidal anti-inflammatory drug (NSAID) use"), "NSAIDs")).toBe("non-steroidal anti-inflammatory drug");
    expect(expansionOf(map, "MIs ")).toBe("Myocardial infarction");
    expect(expansionOf(map, "MRI")).toBeUndefined();
  });

  // Independent check on the real corpus: a short form and its detected long form, both annotated in the same
  // abstract, must carry the same gold code.
  it.skipIf(!existsSync(BC5CDR_DEV))("agrees with BC5CDR dev gold codes (short form vs annotated long form)", async () => {
    const ds = await readDataset(BC5CDR_DEV, { format: "pubtator" });
    let pairs = 0;
    let agree = 0;
    for (const d of ds.documents) {
      const map = abbreviationMap(d.text);
      const codeOf = new Map(d.mentions.map((m) => [m.text.toLowerCase(), [...m.codes].sort().join("+")]));
      for (const m of d.mentions) {
        const long = expansionOf(map, m.text);
        const code = long === undefined ? undefined : codeOf.get(long.toLowerCase());
        if (code === undefined) continue;
        pairs++;
        if (code === [...m.codes].sort().join("+")) agree++;
      }
    }
    expect(pairs).toBeGreaterThan(500);
    expect(agree / pairs).toBeGreaterThan(0.98);
  });
});
