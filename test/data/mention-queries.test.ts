/**
 * The mention model: a document's queries are what the parser reads from the marked sentences link-docs always
 * wrote (so generative prompts stay byte for byte), with the document's context: the long form of a short form
 * defined in the text and every mention's text. Checked against the parser on random texts (decomposed accents,
 * combining marks at fragment edges, non-breaking spaces) and on the real BC5CDR and SPACCC dev documents.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { documentQueries, mentionContext, queryOfSentence } from "../../src/data/mention-queries.js";
import { readDataset } from "../../src/data/read-dataset.js";
import type { Document } from "../../src/data/types.js";
import { markedSentenceOf, markSentence, parseMarkedSentence, type Span } from "../../src/markup/marked-sentence.js";
import { buildPrompt } from "../../src/markup/prompt.js";
import { buildMarkedSentence } from "../../src/markup/sentence-builder.js";
import { mulberry32 } from "../../src/util/random.js";

const DATA = new URL("../../../shared/data/", import.meta.url).pathname;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("markedSentenceOf", () => {
  it("is what parseMarkedSentence reads from markSentence's string, on random texts", () => {
    const random = mulberry32(17);
    // Precomposed and decomposed accents, a lone combining mark, non-breaking and plain spaces.
    const pieces = ["a", "e", "\u0301", "é", "n\u0303", "ñ", " ", "\u00a0", "Z", "ç", "c\u0327", "-", "."];
    for (let t = 0; t < 3000; t++) {
      const n = 1 + Math.floor(random() * 14);
      const plain = Array.from({ length: n }, () => pieces[Math.floor(random() * pieces.length)]).join("");
      // 1-3 sorted, non-overlapping, non-empty fragments at any UTF-16 offsets (inside a decomposed letter too).
      const cuts = [...new Set(Array.from({ length: 2 * (1 + Math.floor(random() * 3)) }, () => Math.floor(random() * (plain.length + 1))))].sort((a, b) => a - b);
      const fragments: Span[] = [];
      for (let i = 0; i + 1 < cuts.length; i += 2) if ((cuts[i] as number) < (cuts[i + 1] as number)) fragments.push({ start: cuts[i] as number, end: cuts[i + 1] as number });
      if (fragments.length === 0) continue;
      const group = random() < 0.2 ? " G\u00e9n\u0301 " : "SINTOMA";
      let expected: unknown;
      try {
        expected = parseMarkedSentence(markSentence(plain, fragments, group));
      } catch (e) {
        expected = { code: (e as { code: string }).code };
      }
      let actual: unknown;
      try {
        actual = markedSentenceOf(plain, fragments, group);
      } catch (e) {
        actual = { code: (e as { code: string }).code };
      }
      expect(actual, JSON.stringify({ plain, fragments, group })).toEqual(expected);
    }
  });
});

/** The reference: the query the parser reads from the builder's marked sentence, with the context added. */
function expectedQueries(doc: Document, expansions: readonly (string | undefined)[]): unknown[] {
  return doc.mentions.map((m, i) => {
    let sentence: string;
    try {
      sentence = buildMarkedSentence(doc, m).sentence;
    } catch (e) {
      return { error: (e as { code: string }).code };
    }
    const expansion = expansions[i];
    return { sentence, query: { ...parseMarkedSentence(sentence), documentMentions: doc.mentions.map((x) => x.text), ...(expansion === undefined ? {} : { expansion }) } };
  });
}

const actualQueries = (doc: Document): unknown[] =>
  documentQueries(doc).map((q) => (q.query === undefined ? { error: q.error?.code } : { sentence: q.sentence, query: q.query }));

describe("documentQueries", () => {
  it("gives each mention its sentence, the long form of a short form its document defines, and the document's mentions", () => {
    const text = "Butylated hydroxyanisole (BHA) and rat tumours.\nBHA was added to the diet; BHAs are antioxidants.";
    const at = (s: string, from = 0) => ({ start: text.indexOf(s, from), end: text.indexOf(s, from) + s.length });
    const second = text.indexOf("BHA", text.indexOf("BHA") + 1);
    const mentions = [
      { id: "a", label: "Chemical", fragments: [at("Butylated hydroxyanisole")], text: "Butylated hydroxyanisole", codes: [] },
      { id: "b", label: "Chemical", fragments: [at("BHA", second)], text: "BHA", codes: [] },
      { id: "c", label: "Chemical", fragments: [at("BHAs")], text: "BHAs", codes: [] },
      { id: "d", label: "Disease", fragments: [{ start: 90, end: 200 }], text: "", codes: [] },
    ];
    const doc: Document = { id: "9", text, mentions, language: "en" };
    const queries = documentQueries(doc);
    expect(queries.map((q) => q.query?.expansion)).toEqual([undefined, "Butylated hydroxyanisole", "Butylated hydroxyanisole", undefined]);
    expect(queries[1]?.sentence).toBe("[BHA]{Chemical} was added to the diet; BHAs are antioxidants.");
    expect(queries[1]?.query?.documentMentions).toEqual(["Butylated hydroxyanisole", "BHA", "BHAs", ""]);
    expect(queries[1]?.query?.documentMentions).toBe(queries[2]?.query?.documentMentions); // one array per document
    expect(queries[3]).toMatchObject({ error: { code: "MARKUP_BAD_OFFSETS" } });
    expect(queries[3]?.query).toBeUndefined();
    expect(actualQueries(doc)).toEqual(expectedQueries(doc, [undefined, "Butylated hydroxyanisole", "Butylated hydroxyanisole", undefined]));
    // The generative prompt of a query is the one of the parsed marked sentence, byte for byte.
    expect(buildPrompt(queries[1]!.query!, "is")).toBe("[BHA]{Chemical} was added to the diet; BHAs are antioxidants.<SEP>[BHA] is");
    expect(mentionContext(queries[1]!.query!)).toBe("  was added to the diet; BHAs are antioxidants.");
  });

  it("a marked sentence entering as a string is the same query without document context", () => {
    const q = queryOfSentence("Refiere [fiebre]{SINTOMA} alta.");
    expect(q).toEqual({ marked: "Refiere [fiebre]{SINTOMA} alta.", plain: "Refiere fiebre alta.", mention: "fiebre", fragments: [{ start: 8, end: 14 }], group: "SINTOMA" });
    expect(() => queryOfSentence("sin marca")).toThrow(expect.objectContaining({ code: "MARKUP_NO_BRACKETS" }));
  });

  for (const [name, path, format] of [["BC5CDR", "bc5cdr/dev_corpus.txt", "pubtator"], ["SPACCC", "spaccc/test-dev.tsv", "spaccc"]] as const) {
    it.skipIf(!existsSync(join(DATA, path)))(`equals the parsed marked sentences of every ${name} dev mention`, async () => {
      const dataset = await readDataset(join(DATA, path), { format });
      let n = 0;
      let expanded = 0;
      for (const doc of dataset.documents) {
        const queries = documentQueries(doc);
        const expansions = queries.map((q) => q.query?.expansion);
        // A long form is defined in the text: "long form (SF" or "SF (long form", SF the mention or its singular.
        expansions.forEach((long, i) => {
          if (long === undefined) return;
          expanded++;
          const m = doc.mentions[i]!.text.trim();
          const defined = [m, m.replace(/s$/, "")].some((sf) => new RegExp(`${escape(long)}\\W{0,3}\\(\\s*${escape(sf)}|${escape(sf)}\\W{0,3}\\(\\s*${escape(long)}`).test(doc.text));
          expect(defined, `${doc.id}: ${m} -> ${long}`).toBe(true);
        });
        expect(actualQueries(doc)).toEqual(expectedQueries(doc, expansions));
        n += doc.mentions.length;
      }
      expect(n).toBeGreaterThan(4000);
      if (name === "BC5CDR") expect(expanded).toBeGreaterThan(500); // abstracts define their abbreviations
    });
  }
});
