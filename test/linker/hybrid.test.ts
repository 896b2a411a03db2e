import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { readDataset } from "../../src/data/read-dataset.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { addTrainingMentions, readTrainingMentions } from "../../src/kb/mentions.js";
import { candidatesOf, FEATURE_NAMES } from "../../src/linker/hybrid-features.js";
import { HybridIndex } from "../../src/linker/hybrid-index.js";
import { HYBRID_ARTIFACT_KEY, HybridLinker, kbNamesOf } from "../../src/linker/hybrid-linker.js";
import { openLinker } from "../../src/linker/open.js";
import { Reranker, type RankList } from "../../src/linker/reranker.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import { foldOf, recallAt1, reweightSeen } from "../../src/linker/hybrid-train.js";
import { hashString, mulberry32 } from "../../src/util/random.js";
import { captureIO } from "../support/cli-io.js";
import { buildKbFromRows } from "../support/kb.js";
import { KB_ROWS, writeSpaccc } from "../support/hybrid-fixture.js";

describe("hybrid linker", () => {
  let dir: string;
  let kbPath: string;
  let trainTsv: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-hybrid-"));
    kbPath = await buildKbFromRows(dir, KB_ROWS);
    trainTsv = writeSpaccc(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("stores training mentions with group, normalised text, composite code and provenance; re-adding replaces", async () => {
    const dataset = await readDataset(trainTsv, { format: "spaccc" });
    const first = addTrainingMentions(kbPath, dataset, trainTsv);
    expect(first).toMatchObject({ documents: 6, stored: 21, withoutCode: 1, unknownGroup: 1 });
    const again = addTrainingMentions(kbPath, dataset, trainTsv);
    expect(again.stored).toBe(21);
    const rows = readTrainingMentions(kbPath);
    expect(rows).toHaveLength(21);
    const composite = rows.find((m) => m.text === "radiografía");
    expect(composite).toMatchObject({ group: "PROCEDIMIENTO", code: "400+401", document: "es-d5" });
    expect(composite?.origin).toMatch(/train\.tsv:\d+$/);
    expect(composite?.sentence).toContain("[radiografía]{PROCEDIMIENTO}");
    const db = new Database(kbPath, { readonly: true });
    const counts = db.prepare("SELECT norm, code, COUNT(*) AS n FROM mentions WHERE grp = 'ENFERMEDAD' GROUP BY norm, code ORDER BY n DESC, norm").all();
    db.close();
    expect(counts[0]).toEqual({ norm: "hta", code: "100", n: 3 });
    // The KB itself still opens (the table is an addition).
    openKnowledgeBase(kbPath).close();
  });

  it("stores PubTator training mentions too (composite ids joined, -1 left out)", async () => {
    const kbEn = await buildKbFromRows(mkdtempSync(join(dir, "en-")), [["D1", "hypertension", "Disease"], ["C1", "cocaine", "Chemical"], ["C2", "heroin", "Chemical"]]);
    const title = "Cocaine and heroin induced hypertension";
    const abstract = "Hypertension after cocaine-heroin use.";
    const text = `${title} ${abstract}`;
    const at = (s: string, from = 0) => text.indexOf(s, from);
    const lines = [
      `1|t|${title}`,
      `1|a|${abstract}`,
      ["1", at("Cocaine"), at("Cocaine") + 7, "Cocaine", "Chemical", "C1"].join("\t"),
      ["1", at("hypertension"), at("hypertension") + 12, "hypertension", "Disease", "D1"].join("\t"),
      ["1", at("Hypertension"), at("Hypertension") + 12, "Hypertension", "Disease", "-1"].join("\t"),
      ["1", at("cocaine-heroin"), at("cocaine-heroin") + 14, "cocaine-heroin", "Chemical", "C2|C1"].join("\t"),
      "1\tCID\tC1\tD1",
    ];
    const file = join(dir, "train.pubtator");
    writeFileSync(file, `${lines.join("\n")}\n\n`);
    const report = addTrainingMentions(kbEn, await readDataset(file, { format: "pubtator" }), file);
    expect(report).toMatchObject({ documents: 1, stored: 3, withoutCode: 1, unknownGroup: 0 });
    const rows = readTrainingMentions(kbEn);
    expect(rows.map((m) => [m.text, m.group, m.code])).toEqual([
      ["Cocaine", "Chemical", "C1"],
      ["hypertension", "Disease", "D1"],
      ["cocaine-heroin", "Chemical", "C1+C2"],
    ]);
  });

  it("makes training mentions retrievable names and learns acronyms from pairs and from KB names", () => {
    const kb = openKnowledgeBase(kbPath);
    const names = kbNamesOf(kb);
    kb.close();
    const mentions = readTrainingMentions(kbPath);
    const withMemory = HybridIndex.build(names, mentions);
    const without = HybridIndex.build(names, []);
    const find = (index: HybridIndex, mention: string, group: string, code: string) => candidatesOf(index, { mention, group }).find((x) => x.code === code);
    // "dolor en el pecho" is only a training mention of 300: exact memory match with its count (3 mentions).
    const chest = candidatesOf(withMemory, { mention: "dolor en el pecho", group: "SINTOMA" }).find((c) => c.code === "300");
    expect(chest?.matched).toBe("dolor en el pecho");
    expect(chest?.name).toBe("dolor torácico");
    expect(find(without, "dolor en el pecho", "SINTOMA", "300")).toBeDefined(); // by "dolor" alone
    expect(withMemory.expansions.get("hta")).toBe("hipertension arterial"); // HTA -> 100, whose KB name spells it
    expect(withMemory.expansions.get("irc")).toBe("insuficiencia renal cronica"); // from the KB name's (IRC)
    expect(withMemory.expand("HTA grave")).toBe("hipertension arterial grave");
    expect(withMemory.expand("hta grave")).toBeUndefined(); // only capitalised tokens are acronyms
    expect(without.expansions.has("hta")).toBe(false);
    // Memory-only composite answers are candidates too; the semantic tag "(hallazgo)" is not part of the name.
    expect(candidatesOf(withMemory, { mention: "radiografía", group: "PROCEDIMIENTO" }).map((c) => c.code)).toContain("400+401");
    expect(candidatesOf(withMemory, { mention: "fiebre", group: "SINTOMA" }).find((c) => c.code === "302")?.matched).toBe("fiebre");
  });

  it("compares numbers after mapping roman numerals", () => {
    const kb = openKnowledgeBase(kbPath);
    const index = HybridIndex.build(kbNamesOf(kb), []);
    kb.close();
    const cands = candidatesOf(index, { mention: "diabetes mellitus tipo II", group: "ENFERMEDAD" });
    const at = FEATURE_NAMES.indexOf("number_conflict");
    const conflict = (code: string) => cands.find((c) => c.code === code)?.features[at];
    expect(conflict("200")).toBe(0);
    expect(conflict("201")).toBe(1);
  });

  it("trains deterministically, stores the model, and is the default linker of the KB", async () => {
    const copy = join(dir, "copy.sqlite");
    copyFileSync(kbPath, copy);
    const options = { train: [{ path: trainTsv, format: "spaccc" as const }], folds: 2, seed: 5, grid: [{ hidden: 0, l2: 1e-3 }, { hidden: 4, l2: 1e-3 }] };
    const report = await trainLinker(kbPath, options);
    expect(report.mentions).toBe(21);
    expect(report.cv).toHaveLength(2);
    await trainLinker(copy, options);
    const read = (p: string) => {
      const kb = openKnowledgeBase(p);
      const bytes = kb.getArtifact(HYBRID_ARTIFACT_KEY);
      kb.close();
      return Buffer.from(bytes ?? []).toString("utf8");
    };
    expect(read(copy)).toBe(read(kbPath));
    const linker = await openLinker({ kb: kbPath });
    expect(linker.kind).toBe("hybrid");
    const [hta, chest, bad] = await linker.sample(["Paciente con [HTA]{ENFERMEDAD} controlada.", "Refiere [dolor en el pecho]{SINTOMA}.", "[x]{NOPE}"], { num_beams: 3 });
    expect(hta.beams?.[0]).toMatchObject({ pred_concept_code: "100", pred_concept_name: "hipertensión arterial", pred_concept_codes: ["100"] });
    expect(chest.beams?.[0]?.pred_concept_code).toBe("300");
    expect(bad.error?.code).toBe("MARKUP_UNKNOWN_GROUP");
    const total = (hta.beams ?? []).reduce((a, b) => a + b.beam_score, 0);
    expect(total).toBeCloseTo(1, 9);
    // The candidate API: best first, softmax over the returned ones, every feature named.
    const kb = openKnowledgeBase(kbPath);
    const hybrid = HybridLinker.fromKnowledgeBase(kb);
    kb.close();
    const cands = hybrid.candidates({ mention: "dolor en el pecho", group: "SINTOMA" }, 2);
    expect(cands).toHaveLength(2);
    expect(cands[0].score).toBeGreaterThanOrEqual(cands[1].score);
    expect(cands[0].probability + cands[1].probability).toBeCloseTo(1, 12);
    expect(Object.keys(cands[0].features)).toEqual([...FEATURE_NAMES]);
    // Only 300 and 301 share a word or trigram with the mention ("fiebre" shares none).
    expect(hybrid.candidates("Refiere [dolor en el pecho]{SINTOMA}.", 64).map((c) => c.code).sort()).toEqual(["300", "301"]);
    expect(() => hybrid.candidates({ mention: "x", group: "NOPE" })).toThrow(/unknown group/);
    expect((await openLinker({ kb: kbPath, linker: "tfidf" })).kind).toBe("tfidf");
    const fresh = join(dir, "fresh.sqlite");
    await buildKbFromRows(mkdtempSync(join(dir, "f-")), KB_ROWS, fresh);
    expect((await openLinker({ kb: fresh })).kind).toBe("tfidf");
    expect(() => HybridLinker.fromKnowledgeBase(openKnowledgeBase(fresh))).toThrow(/no trained hybrid linker/);
  });

  it("CLI: kb add-mentions, kb build --train and train-linker", async () => {
    const kb2 = join(dir, "cli.sqlite");
    const terms = join(dir, "terms.tsv");
    const c = captureIO();
    // The fixture's mention of group OTRO (not in the KB) is skipped: listed with its line, exit 1.
    expect(await main(["kb", "build", terms, "-o", kb2, "--train", trainTsv, "--train-format", "spaccc"], c.io), c.err()).toBe(1);
    expect(c.out()).toMatch(/stored 21 training mentions/);
    expect(c.err()).toMatch(/kb build: skipped: .*train\.tsv:\d+: the group "OTRO" is not a group of the KB/);
    expect(readTrainingMentions(kb2)).toHaveLength(21);
    const d = captureIO();
    expect(await main(["kb", "add-mentions", kb2, trainTsv, "--format", "spaccc", "--json"], d.io), d.err()).toBe(1);
    expect(JSON.parse(d.out())[0]).toMatchObject({ stored: 21, unknownGroup: 1, skipped: 1, replaced: 21 });
    const e = captureIO();
    expect(await main(["kb", "add-mentions", kb2, trainTsv], e.io)).toBe(2);
    const t = captureIO();
    expect(await main(["train-linker", "--kb", kb2, "--folds", "2", "--json"], t.io), t.err()).toBe(0);
    expect(JSON.parse(t.out())).toMatchObject({ mentions: 21, documents: 6 });
    const stored = (): { restrictToKb: boolean } => {
      const kb = openKnowledgeBase(kb2);
      const bytes = kb.getArtifact(HYBRID_ARTIFACT_KEY);
      kb.close();
      return JSON.parse(Buffer.from(bytes ?? []).toString("utf8")) as { restrictToKb: boolean };
    };
    expect(stored().restrictToKb).toBe(true);
    const o = captureIO();
    expect(await main(["train-linker", "--kb", kb2, "--folds", "2", "--codes-outside-kb", "--json"], o.io), o.err()).toBe(0);
    expect(stored().restrictToKb).toBe(false);
    const u = captureIO();
    expect(await main(["train-linker", "--kb", kb2, "--train", trainTsv], u.io)).toBe(2); // no --format
    const l = captureIO();
    expect(await main(["link", "--kb", kb2, "--linker", "hybrid", "Se realiza [TC]{PROCEDIMIENTO}."], l.io), l.err()).toBe(0);
    expect(l.out()).toContain('"pred_concept_code":"400"');
    // The default linker of a KB with a trained model is the hybrid one, and the warnings say so.
    const w = captureIO();
    expect(await main(["link", "--kb", kb2, "--verb", "es", "Se realiza [TC]{PROCEDIMIENTO}."], w.io), w.err()).toBe(0);
    expect(w.err()).toContain("--verb has no effect with the hybrid linker");
    expect(w.err()).not.toContain("TF-IDF");
    const docs = captureIO();
    // (exit 1: the fixture's "OTRO" mention is of no KB group)
    expect(await main(["link-docs", "--kb", kb2, "--format", "spaccc", "--threads", "2", trainTsv, "-o", join(dir, "cli-docs.jsonl")], docs.io), docs.err()).toBe(1);
    expect(docs.err()).toContain("--threads has no effect with the hybrid linker");
  });
});

describe("Reranker", () => {
  /** Lists where the gold candidate is the one with the largest x0 + x1 (x2 is noise). */
  function lists(seed: number, n: number): RankList[] {
    const random = mulberry32(seed);
    return Array.from({ length: n }, () => {
      const rows = Array.from({ length: 6 }, () => Float64Array.from([random(), random(), random() * 10]));
      let gold = 0;
      rows.forEach((r, i) => {
        if (r[0] + r[1] > rows[gold][0] + rows[gold][1]) gold = i;
      });
      return { group: random() < 0.5 ? "A" : "B", rows, gold: [gold] };
    });
  }

  it("learns a ranking it was not told, on held-out lists, and reproduces itself from JSON", () => {
    for (const hidden of [0, 4]) {
      const model = Reranker.train(lists(1, 400), { hidden, epochs: 30, learningRate: 0.05, seed: 2 });
      const test = lists(99, 200);
      const hits = test.filter((l) => {
        const scores = l.rows.map((r) => model.score(r, l.group));
        return scores.indexOf(Math.max(...scores)) === l.gold[0];
      }).length;
      expect(hits / test.length).toBeGreaterThan(0.9);
      const copy = Reranker.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
      for (const l of test.slice(0, 5)) for (const r of l.rows) expect(copy.score(r, l.group)).toBe(model.score(r, l.group));
    }
  });

  it("is deterministic given the seed and changes with it", () => {
    const a = Reranker.train(lists(3, 100), { hidden: 4, seed: 7 }).toJSON();
    const b = Reranker.train(lists(3, 100), { hidden: 4, seed: 7 }).toJSON();
    const c = Reranker.train(lists(3, 100), { hidden: 4, seed: 8 }).toJSON();
    expect(b).toEqual(a);
    expect(c.h).not.toEqual(a.h);
  });
});

describe("training folds and weights", () => {
  it("puts a document in the fold of a published hash of its id and the seed, whatever the file order", () => {
    // FNV-1a 32-bit test vectors (Fowler, Noll, Vo), then the fold from a reference FNV-1a in BigInt arithmetic.
    expect([hashString(""), hashString("a"), hashString("foobar")]).toEqual([0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
    const fnv1a = (s: string): number => {
      let h = 0x811c9dc5n;
      for (const ch of s) h = ((h ^ BigInt(ch.charCodeAt(0))) * 0x01000193n) & 0xffffffffn;
      return Number(h);
    };
    const ids = Array.from({ length: 200 }, (_, i) => `doc-${i}`);
    for (const id of ids) expect(foldOf(id, 5, 1)).toBe(fnv1a(`1\u0000${id}`) % 5);
    const sizes = [0, 1, 2, 3, 4].map((f) => ids.filter((id) => foldOf(id, 5, 1) === f).length);
    for (const n of sizes) expect(n).toBeGreaterThan(20); // 40 expected per fold
    expect(ids.filter((id) => foldOf(id, 5, 2) !== foldOf(id, 5, 1)).length).toBeGreaterThan(100); // the seed reshuffles
  });

  it("reweights seen / unseen mentions to their shares among all training mentions", () => {
    const row = Float64Array.from([1]);
    // 10 mentions: 4 unseen (2 learnable), 6 seen (6 learnable): all-mention unseen share 0.4, learnable 0.25.
    const seen = [false, false, false, false, true, true, true, true, true, true];
    const lists = seen.map((_, i) => ({ group: "G", rows: [row], gold: i === 2 || i === 3 ? [] : [0] }));
    const weighted = reweightSeen(lists, seen);
    expect(weighted[0].weight).toBeCloseTo(0.4 / 0.25, 12);
    expect(weighted[9].weight).toBeCloseTo(0.6 / 0.75, 12);
    // Weighted learnable mass splits 0.4 / 0.6 like all mentions.
    const mass = (want: boolean) => weighted.filter((l, i) => l.gold.length > 0 && seen[i] === want).reduce((a, l) => a + (l.weight ?? 1), 0);
    expect(mass(false) / (mass(false) + mass(true))).toBeCloseTo(0.4, 12);
    // Recall@1 counts weights: a model over one-row lists hits every learnable list.
    const model = Reranker.train(lists, { hidden: 0, epochs: 1, seed: 1 });
    const total = weighted.reduce((a, l) => a + (l.weight ?? 1), 0);
    expect(recallAt1(model, weighted)).toBeCloseTo((total - 2 * (0.4 / 0.25)) / total, 12);
  });
});
