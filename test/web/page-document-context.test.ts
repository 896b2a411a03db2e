/**
 * The page links a long document as link-docs does: every request carries all the document's mentions (the context
 * the hybrid linker reads: the abbreviations the text defines, the other mentions) and links 32 of them. A real
 * browser opens a PubTator file of 40 mentions, links them and exports JSONL; its beams equal link-docs' on the
 * same file, mention for mention. Skips with a message where /usr/bin/chromium is absent.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDataset } from "../../src/data/read-dataset.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { linkDocuments } from "../../src/linker/link-documents.js";
import { openLinker } from "../../src/linker/open.js";
import { trainLinker } from "../../src/linker/train-linker.js";
import type { Linker } from "../../src/linker/types.js";
import { startLinkServer, type LinkServer } from "../../src/server/index.js";
import { KB_ROWS, TRAIN, writePubtator, type Doc } from "../support/abbreviation-fixture.js";
import { HAVE_CHROMIUM, launchChromium } from "../support/browser.js";
import { buildKbFromRows } from "../support/kb.js";

if (!HAVE_CHROMIUM) console.warn("test/web: skipped, no Chromium at /usr/bin/chromium (apt-get install -y chromium)");

/** 40 mentions: the long forms defined at the start, their short forms and other mentions after. */
function longDocument(): Doc {
  const parts: [string, string, [string, string, string][]][] = [
    ["Butylated hydroxyanisole (BHA) and bisphenol A (BPA) in rats with heart failure (CHF).", "", [["Butylated hydroxyanisole", "Chemical", "D001"], ["BHA", "Chemical", "D001"], ["bisphenol A", "Chemical", "D002"], ["BPA", "Chemical", "D002"], ["heart failure", "Disease", "D007"], ["CHF", "Disease", "D007"]]],
  ];
  const sentences = ["BHA was added to the diet.", "BPA levels rose.", "CHF worsened with hypertension.", "The failure progressed.", "Valproic acid was stopped."];
  const mentions: Record<string, [string, string, string][]> = {
    "BHA was added to the diet.": [["BHA", "Chemical", "D001"]],
    "BPA levels rose.": [["BPA", "Chemical", "D002"]],
    "CHF worsened with hypertension.": [["CHF", "Disease", "D007"], ["hypertension", "Disease", "D005"]],
    "The failure progressed.": [["failure", "Disease", "D007"]],
    "Valproic acid was stopped.": [["Valproic acid", "Chemical", "D004"]],
  };
  let text = parts[0][0];
  const all = [...parts[0][2]];
  for (let i = 0; all.length < 40; i++) {
    const s = sentences[i % sentences.length] as string;
    text += ` ${s}`;
    for (const m of mentions[s] ?? []) if (all.length < 40) all.push(m);
  }
  return ["42", text, all];
}

let work: string;
let kb: KnowledgeBase;
let linker: Linker;
let server: LinkServer;
let browser: BrowserContext;

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  work = mkdtempSync(join(tmpdir(), "syncabel-web-context-"));
  const kbPath = await buildKbFromRows(work, KB_ROWS);
  writePubtator(join(work, "train.txt"), TRAIN);
  await trainLinker(kbPath, { train: [{ path: join(work, "train.txt"), format: "pubtator" }], seed: 1, folds: 3 });
  linker = await openLinker({ kb: kbPath });
  kb = openKnowledgeBase(kbPath);
  server = await startLinkServer(linker, { port: 0, kb });
  browser = await launchChromium(work);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await linker?.close();
  kb?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!HAVE_CHROMIUM)("web page: a document longer than one request", () => {
  it("sends the whole document's mentions with every request and exports link-docs' beams", async () => {
    expect(linker.kind).toBe("hybrid");
    const file = join(work, "long.txt");
    const doc = longDocument();
    writePubtator(file, [doc]);
    const page = await browser.newPage();
    const requests: { mentions: unknown[]; link: string[] }[] = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/v1/link-document")) requests.push(r.postDataJSON() as { mentions: unknown[]; link: string[] });
    });
    await page.goto(server.url);
    await page.waitForSelector("body[data-ready=true]");
    await page.setInputFiles("#files", file);
    await page.click("#open-files");
    await expect.poll(() => page.locator("#text mark").count()).toBe(40);
    await page.click("#link");
    await expect.poll(() => page.locator("#text mark.linked").count(), { timeout: 30_000 }).toBe(40);
    expect(requests.map((r) => [r.mentions.length, r.link.length])).toEqual([[40, 32], [40, 8]]);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-jsonl")]);
    await download.saveAs(join(work, "page.jsonl"));
    const fromPage = readFileSync(join(work, "page.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { span: string; beams: unknown[] });
    await linkDocuments(await readDataset(file, { format: "pubtator" }), linker, { outPath: join(work, "docs.jsonl"), format: "jsonl" });
    const fromLinkDocs = readFileSync(join(work, "docs.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { span: string; beams: unknown[] });
    expect(fromPage.map((r) => [r.span, r.beams])).toEqual(fromLinkDocs.map((r) => [r.span, r.beams]));
    // The short forms of chunk 2 got their long form's code, as in link-docs.
    expect(fromPage.slice(32).filter((r) => r.span === "BHA").map((r) => (r.beams[0] as { pred_concept_code: string }).pred_concept_code)).toContain("D001");
    await page.close();
  }, 120_000);
});
