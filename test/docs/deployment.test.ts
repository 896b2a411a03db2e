/**
 * docs/deployment.md and the Dockerfile hold together: the YAML parses (PyYAML, when the machine has it) and says
 * what the page says, the shell scripts pass `bash -n`, every CLI flag used is one the command accepts, and the
 * Dockerfile's user and copied paths match the manifests and the repository.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { usage as linkDocsUsage } from "../../src/cli/commands/link-docs.js";
import { usage as mergeUsage } from "../../src/cli/commands/merge-predictions.js";
import { usage as serveUsage } from "../../src/cli/commands/serve.js";
import { LINKER_ARGS } from "../../src/cli/linker-args.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOC = readFileSync(join(ROOT, "docs/deployment.md"), "utf8");
const DOCKERFILE = readFileSync(join(ROOT, "Dockerfile"), "utf8");

function blocks(lang: string): string[] {
  return [...DOC.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1] as string);
}

type Yaml = Record<string, unknown>;

/** Every YAML document of the page, parsed by PyYAML (undefined without python3 + yaml). */
function parseYaml(): Yaml[] | undefined {
  const script = "import sys, json, yaml\nprint(json.dumps([d for b in sys.stdin.read().split('\\n#-#-#\\n') for d in yaml.safe_load_all(b) if d is not None]))";
  const r = spawnSync("python3", ["-c", script], { input: blocks("yaml").join("\n#-#-#\n"), encoding: "utf8" });
  if (r.status !== 0) {
    if (/No module named|ENOENT/.test(`${r.stderr}${r.error?.message ?? ""}`)) return undefined;
    throw new Error(`the YAML of docs/deployment.md does not parse: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as Yaml[];
}

const at = (v: unknown, ...path: (string | number)[]): unknown => path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], v);
const USER_UID = Number(/^USER (\d+)/m.exec(DOCKERFILE)?.[1]);

const yamlDocs = parseYaml();
if (yamlDocs === undefined) console.warn("deployment.test: YAML checks skipped (python3 with PyYAML not found)");

describe.skipIf(yamlDocs === undefined)("docs/deployment.md: the Kubernetes manifests", () => {
  const docs = yamlDocs ?? [];
  const find = (kind: string, name: string): Yaml => {
    const d = docs.find((x) => x.kind === kind && at(x, "metadata", "name") === name);
    if (d === undefined) throw new Error(`no ${kind} ${name} in docs/deployment.md`);
    return d;
  };

  it("the Indexed Job gives each pod its shard, the merge Job sees the corpus where the shards did", () => {
    const job = find("Job", "syncabel-link");
    expect(at(job, "spec", "completionMode")).toBe("Indexed");
    const n = at(job, "spec", "completions") as number;
    const container = at(job, "spec", "template", "spec", "containers", 0);
    const command = (at(container, "args") as string[]).join(" ");
    expect(command).toContain(`--shard "$JOB_COMPLETION_INDEX/${n}"`);
    expect(at(job, "spec", "template", "spec", "restartPolicy")).toBe("Never");
    const mounts = at(container, "volumeMounts") as { name: string; mountPath: string; readOnly?: boolean }[];
    expect(mounts.find((m) => m.name === "kb")?.readOnly).toBe(true);
    const merge = find("Job", "syncabel-merge");
    const mergeMounts = at(merge, "spec", "template", "spec", "containers", 0, "volumeMounts") as typeof mounts;
    expect(mergeMounts.find((m) => m.name === "corpus")?.mountPath).toBe(mounts.find((m) => m.name === "corpus")?.mountPath);
    expect(mergeMounts.find((m) => m.name === "out")?.mountPath).toBe(mounts.find((m) => m.name === "out")?.mountPath);
    for (const j of [job, merge]) expect(at(j, "spec", "template", "spec", "securityContext", "runAsUser")).toBe(USER_UID);
  });

  it("the Deployment: probes on /ready and /health, token from the Secret, KB read-only, non-root, grace above the drain bound", () => {
    const deployment = find("Deployment", "syncabel");
    const pod = at(deployment, "spec", "template", "spec");
    const container = at(pod, "containers", 0);
    expect(at(container, "readinessProbe", "httpGet", "path")).toBe("/ready");
    expect(at(container, "livenessProbe", "httpGet", "path")).toBe("/health");
    expect(at(container, "startupProbe", "httpGet", "path")).toBe("/health");
    const secret = find("Secret", "syncabel-token");
    const env = (at(container, "env") as { name: string; valueFrom?: unknown }[]).find((e) => e.name === "SYNCABEL_TOKEN");
    expect(at(env, "valueFrom", "secretKeyRef", "name")).toBe(at(secret, "metadata", "name"));
    expect(Object.keys(at(secret, "stringData") as object)).toContain(at(env, "valueFrom", "secretKeyRef", "key"));
    const mounts = at(container, "volumeMounts") as { name: string; mountPath: string; readOnly?: boolean }[];
    const args = at(container, "args") as string[];
    const kbArg = args[args.indexOf("--kb") + 1] as string;
    const kbMount = mounts.find((m) => kbArg.startsWith(`${m.mountPath}/`));
    expect(kbMount?.readOnly).toBe(true);
    expect(at(pod, "securityContext", "runAsNonRoot")).toBe(true);
    expect(at(pod, "securityContext", "runAsUser")).toBe(USER_UID);
    const grace = Number(args[args.indexOf("--shutdown-grace") + 1]);
    const preStop = Number((at(container, "lifecycle", "preStop", "exec", "command") as string[])[1]);
    expect(at(pod, "terminationGracePeriodSeconds") as number).toBeGreaterThan(grace + preStop);
    expect(args[0]).toBe("serve");
    expect(args[args.indexOf("--host") + 1]).toBe("0.0.0.0"); // reachable by the Service; the token is then required
    const port = (at(container, "ports") as { name: string; containerPort: number }[])[0];
    expect(Number(args[args.indexOf("--port") + 1])).toBe(port?.containerPort);
    // Service -> pods, HPA -> Deployment, ServiceMonitor -> Service port and the token.
    const service = find("Service", "syncabel");
    expect(at(service, "spec", "selector")).toEqual(at(deployment, "spec", "template", "metadata", "labels"));
    expect(at(service, "spec", "ports", 0, "targetPort")).toBe(port?.name);
    const hpa = find("HorizontalPodAutoscaler", "syncabel");
    expect(at(hpa, "spec", "scaleTargetRef")).toMatchObject({ kind: "Deployment", name: at(deployment, "metadata", "name") });
    const monitor = find("ServiceMonitor", "syncabel");
    expect(at(monitor, "spec", "endpoints", 0, "path")).toBe("/metrics");
    expect(at(monitor, "spec", "endpoints", 0, "authorization", "credentials", "name")).toBe(at(secret, "metadata", "name"));
    expect(at(monitor, "spec", "selector", "matchLabels")).toEqual(at(service, "metadata", "labels"));
  });
});

describe("docs/deployment.md: scripts and command lines", () => {
  it("the shell scripts pass bash -n", () => {
    const scripts = blocks("bash");
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    for (const s of scripts) {
      const r = spawnSync("bash", ["-n"], { input: s, encoding: "utf8" });
      expect(r.status, `${r.stderr}\n${s}`).toBe(0);
    }
    // The Slurm array is 0-based like --shard, of the size the script gives --shard.
    const sbatch = scripts.find((s) => s.includes("#SBATCH --array")) as string;
    const [, last] = /#SBATCH --array=0-(\d+)/.exec(sbatch) ?? [];
    expect(Number(last) + 1).toBe(Number(/SHARDS=(\d+)/.exec(sbatch)?.[1]));
    expect(sbatch).toContain('--shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}"');
  });

  it("every flag given to link-docs, merge-predictions and serve is one the command accepts", () => {
    const usages: Record<string, string> = { "link-docs": linkDocsUsage, "merge-predictions": mergeUsage, serve: serveUsage };
    const linkerFlags = Object.keys(LINKER_ARGS).map((k) => `--${k}`);
    const code = [...blocks("bash"), ...blocks("sh"), ...blocks("yaml")].join("\n").replace(/\\\n/g, " ");
    const commands = [...code.matchAll(/syncabel(?:\.js)? (link-docs|merge-predictions|serve)\b([^\n]*(?:\n\s+--[^\n]*)*)/g)];
    // The Deployment's args array: ["serve", "--kb", ...].
    const arrays = [...code.matchAll(/args: \["(serve|link-docs)", ([^\]]*)\]/g)];
    let checked = 0;
    for (const [, command, rest] of [...commands, ...arrays]) {
      for (const flag of (rest as string).match(/--[a-z][a-z-]*/g) ?? []) {
        checked++;
        expect(usages[command as string]?.includes(flag) || (command !== "merge-predictions" && linkerFlags.includes(flag)), `${command} ${flag}`).toBe(true);
      }
    }
    expect(checked).toBeGreaterThan(15);
  });

  it("the Dockerfile: Node 20 slim, npm ci --omit=dev, a numeric non-root user, copies paths that exist", () => {
    expect(DOCKERFILE).toMatch(/^ARG BASE=node:20-slim$/m);
    expect(DOCKERFILE).toMatch(/npm ci --omit=dev/);
    expect(USER_UID).toBeGreaterThan(0);
    for (const [, src] of DOCKERFILE.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const path of (src as string).split(/\s+/)) expect(existsSync(join(ROOT, path)), path).toBe(true);
    }
    const entry = /ENTRYPOINT \["node", "\/app\/(.+)"\]/.exec(DOCKERFILE)?.[1] as string;
    expect(existsSync(join(ROOT, entry))).toBe(true);
    expect(DOCKERFILE).toMatch(/^FROM \$\{BASE\}$/m);
  });
});
