/**
 * Who may call the server: an optional bearer token (required by the CLI beyond loopback) and an optional CORS
 * origin. The web page cannot send a header on navigation, so `GET /?token=T` answers with a same-site, HTTP-only
 * cookie holding the token, which the page's later requests carry.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const TOKEN_COOKIE = "syncabel_token";

/** Constant-time comparison: hashing first makes both sides the same length, so length leaks nothing either. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** The value of one cookie of the Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The token a request presents: `Authorization: Bearer T`, else the page's cookie. */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m === null ? undefined : m[1];
  }
  return cookieValue(req.headers.cookie, TOKEN_COOKIE);
}

export function isAuthorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = presentedToken(req);
  return given !== undefined && tokensEqual(given, token);
}

/** The cookie set by `GET /?token=T`. */
export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
}

/** CORS headers for an allowed origin (none when no origin is allowed or it is another one). */
export function corsHeaders(req: IncomingMessage, allowOrigin: string | undefined): Record<string, string> {
  const origin = req.headers.origin;
  if (allowOrigin === undefined || origin === undefined) return {};
  if (allowOrigin !== "*" && origin !== allowOrigin) return {};
  return {
    "access-control-allow-origin": allowOrigin === "*" ? "*" : origin,
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "authorization, content-type, x-request-id",
    "access-control-expose-headers": "x-request-id",
    "access-control-max-age": "600",
    vary: "origin",
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's X-Request-Id when it is short and printable (it goes into logs), else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The host name of a Host header value, lower-cased, without its port (IPv6 keeps no brackets); "" when malformed. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6 !== null) return v6[1] as string;
  const m = /^([a-z0-9._-]+)(?::\d{1,5})?$/.exec(h);
  return m === null ? "" : (m[1] as string).replace(/\.$/, "");
}

/** Whether `host` only reaches this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}

/**
 * DNS-rebinding guard of a server without a token: a page of another site that made its own name resolve to
 * 127.0.0.1 reaches the server, but its requests carry that name in Host. Allowed: loopback names, the address the
 * server is bound to (unless a wildcard), and `allowed` (`--allowed-host`). A request without Host (HTTP/1.0)
 * comes from no browser and is allowed.
 */
export function isAllowedHost(req: IncomingMessage, boundHost: string, allowed: ReadonlySet<string>): boolean {
  const header = req.headers.host;
  if (header === undefined) return true;
  const name = hostName(header);
  if (name === "") return false;
  if (isLoopbackHost(name) || allowed.has(name)) return true;
  const bound = hostName(boundHost.includes(":") && !boundHost.startsWith("[") ? `[${boundHost}]` : boundHost);
  return bound !== "" && bound !== "0.0.0.0" && bound !== "::" && name === bound;
}
