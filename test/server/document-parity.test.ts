/**
 * The web page's document endpoint and link-docs give the same answers, mention for mention, for every linker
 * kind: `POST /v1/link-document` over real HTTP (one request per document; the page's requests in parts are
 * tested in test/web and web-api.test.ts) against `linkDocuments` (link-docs) on the real BC5CDR and SPACCC dev
 * documents, one linker instance behind both (test/support/document-parity.ts). For the model-free linkers, a
 * deterministic slice of each dev set: every 8th BC5CDR / every 4th SPACCC document, the longest texts and the
 * document with the most short forms it defines ("BHA"); the whole dev sets run in `npm run bench:document-parity`.
 * Two short SPACCC documents for the model linkers (tiny random model). Skips with a message where
 * ../shared/data is absent.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Document } from "../../src/data/types.js";
import type { OpenLinkerOptions } from "../../src/linker/open.js";
import type { LinkerKind } from "../../src/linker/types.js";
import { compareDocumentPaths, parityCorpora, parityDataPresent, paritySlice, SHARED_DATA, shortDocuments, shortFormMentions, type ParityCorpus } from "../support/document-parity.js";
import { makeTinyModel } from "../support/tiny-model.js";

const present = parityDataPresent();
if (!present) console.warn(`document-parity.test: skipped, no BC5CDR / SPACCC data under ${SHARED_DATA}`);

/** Every k-th document of each dev set (plus the longest and the richest in short forms). */
const EVERY = { bc5cdr: 8, spaccc: 4 } as const;

describe.skipIf(!present)("POST /v1/link-document equals link-docs on real dev documents", () => {
  let dir: string;
  let model: { dir: string; cleanup: () => void };
  let corpora: Record<"bc5cdr" | "spaccc", ParityCorpus>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncabel-parity-"));
    model = await makeTinyModel({ seed: 5 });
    corpora = await parityCorpora(dir);
  }, 600_000);
  afterAll(() => {
    model?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const name of ["bc5cdr", "spaccc"] as const) {
    for (const kind of ["tfidf", "hybrid"] as const satisfies readonly LinkerKind[]) {
      it(`${name}, ${kind}: a slice of the dev documents (long ones and short-form definitions in)`, async () => {
        const { kbPath, documents } = corpora[name];
        const slice: Document[] = paritySlice(documents, EVERY[name]);
        // The slice keeps the cases that need the document: long texts and short forms defined in them.
        const longest = Math.max(...documents.map((d) => d.text.length));
        expect(slice.some((d) => d.text.length === longest)).toBe(true);
        expect(shortFormMentions(slice)).toBeGreaterThanOrEqual(10);
        const { mentions, mismatches } = await compareDocumentPaths(slice, { kb: kbPath, linker: kind }, join(dir, `${name}-${kind}.jsonl`));
        expect(mismatches.slice(0, 3)).toEqual([]);
        expect(mentions).toBe(slice.reduce((a, d) => a + d.mentions.length, 0));
        expect(mentions).toBeGreaterThan(800);
      }, 600_000);
    }
  }

  for (const kind of ["generative", "retrieve-generate"] as const satisfies readonly LinkerKind[]) {
    it(`spaccc, ${kind} (tiny random model): two short dev documents`, async () => {
      const { kbPath, documents } = corpora.spaccc;
      const options: OpenLinkerOptions = { kb: kbPath, linker: kind, model: model.dir, threads: 1, ...(kind === "retrieve-generate" ? { candidates: 4 } : {}) };
      const { mentions, mismatches } = await compareDocumentPaths(shortDocuments(documents), options, join(dir, `spaccc-${kind}.jsonl`), 1e-5);
      expect(mismatches.slice(0, 3)).toEqual([]);
      expect(mentions).toBeGreaterThanOrEqual(10);
    }, 600_000);
  }
});
