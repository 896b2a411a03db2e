/**
 * The web page in a real browser: headless Chromium from the system package (apt `chromium`), driven by
 * playwright-core (no browser download). Skips with a message where /usr/bin/chromium is absent.
 * A failure leaves a screenshot in .cache/web-failure.png; SCREENSHOT=1 writes docs/screenshot.png.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readBrat } from "../../src/data/brat.js";
import { readPubtator } from "../../src/data/pubtator.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { openLinker } from "../../src/linker/open.js";
import type { Linker } from "../../src/linker/types.js";
import { startLinkServer, type LinkServer } from "../../src/server/index.js";
import { buildKbFromRows } from "../support/kb.js";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`test/web: skipped, no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);

const ROWS: [string, string, string][] = [
  ["100", "embolia pulmonar", "ENFERMEDAD"],
  ["100", "tromboembolismo pulmonar", "ENFERMEDAD"],
  ["200", "edema pulmonar", "ENFERMEDAD"],
  ["300", "neumonía", "ENFERMEDAD"],
  ["400", "tos", "SINTOMA"],
  ["401", "tos seca", "SINTOMA"],
  ["402", "fiebre", "SINTOMA"],
  ["403", "fiebre alta", "SINTOMA"],
];
const codeOf = (name: string): string => ROWS.find((r) => r[1] === name)![0];

const TEXT = "Paciente con embolia pulmonar masiva.\nRefiere tos seca y fiebre alta desde ayer.";

let work: string;
let kb: KnowledgeBase;
let linker: Linker;
let server: LinkServer;
let browser: BrowserContext;
let page: Page;

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  work = mkdtempSync(join(tmpdir(), "syncabel-web-"));
  const kbPath = await buildKbFromRows(work, ROWS);
  linker = await openLinker({ kb: kbPath });
  kb = openKnowledgeBase(kbPath);
  server = await startLinkServer(linker, { port: 0, kb });
  // A fresh profile (--user-data-dir) per run: playwright passes the folder itself.
  browser = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: CHROMIUM,
    acceptDownloads: true,
    viewport: { width: 1280, height: 760 },
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await linker?.close();
  kb?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page && !page.isClosed()) {
    mkdirSync(".cache", { recursive: true });
    await page.screenshot({ path: ".cache/web-failure.png", fullPage: true });
    console.warn("test/web: failure screenshot in .cache/web-failure.png");
  }
  await page?.close();
});

async function newPage(): Promise<Page> {
  page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready=true]");
  expect(errors).toEqual([]);
  return page;
}

/** Selects [start, end) of the document text pane's text, as a person dragging over it would. */
async function selectText(p: Page, start: number, end: number): Promise<void> {
  await p.evaluate(
    ([s, e]) => {
      const pane = document.getElementById("text")!;
      const walker = document.createTreeWalker(pane, NodeFilter.SHOW_TEXT);
      const range = document.createRange();
      let pos = 0;
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const len = n.textContent!.length;
        if (s >= pos && s <= pos + len) range.setStart(n, s - pos);
        if (e >= pos && e <= pos + len) {
          range.setEnd(n, e - pos);
          break;
        }
        pos += len;
      }
      const sel = window.getSelection()!;
      sel.removeAllRanges();
      sel.addRange(range);
    },
    [start, end] as const,
  );
}

async function download(p: Page, button: string): Promise<{ name: string; text: string }> {
  const [dl] = await Promise.all([p.waitForEvent("download"), p.click(button)]);
  const path = join(work, `dl-${Date.now()}-${dl.suggestedFilename()}`);
  await dl.saveAs(path);
  return { name: dl.suggestedFilename(), text: readFileSync(path, "utf8") };
}

describe.skipIf(!HAVE_CHROMIUM)("web page in headless Chromium", () => {
  it("pastes a text, takes mentions from a selection and from KB suggestions, links, changes a concept, exports BRAT, PubTator and JSONL", async () => {
    const p = await newPage();
    await p.fill("#paste", TEXT);
    await p.click("#use-text");

    // A mention from a selection: "embolia pulmonar" as ENFERMEDAD.
    const start = TEXT.indexOf("embolia pulmonar");
    await selectText(p, start, start + "embolia pulmonar".length);
    await p.selectOption("#group", "ENFERMEDAD");
    await p.keyboard.press("m");
    await expect.poll(() => p.locator("#text mark").count()).toBe(1);

    // Suggestions from the KB's names: longest matches "tos seca" and "fiebre alta" (not "tos", "fiebre").
    await p.click("#suggest");
    await expect.poll(() => p.locator("#text mark.suggested").allTextContents()).toEqual(["tos seca", "fiebre alta"]);
    await p.click("#accept-suggestions");

    await p.click("#link");
    await expect.poll(() => p.locator("#text mark.linked").count()).toBe(3);

    // Keyboard: the second mention ("tos seca"), its candidates are SINTOMA names with their KB codes.
    await p.click("#doc-title");
    await p.keyboard.press("j");
    expect(await p.locator("#mention-head").textContent()).toContain("tos seca");
    const names = await p.locator("#candidates .name").allTextContents();
    const codes = await p.locator("#candidates code").allTextContents();
    expect(names[0]).toBe("tos seca");
    names.forEach((n, i) => expect(codes[i]).toBe(codeOf(n)));
    expect(await p.locator("#candidates .group").allTextContents()).toEqual(names.map(() => "SINTOMA"));
    // Other names of the top concept come from the KB.
    await expect.poll(() => p.locator("#names li").allTextContents()).toEqual(["tos seca (SINTOMA)"]);

    // Change the concept: the candidate "tos" (one down from the top, chosen with the arrow key, then accepted).
    const other = names.indexOf("tos");
    expect(other).toBeGreaterThan(0);
    for (let i = 0; i < other; i++) await p.keyboard.press("ArrowDown");
    await p.keyboard.press("Enter");
    await expect.poll(() => p.locator("#candidates li.chosen .name").textContent()).toBe("tos");

    const brat = await download(p, "#export-brat");
    expect(brat.name).toBe("pasted.ann");
    mkdirSync(join(work, "brat"));
    writeFileSync(join(work, "brat", "pasted.ann"), brat.text);
    writeFileSync(join(work, "brat", "pasted.txt"), TEXT);
    const fromBrat = await readBrat(join(work, "brat"));
    expect(fromBrat.problems).toEqual([]);
    const got = fromBrat.documents[0].mentions.map((m) => [m.text, m.label, m.codes]);
    expect(got).toEqual([
      ["embolia pulmonar", "ENFERMEDAD", [codeOf("embolia pulmonar")]],
      ["tos seca", "SINTOMA", [codeOf("tos")]],
      ["fiebre alta", "SINTOMA", [codeOf("fiebre alta")]],
    ]);

    const pubtator = await download(p, "#export-pubtator");
    writeFileSync(join(work, "out.pubtator"), pubtator.text);
    const fromPubtator = await readPubtator(join(work, "out.pubtator"));
    expect(fromPubtator.problems).toEqual([]);
    expect(fromPubtator.documents[0].mentions.map((m) => [m.text, m.codes])).toEqual(got.map(([t, , c]) => [t, c]));

    const jsonl = await download(p, "#export-jsonl");
    const rows = jsonl.text.trim().split("\n").map((l) => JSON.parse(l) as { span: string; accepted_code: string; beams: { pred_concept_code: string }[] });
    expect(rows.map((r) => [r.span, r.accepted_code, r.beams[0].pred_concept_code])).toEqual(got.map(([t, , c]) => [t, (c as string[])[0], (c as string[])[0]]));

    if (process.env.SCREENSHOT === "1") {
      await p.evaluate(() => window.scrollTo(0, 0));
      mkdirSync("docs", { recursive: true });
      await p.screenshot({ path: "docs/screenshot.png" });
      expect(statSync("docs/screenshot.png").size).toBeLessThan(300 * 1024);
    }
  });

  it("opens a BRAT .txt + .ann pair: the mentions come from the file", async () => {
    const p = await newPage();
    const dir = join(work, "upload");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "caso1.txt"), TEXT);
    const s = TEXT.indexOf("fiebre");
    writeFileSync(join(dir, "caso1.ann"), `T1\tSINTOMA ${s} ${s + 6}\tfiebre\n`);
    await p.setInputFiles("#files", [join(dir, "caso1.txt"), join(dir, "caso1.ann")]);
    await p.click("#open-files");
    await expect.poll(() => p.locator("#text mark").allTextContents()).toEqual(["fiebre"]);
    expect(await p.locator("#doc-title").textContent()).toBe("caso1");
    await p.keyboard.press("l");
    await expect.poll(() => p.locator("#candidates .name").first().textContent()).toBe("fiebre");
    expect(await p.locator("#candidates code").first().textContent()).toBe(codeOf("fiebre"));
  });
});
