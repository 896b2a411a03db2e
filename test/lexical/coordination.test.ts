import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { conjuncts, coordinationReadings } from "../../src/lexical/coordination.js";

const BC5CDR_TRAIN = new URL("../../../shared/data/bc5cdr/train_corpus.txt", import.meta.url).pathname;

describe("coordination readings", () => {
  it("splits at conjunctions and commas, dropping leading determiners, only when a conjunction is present", () => {
    expect(conjuncts("renal and hepatic failure", "en")).toEqual([["renal"], ["hepatic", "failure"]]);
    expect(conjuncts("radiografía de tórax y la ecografía abdominal", "es")).toEqual([["radiografía", "de", "tórax"], ["ecografía", "abdominal"]]);
    expect(conjuncts("nausea, vomiting and diarrhea", "en")).toEqual([["nausea"], ["vomiting"], ["diarrhea"]]);
    // A comma alone joins a finding and its result in clinical text: not a coordination.
    expect(conjuncts("estudio serológico, negativo", "es")).toEqual([]);
    expect(conjuncts("heart failure", "en")).toEqual([]);
  });

  it("shares the last conjunct's head with the modifiers before it (English premodifiers)", () => {
    const r = coordinationReadings("pleural and pericardial effusion", "en");
    expect(r).toContainEqual(["pleural effusion", "pericardial effusion"]);
    expect(coordinationReadings("intraoperative and postoperative bleeding", "en")).toContainEqual(["intraoperative bleeding", "postoperative bleeding"]);
  });

  it("shares the first conjunct's head with the modifiers after it (Spanish postmodifiers, English 'of' phrases)", () => {
    expect(coordinationReadings("edema periorbital y palpebral", "es")).toContainEqual(["edema periorbital", "edema palpebral"]);
    expect(coordinationReadings("colocación de sonda orogastrica y vesical", "es")).toContainEqual(["colocación de sonda orogastrica", "colocación de sonda vesical"]);
    expect(coordinationReadings("cancer of the renal pelvis and bladder", "en")).toContainEqual(["cancer of the renal pelvis", "cancer of bladder"]);
  });

  it("keeps whole conjuncts as one reading and returns only distinct readings of 2+ distinct pieces", () => {
    const r = coordinationReadings("radiografía de tórax y ecografía abdominal", "es");
    expect(r[0]).toEqual(["radiografía de tórax", "ecografía abdominal"]);
    for (const reading of r) expect(new Set(reading).size).toBe(reading.length);
    expect(new Set(r.map((x) => x.join("|"))).size).toBe(r.length);
    expect(coordinationReadings("fever and fever", "en")).toEqual([]);
  });

  it("on real BC5CDR training data, reads most 2-code composite mentions with a conjunction so that some reading has one piece per code", () => {
    if (!existsSync(BC5CDR_TRAIN)) {
      console.warn(`skipped: no BC5CDR data at ${BC5CDR_TRAIN}`);
      return;
    }
    // Composite annotations (`a|b`) whose text has "and"/"or": the coordination a reading must split in two.
    const composites = readFileSync(BC5CDR_TRAIN, "utf8").split("\n").map((l) => l.split("\t")).filter((f) => f.length >= 6 && (f[5] ?? "").split("|").length === 2 && /\b(and|or)\b/.test(f[3] ?? ""));
    expect(composites.length).toBeGreaterThan(20);
    const split = composites.filter((f) => coordinationReadings(f[3] as string, "en").some((r) => r.length === 2));
    expect(split.length / composites.length).toBeGreaterThan(0.9);
  });
});
