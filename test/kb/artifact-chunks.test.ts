import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { getLargeArtifact, putLargeArtifact } from "../../src/kb/artifact-chunks.js";
import { openKnowledgeBase } from "../../src/kb/index.js";
import { LexicalIndex } from "../../src/lexical/lexical-index.js";
import { buildKbFromRows } from "../support/kb.js";

const dir = mkdtempSync(join(tmpdir(), "syncabel-chunks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("large artifacts in parts", () => {
  it("round-trips bytes split in parts, aligned for typed arrays; a missing part reads as absent", async () => {
    const kbPath = await buildKbFromRows(dir, [["1", "uno", "G"], ["2", "dos", "G"]]);
    const index = LexicalIndex.build(new Map([["G", [{ name: "uno", code: "1", codes: ["1"] }, { name: "dos", code: "2", codes: ["2"] }]]]));
    const bytes = index.serialize();
    const kb = openKnowledgeBase(kbPath);
    try {
      putLargeArtifact(kb, "x", bytes, 100);
      expect(kb.getArtifact("x")).toBeUndefined();
      const back = getLargeArtifact(kb, "x") as Uint8Array;
      expect(back.byteOffset).toBe(0);
      expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
      expect(LexicalIndex.deserialize(back).search("uno", "G", 1)[0].code).toBe("1");
      putLargeArtifact(kb, "small", bytes.subarray(0, 50), 100);
      expect(Buffer.from(getLargeArtifact(kb, "small") as Uint8Array).equals(Buffer.from(bytes.subarray(0, 50)))).toBe(true);
    } finally {
      kb.close();
    }
    const db = new Database(kbPath);
    db.prepare("DELETE FROM artifacts WHERE key = 'x#1'").run();
    db.close();
    const again = openKnowledgeBase(kbPath);
    try {
      expect(getLargeArtifact(again, "x")).toBeUndefined();
    } finally {
      again.close();
    }
  });
});
