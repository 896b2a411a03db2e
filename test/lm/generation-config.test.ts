import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readEosTokenIds } from "../../src/lm/generation-config.js";

describe("readEosTokenIds", () => {
  it("prefers generation_config.json, accepts one id or a list, falls back to config.json", () => {
    const dir = mkdtempSync(join(tmpdir(), "syncabel-gencfg-"));
    try {
      expect(readEosTokenIds(dir)).toBeUndefined();
      writeFileSync(join(dir, "config.json"), JSON.stringify({ eos_token_id: 7 }));
      expect(readEosTokenIds(dir)).toEqual([7]);
      writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [128001, 128009] }));
      expect(readEosTokenIds(dir)).toEqual([128001, 128009]);
      writeFileSync(join(dir, "generation_config.json"), "{not json");
      expect(() => readEosTokenIds(dir)).toThrow(/generation_config\.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
