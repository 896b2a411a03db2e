/**
 * The per-group candidate tries of a KB (conventions, section 3): the token ids of `" {verb} {name}"` (no BOS)
 * then EOS, one trie per group, so every sequence starts with the verb token(s) that end the prompt. Built once
 * per (KB, tokenizer, verb) and cached inside the KB index as artifacts.
 */
import { SyncabelError, isSyncabelError } from "../errors.js";
import type { KnowledgeBase } from "../kb/types.js";
import type { TextTokenizer } from "../lm/types.js";
import { TOKEN_TRIE_FORMAT_VERSION, TokenTrie } from "./token-trie.js";

/**
 * How a group's names become trie sequences. The default (decoder-only models) is `" {verb} {name}"` + EOS; an
 * encoder-decoder model tokenizes names as they continue its decoder prompt (src/linker/seq2seq-prompt.ts).
 */
export interface NameTokenization {
  /** Told apart in the KB's cached tries ("" for the default). */
  readonly key: string;
  /** The tokens every sequence starts with: the prompt's last tokens (the verb's). */
  readonly root: readonly number[];
  /** The sequence stored for one name, starting with `root` and ending with EOS (TRIE_BUILD_FAILED when it cannot). */
  sequence(name: string): number[];
}

/** Artifact key of one group's trie: changes with the tokenizer, the verb, the name tokenization and the trie format. */
export function kbTrieKey(tokenizer: Pick<TextTokenizer, "fingerprint">, verb: string, group: string, tokenizationKey = ""): string {
  const kind = tokenizationKey === "" ? "" : `${encodeURIComponent(tokenizationKey)}/`;
  return `trie/v${TOKEN_TRIE_FORMAT_VERSION}/${tokenizer.fingerprint}/${encodeURIComponent(verb)}/${kind}${encodeURIComponent(group)}`;
}

/** Token ids the trie stores for one name: `encode(" {verb} {name}")` + EOS. */
export function nameTokenSequence(tokenizer: TextTokenizer, verb: string, name: string): number[] {
  const ids = tokenizer.encode(` ${verb} ${name}`, { addSpecialTokens: false });
  ids.push(tokenizer.eosTokenId);
  return ids;
}

/** The trie of one group; fails (TRIE_BUILD_FAILED) when a name does not start with the verb's tokens. */
export function buildGroupTrie(kb: KnowledgeBase, tokenizer: TextTokenizer, verb: string, group: string, tokenization?: NameTokenization): TokenTrie {
  if (!kb.hasGroup(group)) throw new SyncabelError("TRIE_BUILD_FAILED", `the KB has no group ${JSON.stringify(group)}`, { group });
  const root = tokenization?.root ?? tokenizer.encode(` ${verb}`, { addSpecialTokens: false });
  if (root.length === 0) throw new SyncabelError("TRIE_BUILD_FAILED", `the verb ${JSON.stringify(verb)} encodes to no token`, { verb });
  function* sequences(): Generator<number[]> {
    for (const entry of kb.entriesOfGroup(group)) {
      const seq = tokenization ? tokenization.sequence(entry.name) : nameTokenSequence(tokenizer, verb, entry.name);
      for (let i = 0; i < root.length; i++) {
        if (seq[i] !== root[i]) {
          throw new SyncabelError(
            "TRIE_BUILD_FAILED",
            `group ${group}: the tokens of ${JSON.stringify(` ${verb} ${entry.name}`)} (${seq.slice(0, root.length + 1).join(",")}...) do not start with the verb's tokens (${root.join(",")}): the trie would not be rooted at the verb`,
            { group, name: entry.name, verb },
          );
        }
      }
      yield seq;
    }
  }
  return TokenTrie.build(sequences());
}

export interface KbTriesOptions {
  /** Groups to load (default: every group of the KB). */
  readonly groups?: readonly string[];
  /** How names become sequences (default: the decoder-only `" {verb} {name}"` + EOS). */
  readonly tokenization?: NameTokenization;
}

/**
 * One trie per group, read from the KB's artifacts when present, else built and stored there. A corrupt cached
 * trie is rebuilt; a KB file that cannot be written (read-only) still gets its tries, only not cached.
 */
export function loadOrBuildKbTries(kb: KnowledgeBase, tokenizer: TextTokenizer, verb: string, options: KbTriesOptions = {}): Map<string, TokenTrie> {
  const tries = new Map<string, TokenTrie>();
  for (const group of options.groups ?? kb.groups()) {
    const key = kbTrieKey(tokenizer, verb, group, options.tokenization?.key);
    const cached = kb.getArtifact(key);
    let trie: TokenTrie | undefined;
    if (cached !== undefined) {
      try {
        trie = TokenTrie.fromBytes(cached);
      } catch (e) {
        if (!isSyncabelError(e) || e.code !== "TRIE_INVALID") throw e;
      }
    }
    if (trie === undefined) {
      trie = buildGroupTrie(kb, tokenizer, verb, group, options.tokenization);
      try {
        kb.putArtifact(key, trie.toBytes());
      } catch (e) {
        if (!isSyncabelError(e) || e.code !== "IO_ERROR") throw e;
      }
    }
    tries.set(group, trie);
  }
  return tries;
}
