import type { ServerResponse } from "node:http";
import { isSyncabelError, type ErrorCode } from "../errors.js";

/** HTTP status for an error code: request problems are the client's (4xx), busy is 503, the rest is ours (500). */
const STATUS_OF_CODE: Partial<Record<ErrorCode, number>> = {
  REQUEST_INVALID: 400,
  REQUEST_TOO_LARGE: 413,
  SERVER_BUSY: 503,
  SERVER_NOT_READY: 503,
  REQUEST_TIMEOUT: 408,
  REQUEST_UNAUTHORIZED: 401,
  REQUEST_HOST_NOT_ALLOWED: 403,
  LINKER_INVALID_OPTIONS: 400,
  DECODE_INVALID_OPTIONS: 400,
};

export function statusOfCode(code: ErrorCode): number {
  return STATUS_OF_CODE[code] ?? 500;
}

export interface JsonReplyOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /** Close the connection after the reply (used when the request body was not read to its end). */
  readonly close?: boolean;
}

/** Writes `value` as a JSON reply; a no-op when the client has already gone. */
export function sendJson(res: ServerResponse, status: number, value: unknown, options: JsonReplyOptions = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...(options.close ? { connection: "close" } : {}),
    ...options.headers,
  });
  res.end(body);
}

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * The wire error for anything thrown: SyncabelErrors keep their code and message; anything else becomes an opaque
 * 500 (its message may hold paths or internals; the server log has it).
 */
export function wireErrorOf(e: unknown): { status: number; error: WireError } {
  if (isSyncabelError(e)) return { status: statusOfCode(e.code), error: { code: e.code, message: e.message } };
  return { status: 500, error: { code: "INTERNAL", message: "internal server error" } };
}

export function sendError(res: ServerResponse, status: number, error: WireError, options: JsonReplyOptions = {}): void {
  sendJson(res, status, { error }, options);
}
