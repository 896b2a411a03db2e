/** The shared line/record readers: only LF ends a line, a lone CR is data, line numbers count LF. */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readLines, readQuotedRecords } from "../../../src/kb/sources/index.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-lines-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const write = (text: string): string => {
  const p = join(dir, `f${n++}.txt`);
  writeFileSync(p, text);
  return p;
};

async function lines(path: string): Promise<{ text: string; line: number }[]> {
  const out: { text: string; line: number }[] = [];
  for await (const l of readLines(path)) out.push({ text: l.text, line: l.line });
  return out;
}

/**
 * Reference split, written independently of the reader: LF ends a line; CRs right before the LF are the line end
 * (CRLF, and the CR CR LF of a file converted twice); a last line without LF counts when not empty.
 */
function reference(text: string): { text: string; line: number }[] {
  const parts = text.split("\n");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts.map((p, i) => ({ text: (i === 0 ? p.replace(/^\ufeff/, "") : p).replace(/\r+$/, ""), line: i + 1 }));
}

describe("readLines", () => {
  it("keeps a lone CR inside its line and numbers lines by LF", async () => {
    const text = "first\nsecond\rstill second\nthird\n";
    const got = await lines(write(text));
    expect(got).toEqual([
      { text: "first", line: 1 },
      { text: "second\rstill second", line: 2 },
      { text: "third", line: 3 },
    ]);
    expect(got).toEqual(reference(text));
  });

  it("reads CRLF, LF and CR CR LF files identically (and a BOM and a last line without a line end)", async () => {
    const rows = ["\ufeffid\tterm", "1\tfiebre", "", "2\tdolor\rtorácico", "3\ttos"];
    const lf = await lines(write(rows.join("\n")));
    const crlf = await lines(write(`${rows.join("\r\n")}\r\n`));
    const crcrlf = await lines(write(`${rows.join("\r\r\n")}\r\r\n`));
    expect(lf).toEqual(reference(rows.join("\n")));
    expect(crlf).toEqual(lf);
    expect(crcrlf).toEqual(lf);
    expect(lf[0].text).toBe("id\tterm");
    expect(lf[3]).toEqual({ text: "2\tdolor\rtorácico", line: 4 });
  });

  it("joins a CRLF and a multi-byte character split across 1 MiB read chunks", async () => {
    const chunk = 1 << 20;
    // Line 1 is ASCII and ends with CR at the last byte of chunk 1, its LF starting chunk 2; "é" (2 bytes) straddles chunk 2 and 3.
    const line1 = "a".repeat(chunk - 1);
    const line2 = `${"b".repeat(chunk - 2)}é\rz`;
    const text = `${line1}\r\n${line2}\r\nlast\r\n`;
    const path = write(text);
    const got = await lines(path);
    expect(got.map((l) => l.line)).toEqual([1, 2, 3]);
    expect(got[0].text).toBe(line1);
    expect(got[1].text).toBe(line2);
    expect(got[2].text).toBe("last");
    let advanced = 0;
    const sink = { start: () => undefined, advance: (b: number) => void (advanced += b), finish: () => undefined };
    for await (const _ of readLines(path, sink)) void _;
    expect(advanced).toBe(statSync(path).size);
  });

  it("refuses a file with CR-only (classic Mac) line ends instead of reading it as one line", async () => {
    await expect(lines(write("a\rb\rc\r"))).rejects.toMatchObject({ code: "KB_FILE_INVALID", message: expect.stringContaining("CR") });
    // A large one is refused after its first MiB, not gathered whole.
    await expect(lines(write("row\tterm\r".repeat(200_000)))).rejects.toMatchObject({ code: "KB_FILE_INVALID" });
    // One line with a CR only at its end is an ordinary line.
    expect(await lines(write("only\r"))).toEqual([{ text: "only", line: 1 }]);
  });
});

describe("readQuotedRecords", () => {
  it("keeps a lone CR in an unquoted or quoted field; a quoted field spanning CRLF lines gets LF; record lines stay right", async () => {
    const rows = ["id\tname\tnote", "1\tdolor\rtorácico\tx", '2\ttos\t"two\r\nlines"', "3\tfiebre\t\"cr\rin quotes\""];
    const text = `${rows.join("\r\n")}\r\n`;
    const records = [];
    for await (const r of readQuotedRecords(write(text))) records.push(r);
    expect(records.map((r) => r.cells)).toEqual([
      ["id", "name", "note"],
      ["1", "dolor\rtorácico", "x"],
      ["2", "tos", "two\nlines"],
      ["3", "fiebre", "cr\rin quotes"],
    ]);
    // Each record starts on the line after as many LFs as precede it in the text.
    const lineOf = (marker: string): number => text.slice(0, text.indexOf(marker)).split("\n").length;
    expect(records.map((r) => r.line)).toEqual([lineOf("id\t"), lineOf("1\t"), lineOf("2\t"), lineOf("3\t")]);
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 5]);
  });
});
