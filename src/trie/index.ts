export { TokenTrie, TOKEN_TRIE_FORMAT_VERSION } from "./token-trie.js";
export { MapTrie, type MapTrieNode } from "./map-trie.js";
export { buildGroupTrie, kbTrieKey, loadOrBuildKbTries, nameTokenSequence, type KbTriesOptions } from "./kb-tries.js";
