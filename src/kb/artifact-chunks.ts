/**
 * Artifacts larger than one SQLite value (about 1 GB; the lexical index of a 3M-name KB) are stored in parts:
 * `KEY#parts` holds the part count and total size, `KEY#0`, `KEY#1`... the bytes. Small ones stay under `KEY`.
 */
import type { KnowledgeBase } from "./types.js";

export const ARTIFACT_PART_BYTES = 256 * 2 ** 20;

/**
 * Store `bytes` under `key`, in parts when larger than `partBytes`. With a KB that writes several artifacts in one
 * transaction, the parts, the manifest and the removal of any older parts are one commit.
 */
export function putLargeArtifact(kb: KnowledgeBase, key: string, bytes: Uint8Array, partBytes = ARTIFACT_PART_BYTES): void {
  const entries: { key: string; bytes: Uint8Array }[] = [];
  if (bytes.byteLength <= partBytes) entries.push({ key, bytes });
  else {
    const parts = Math.ceil(bytes.byteLength / partBytes);
    for (let i = 0; i < parts; i++) entries.push({ key: `${key}#${i}`, bytes: bytes.subarray(i * partBytes, Math.min(bytes.byteLength, (i + 1) * partBytes)) });
    // The manifest last: a KB without transactions that crashes midway has no manifest, so nothing half-written is read.
    entries.push({ key: `${key}#parts`, bytes: new TextEncoder().encode(JSON.stringify({ parts, bytes: bytes.byteLength })) });
  }
  if (kb.putArtifacts !== undefined) kb.putArtifacts(entries, { replacing: key });
  else for (const e of entries) kb.putArtifact(e.key, e.bytes);
}

/** The bytes stored by `putLargeArtifact` (one 8-byte aligned buffer), or undefined when absent or incomplete. */
export function getLargeArtifact(kb: KnowledgeBase, key: string): Uint8Array | undefined {
  const manifest = kb.getArtifact(`${key}#parts`);
  if (manifest === undefined) return kb.getArtifact(key);
  let meta: { parts?: unknown; bytes?: unknown };
  try {
    meta = JSON.parse(new TextDecoder().decode(manifest)) as { parts?: unknown; bytes?: unknown };
  } catch {
    return undefined;
  }
  if (typeof meta.parts !== "number" || typeof meta.bytes !== "number" || !Number.isSafeInteger(meta.bytes) || meta.bytes < 0) return undefined;
  const out = new Uint8Array(meta.bytes);
  let at = 0;
  for (let i = 0; i < meta.parts; i++) {
    const part = kb.getArtifact(`${key}#${i}`);
    if (part === undefined || at + part.byteLength > out.byteLength) return undefined;
    out.set(part, at);
    at += part.byteLength;
  }
  return at === out.byteLength ? out : undefined;
}
