/**
 * Artifacts larger than one SQLite value (about 1 GB; the lexical index of a 3M-name KB) are stored in parts:
 * `KEY#parts` holds the part count and total size, `KEY#0`, `KEY#1`... the bytes. Small ones stay under `KEY`.
 */
import type { KnowledgeBase } from "./types.js";

export const ARTIFACT_PART_BYTES = 256 * 2 ** 20;

/** Store `bytes` under `key`, in parts when larger than `partBytes`. */
export function putLargeArtifact(kb: KnowledgeBase, key: string, bytes: Uint8Array, partBytes = ARTIFACT_PART_BYTES): void {
  if (bytes.byteLength <= partBytes) {
    kb.putArtifact(key, bytes);
    return;
  }
  const parts = Math.ceil(bytes.byteLength / partBytes);
  for (let i = 0; i < parts; i++) kb.putArtifact(`${key}#${i}`, bytes.subarray(i * partBytes, Math.min(bytes.byteLength, (i + 1) * partBytes)));
  // The manifest last: a crash midway leaves no manifest, so nothing half-written is ever read.
  kb.putArtifact(`${key}#parts`, new TextEncoder().encode(JSON.stringify({ parts, bytes: bytes.byteLength })));
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
