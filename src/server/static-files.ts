/**
 * The web page's static files (src/web, shipped in the package): read once, served from memory with a strict
 * Content-Security-Policy (own scripts and styles only, no CDN, no inline script).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
};

export interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/** src/web beside src/server when run from the sources; from dist/server the package's src/web. */
export function webDir(): string | undefined {
  for (const rel of ["../web/", "../../src/web/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

/** URL path -> file, for every plain file name of the folder (`/` is index.html). */
export function loadStaticFiles(dir: string | undefined = webDir()): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (dir === undefined) return files;
  for (const name of readdirSync(dir)) {
    const m = /^[\w-]+\.(\w+)$/.exec(name);
    const type = m === null ? undefined : TYPES[m[1]];
    if (type === undefined) continue;
    const file = { body: readFileSync(`${dir}${name}`), type };
    files.set(`/${name}`, file);
    if (name === "index.html") files.set("/", file);
  }
  return files;
}
