/**
 * `npm run bench:container`: build the repository's Dockerfile and run the image, without a Docker engine.
 *
 * Uses buildah (Debian package `buildah`) with `--isolation chroot` (no user namespaces or cgroups needed: it
 * builds and runs inside an unprivileged-looking sandbox as root). The base image (`node:20-slim` cannot be
 * pulled without a registry) is made from Debian packages: `mmdebstrap --variant=minbase bookworm` plus this
 * machine's Node 20 (`/usr/bin/node`, npm and the headers, laid out as in node:20-slim) and its CA bundle (the machine reaches the npm registry and the
 * Debian mirror through a TLS-intercepting proxy); the Dockerfile gets it as `--build-arg BASE=...`. Then:
 *   - the image runs as uid 10001, has no compiler and no dev dependency;
 *   - `serve` from the image (KB on a read-only bind mount): /ready then POST /v1/link, answers equal to the
 *     same command run from the sources; SIGTERM exits 0;
 *   - `link-docs --shard 0/2`, `1/2` and `merge-predictions` from the image over SPACCC dev (data and KB mounted
 *     read-only, outputs to a writable mount): merged bytes equal to one run from the sources.
 * Prints one JSON object (build seconds, image size, checks). Without buildah it says so and exits 0.
 *
 *   npm run bench:container                  (apt-get install buildah mmdebstrap first)
 *   npm run bench:container -- --base IMAGE  (a Node 20 Debian image already in buildah's storage)
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildKnowledgeBase } from "../src/kb/index.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DATA = join(ROOT, "../shared/data/spaccc/");
const IMAGE = "localhost/syncabel:bench";
const BASE = "localhost/node20-debian-slim:bench";

function sh(command: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): { status: number | null; stdout: string; stderr: string; seconds: number } {
  const started = performance.now();
  const r = spawnSync(command, args, { cwd: options.cwd ?? ROOT, encoding: "utf8", timeout: options.timeoutMs ?? 3_600_000, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", seconds: (performance.now() - started) / 1000 };
}

function must(r: ReturnType<typeof sh>, what: string): ReturnType<typeof sh> {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr.slice(-3000)}`);
  return r;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** A Node 20 Debian bookworm base made from Debian packages and this machine's Node (see the module comment). */
function buildBase(work: string): number {
  const started = performance.now();
  const tar = join(work, "rootfs.tar");
  must(sh("mmdebstrap", ["--variant=minbase", "--include=ca-certificates", "bookworm", tar], { timeoutMs: 1_800_000 }), "mmdebstrap");
  const c = must(sh("buildah", ["from", "scratch"]), "buildah from scratch").stdout.trim();
  try {
    must(sh("buildah", ["add", c, tar, "/"]), "buildah add rootfs");
    must(sh("buildah", ["copy", c, process.execPath, "/usr/local/bin/node"]), "copy node");
    must(sh("buildah", ["copy", c, "/usr/lib/node_modules/npm", "/usr/local/lib/node_modules/npm"]), "copy npm");
    must(sh("buildah", ["copy", c, "/usr/include/node", "/usr/local/include/node"]), "copy Node headers"); // as in node:20-slim
    must(sh("buildah", ["copy", c, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt"]), "copy CA bundle");
    must(sh("buildah", ["run", "--isolation", "chroot", c, "--", "sh", "-c", "ln -sf /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -sf /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx"]), "npm links");
    must(sh("buildah", ["config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--env", "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt", c]), "buildah config");
    must(sh("buildah", ["commit", "-q", c, BASE]), "buildah commit");
  } finally {
    sh("buildah", ["rm", c]);
  }
  return (performance.now() - started) / 1000;
}

/** `buildah run` of the image (chroot isolation: host network, bind mounts) as the image's user. */
function runArgs(container: string, mounts: readonly string[], command: readonly string[]): string[] {
  return ["run", "--isolation", "chroot", "--user", "10001:10001", ...mounts.flatMap((m) => ["-v", m]), container, "--", ...command];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { base: { type: "string" } } });
  if (sh("buildah", ["--version"]).status !== 0) {
    process.stdout.write(`${JSON.stringify({ skipped: "buildah is not installed (apt-get install buildah mmdebstrap); Docker here has only its client, no engine" })}\n`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), "syncabel-bench-container-"));
  const result: Record<string, unknown> = { builder: must(sh("buildah", ["--version"]), "buildah").stdout.trim(), isolation: "chroot" };
  let container: string | undefined;
  try {
    const base = values.base ?? BASE;
    const haveBase = sh("buildah", ["inspect", "--type", "image", base]).status === 0;
    result.base = { image: base, built_from_debian_packages_seconds: values.base === undefined && !haveBase ? round(buildBase(work)) : null };
    const build = must(sh("buildah", ["bud", "--isolation", "chroot", "--layers", "--build-arg", `BASE=${base}`, "-t", IMAGE, "."], { timeoutMs: 3_600_000 }), "buildah bud");
    result.build_seconds = round(build.seconds);
    result.image_size = must(sh("buildah", ["images", "--format", "{{.Size}}", IMAGE]), "buildah images").stdout.trim();
    container = must(sh("buildah", ["from", IMAGE]), "buildah from").stdout.trim();
    const inImage = (command: string[], mounts: string[] = []): ReturnType<typeof sh> => sh("buildah", runArgs(container as string, mounts, command));
    result.user = must(inImage(["id", "-u"]), "id").stdout.trim();
    result.node = must(inImage(["node", "--version"]), "node --version").stdout.trim();
    result.compiler_in_image = inImage(["sh", "-c", "command -v g++ || command -v cc || true"]).stdout.trim() !== "";
    result.dev_dependencies_in_image = ["typescript", "vitest", "vite", "tsx"].filter((d) => inImage(["test", "-d", `/app/node_modules/${d}`]).status === 0);

    if (!existsSync(join(DATA, "test-dev.tsv"))) {
      result.runs = `skipped: no SPACCC data at ${DATA}`;
    } else {
      const kbDir = join(work, "kb");
      const outDir = join(work, "out");
      mkdirSync(kbDir);
      mkdirSync(outDir);
      await buildKnowledgeBase(join(DATA, "kb-proxy-dev.tsv"), join(kbDir, "kb.sqlite"));
      must(sh("chown", ["10001:10001", outDir]), "chown out");
      const mounts = [`${kbDir}:/kb:ro`, `${DATA}:/data:ro`, `${outDir}:/out`];
      // link-docs from the sources (the reference), then two shards and the merge from the image.
      const reference = join(work, "reference.tsv");
      must(sh(process.execPath, ["--import", "tsx", "test/cli/fixtures/cli-child.ts", "link-docs", "--kb", join(kbDir, "kb.sqlite"), "--format", "spaccc", "--linker", "tfidf", join(DATA, "test-dev.tsv"), "-o", reference]), "reference link-docs");
      const started = performance.now();
      for (const k of [0, 1]) {
        must(inImage(["node", "/app/bin/syncabel.js", "link-docs", "--kb", "/kb/kb.sqlite", "--format", "spaccc", "--linker", "tfidf", "--shard", `${k}/2`, "/data/test-dev.tsv", "-o", `/out/shard-${k}.tsv`], mounts), `link-docs shard ${k}/2 in the image`);
      }
      must(inImage(["node", "/app/bin/syncabel.js", "merge-predictions", "/out/shard-0.tsv", "/out/shard-1.tsv", "-o", "/out/merged.tsv"], mounts), "merge-predictions in the image");
      // The run records name the in-image paths (/kb, /data): compare the rows, which must be the same bytes.
      result.link_docs_sharded_in_image = {
        seconds: round((performance.now() - started) / 1000),
        merged_rows_equal_to_run_from_sources: readFileSync(join(outDir, "merged.tsv")).equals(readFileSync(reference)),
      };
      result.serve = await serveFromImage(container, mounts);
    }
  } finally {
    if (container !== undefined) sh("buildah", ["rm", container]);
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

/** The pid of the image's `serve --port PORT` process (found through /proc). */
function servePid(port: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      // The node process itself, not buildah's wrappers (their command lines hold the same arguments).
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      if (comm === "node" && args.includes("/app/bin/syncabel.js") && args.includes("serve") && args.includes(String(port))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** serve from the image: /ready, a link request (compared with the library from the sources), SIGTERM -> exit 0. */
async function serveFromImage(container: string, mounts: readonly string[]): Promise<Record<string, unknown>> {
  const port = 18_000 + Math.floor(Math.random() * 2000);
  const child = spawn("buildah", runArgs(container, mounts, ["node", "/app/bin/syncabel.js", "serve", "--kb", "/kb/kb.sqlite", "--port", String(port), "--linker", "tfidf"]), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  let ready = false;
  while (!ready && performance.now() - started < 60_000) {
    ready = await fetch(`${url}/ready`).then((r) => r.status === 200, () => false);
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  const sentences = ["Paciente con [embolia pulmonar masiva]{ENFERMEDAD} y disnea.", "Refiere [dolor torácico]{SINTOMA}."];
  const reply = ready ? ((await (await fetch(`${url}/v1/link`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sentences }) })).json()) as { results: unknown[] }) : undefined;
  // The same request to the sources' serve code path: the library's answer for the same KB.
  const { openLinker } = await import("../src/linker/open.js");
  const kbHost = mounts[0]?.split(":")[0] as string;
  const linker = await openLinker({ kb: join(kbHost, "kb.sqlite"), linker: "tfidf" });
  const expected = JSON.parse(JSON.stringify(await linker.sample(sentences, {})));
  await linker.close();
  // SIGTERM to the container's process itself, as Kubernetes sends it to the container's PID 1 (buildah run in chroot
  // isolation does not forward signals: it would stop with status 1 and take the process down).
  const pid = servePid(port);
  if (pid === undefined) child.kill("SIGTERM");
  else process.kill(pid, "SIGTERM");
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("no exit within 30 s"), 30_000))]);
  if (typeof code === "string") child.kill("SIGKILL");
  return {
    ready_after_seconds: ready ? round((performance.now() - started) / 1000) : null,
    answers_equal_library: reply !== undefined && JSON.stringify(reply.results) === JSON.stringify(expected),
    exit_status_after_sigterm: code,
    signalled: pid === undefined ? "buildah run" : "the node process in the container",
    drained_message: /shutting down: \d+ request/.test(stderr),
  };
}

await main();
