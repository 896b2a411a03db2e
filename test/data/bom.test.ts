/**
 * Regression tests of issue 16: a UTF-8 byte-order mark before the first line of an annotation file (Windows
 * editors add one) no longer drops the first document or fails the header; document texts keep theirs (offsets
 * count it). A PubTator title may hold U+2028.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-bom-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const BOM = "\ufeff";

describe("byte-order marks", () => {
  it("PubTator: the first document is read", async () => {
    const title = "Cocaine induced hypertension";
    const file = join(dir, "bom.pubtator");
    writeFileSync(file, `${BOM}1|t|${title}\n1|a|Abstract.\n1\t0\t7\tCocaine\tChemical\tD003042\n\n2|t|Second\n2|a|Text.\n`);
    const ds = await readDataset(file, { format: "pubtator" });
    expect(ds.problems).toEqual([]);
    expect(ds.documents.map((d) => d.id)).toEqual(["1", "2"]);
    expect(ds.documents[0]?.mentions.map((m) => [m.text, m.codes])).toEqual([["Cocaine", ["D003042"]]]);
  });

  it("PubTator: a title holding U+2028 is read", async () => {
    const file = join(dir, "ls.pubtator");
    writeFileSync(file, `7|t|Line\u2028separated title\n7|a|Abstract.\n7\t0\t4\tLine\tChemical\tC1\n`);
    const ds = await readDataset(file, { format: "pubtator" });
    expect(ds.problems).toEqual([]);
    expect(ds.documents[0]?.text).toBe("Line\u2028separated title Abstract.");
  });

  it("SPACCC TSV, BRAT .ann and BigBio JSON with a BOM; a text's own BOM is kept", async () => {
    const sub = join(dir, "spaccc");
    mkdirSync(join(sub, "texts"), { recursive: true });
    writeFileSync(join(sub, "texts", "d1.txt"), `${BOM}Fiebre alta.`);
    writeFileSync(join(sub, "gold.tsv"), `${BOM}filename\tlabel\tstart_span\tend_span\tspan\tcode\nd1\tSINTOMA\t1\t7\tFiebre\t1\n`);
    const spaccc = await readDataset(join(sub, "gold.tsv"), { format: "spaccc" });
    expect(spaccc.problems).toEqual([]);
    expect(spaccc.documents[0]?.mentions[0]?.text).toBe("Fiebre");

    const brat = join(dir, "brat");
    mkdirSync(brat);
    writeFileSync(join(brat, "d1.txt"), "Fiebre alta.");
    writeFileSync(join(brat, "d1.ann"), `${BOM}T1\tSINTOMA 0 6\tFiebre\n#1\tAnnotatorNotes T1\t386661006\n`);
    const b = await readDataset(brat, { format: "brat" });
    expect(b.documents[0]?.mentions.map((m) => [m.id, m.codes])).toEqual([["T1", ["386661006"]]]);

    const json = join(dir, "bigbio.json");
    writeFileSync(json, `${BOM}${JSON.stringify([{ id: "d1", passages: [{ text: ["Fiebre alta."], offsets: [[0, 12]] }], entities: [{ id: "e1", type: "SINTOMA", text: ["Fiebre"], offsets: [[0, 6]], normalized: [{ db_name: "SCT", db_id: "1" }] }] }])}`);
    const bb = await readDataset(json, { format: "bigbio" });
    expect(bb.problems).toEqual([]);
    expect(bb.documents[0]?.mentions).toHaveLength(1);
  });
});
