import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openKnowledgeBase } from "../../src/kb/index.js";
import type { KnowledgeBase } from "../../src/kb/types.js";
import { loadTokenizer } from "../../src/lm/tokenizer.js";
import { writeTestTokenizer } from "../../src/testing/test-tokenizer.js";
import type { TextTokenizer } from "../../src/lm/types.js";
import { buildGroupTrie, kbTrieKey, loadOrBuildKbTries } from "../../src/trie/kb-tries.js";
import { TokenTrie } from "../../src/trie/token-trie.js";
import { buildKbFromRows } from "../support/kb.js";

const TERMS = [
  ["59282003", "embolia pulmonar", "ENFERMEDAD"],
  ["59282003", "tromboembolismo pulmonar", "ENFERMEDAD"],
  ["73211009", "diabetes mellitus", "ENFERMEDAD"],
  ["38341003", "hipertensión arterial", "ENFERMEDAD"],
  ["38341003", "HTA", "ENFERMEDAD"],
  ["233604007", "neumonía", "ENFERMEDAD"],
  ["386661006", "fiebre", "SINTOMA"],
  ["386661006", "fiebre {alta}", "SINTOMA"],
  ["25064002", "cefalea", "SINTOMA"],
  ["49727002", "tos", "SINTOMA"],
  ["267036007", "disnea", "SINTOMA"],
  ["267036007", "dificultad respiratoria", "SINTOMA"],
  ["73761001", "colonoscopia", "PROCEDIMIENTO"],
  ["80146002", "apendicectomía", "PROCEDIMIENTO"],
  ["80146002", "extirpación del apéndice (procedimiento)", "PROCEDIMIENTO"],
];

describe("KB tries with the real Llama-3 tokenizer", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncabel-kbtries-"));
  const kbPath = join(dir, "kb.sqlite");
  let tokenizer: TextTokenizer;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(async () => {
    const tokDir = join(dir, "tokenizer");
    mkdirSync(tokDir);
    writeTestTokenizer(tokDir);
    tokenizer = await loadTokenizer(tokDir);
    await buildKbFromRows(dir, TERMS, kbPath);
  });

  function namesOf(kb: KnowledgeBase, group: string): string[] {
    return [...kb.entriesOfGroup(group)].map((e) => e.name);
  }

  it("stores exactly the group's names as ' es {name}' + EOS, rooted at the verb token", () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      const tries = loadOrBuildKbTries(kb, tokenizer, "es");
      expect([...tries.keys()].sort()).toEqual(["ENFERMEDAD", "PROCEDIMIENTO", "SINTOMA"]);
      const verbTokens = tokenizer.encode(" es", { addSpecialTokens: false });
      expect(verbTokens).toHaveLength(1);
      for (const [group, trie] of tries) {
        const names = namesOf(kb, group);
        expect(trie.sequenceCount).toBe(names.length);
        expect([...trie.next([])]).toEqual(verbTokens);
        const decoded: string[] = [];
        for (const seq of trie.sequences()) {
          expect(seq[seq.length - 1]).toBe(tokenizer.eosTokenId);
          // After EOS nothing follows.
          expect(trie.next(seq).length).toBe(0);
          decoded.push(tokenizer.decode(seq.slice(0, -1)));
        }
        expect(decoded.sort()).toEqual(names.map((n) => ` es ${n}`).sort());
        // Every name is reachable token by token and complete only with EOS.
        for (const name of names) {
          const ids = tokenizer.encode(` es ${name}`, { addSpecialTokens: false });
          for (let k = 0; k <= ids.length; k++) expect(trie.walk(ids.slice(0, k)), name).toBeGreaterThanOrEqual(0);
          expect(trie.next(ids)).toContain(tokenizer.eosTokenId);
          expect(trie.isComplete([...ids, tokenizer.eosTokenId])).toBe(true);
          expect(trie.isComplete(ids)).toBe(false);
        }
      }
      // Guided: a name of another group is not reachable.
      const cefalea = [...tokenizer.encode(" es cefalea", { addSpecialTokens: false }), tokenizer.eosTokenId];
      expect(tries.get("SINTOMA")?.isComplete(cefalea)).toBe(true);
      expect(tries.get("ENFERMEDAD")?.isComplete(cefalea)).toBe(false);
      // Cleaned name: braces became parentheses.
      expect(namesOf(kb, "SINTOMA")).toContain("fiebre (alta)");
    } finally {
      kb.close();
    }
  });

  it("caches the tries in the KB under a key with the tokenizer fingerprint, the verb and the format", () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      loadOrBuildKbTries(kb, tokenizer, "es");
      const key = kbTrieKey(tokenizer, "es", "SINTOMA");
      expect(key).toContain(tokenizer.fingerprint);
      expect(kbTrieKey(tokenizer, "is", "SINTOMA")).not.toBe(key);
      const cached = kb.getArtifact(key);
      expect(cached).toBeDefined();
      // The cached bytes are the trie a fresh build makes.
      expect(cached).toEqual(buildGroupTrie(kb, tokenizer, "es", "SINTOMA").toBytes());
      expect(kb.getArtifact(kbTrieKey(tokenizer, "is", "SINTOMA"))).toBeUndefined();
    } finally {
      kb.close();
    }
    // A reopened KB loads them back; another verb builds its own.
    const again = openKnowledgeBase(kbPath);
    try {
      const loaded = loadOrBuildKbTries(again, tokenizer, "is", { groups: ["SINTOMA"] });
      expect([...loaded.keys()]).toEqual(["SINTOMA"]);
      const seqs = [...(loaded.get("SINTOMA") as TokenTrie).sequences()].map((s) => tokenizer.decode(s.slice(0, -1)));
      expect(seqs.every((s) => s.startsWith(" is "))).toBe(true);
      expect(again.getArtifact(kbTrieKey(tokenizer, "is", "SINTOMA"))).toBeDefined();
    } finally {
      again.close();
    }
  });

  it("rebuilds a corrupt cached trie", () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      const key = kbTrieKey(tokenizer, "es", "PROCEDIMIENTO");
      const good = buildGroupTrie(kb, tokenizer, "es", "PROCEDIMIENTO").toBytes();
      const bad = good.slice();
      bad[bad.length - 5] ^= 0xff;
      kb.putArtifact(key, bad);
      const tries = loadOrBuildKbTries(kb, tokenizer, "es", { groups: ["PROCEDIMIENTO"] });
      expect(tries.get("PROCEDIMIENTO")?.toBytes()).toEqual(good);
      expect(kb.getArtifact(key)).toEqual(good);
    } finally {
      kb.close();
    }
  });

  it("fails clearly for an unknown group", () => {
    const kb = openKnowledgeBase(kbPath);
    try {
      expect(() => buildGroupTrie(kb, tokenizer, "es", "NADA")).toThrow(expect.objectContaining({ code: "TRIE_BUILD_FAILED" }));
    } finally {
      kb.close();
    }
  });
});
