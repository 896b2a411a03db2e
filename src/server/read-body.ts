import type { IncomingMessage } from "node:http";
import { SyncabelError } from "../errors.js";

function tooLarge(maxBytes: number): SyncabelError {
  return new SyncabelError("REQUEST_TOO_LARGE", `the request body exceeds ${maxBytes} bytes`, { max_body_bytes: maxBytes });
}

/** Throws REQUEST_TOO_LARGE when the declared Content-Length is over the limit, before any byte is read. */
export function checkDeclaredLength(req: IncomingMessage, maxBytes: number): void {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
}

/**
 * Reads the whole body, at most `maxBytes`. Past the limit it stops reading (the stream is paused, nothing more is
 * kept) and rejects with REQUEST_TOO_LARGE; past `timeoutMs` it rejects with REQUEST_TIMEOUT: in both cases the
 * caller must then reply and close the connection.
 */
export function readBody(req: IncomingMessage, maxBytes: number, timeoutMs?: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // A client that stops mid-body must not hold the request (and what it would hold next) for long.
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            cleanup();
            req.pause();
            chunks.length = 0;
            reject(new SyncabelError("REQUEST_TIMEOUT", `the request body did not arrive within ${timeoutMs} ms`, { body_timeout_ms: timeoutMs }));
          }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        chunks.length = 0;
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new SyncabelError("REQUEST_INVALID", `the request body could not be read: ${e.message}`, {}, { cause: e }));
    };
    // 'close' before 'end': the client went away mid-body.
    const onClose = (): void => {
      cleanup();
      reject(new SyncabelError("REQUEST_INVALID", "the connection closed before the request body ended"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** Deepest nesting of arrays and objects a request body may have (the API's own bodies need 5). */
export const MAX_JSON_DEPTH = 32;

/**
 * Throws REQUEST_INVALID when the JSON text nests arrays/objects deeper than `maxDepth`: checked before parsing,
 * in one pass over the bytes (brackets inside strings do not count), so no deeply nested value ever reaches code
 * that walks it recursively (a stack overflow, answered 500).
 */
export function checkJsonDepth(raw: Uint8Array, maxDepth = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (inString) {
      if (b === 0x5c) i++; // backslash: the next byte is escaped
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > maxDepth) throw new SyncabelError("REQUEST_INVALID", `the JSON body nests arrays/objects more than ${maxDepth} levels deep`, { max_depth: maxDepth });
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
}
