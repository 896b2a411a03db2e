/**
 * Knowledge bases at full scale: a synthetic SNOMED CT RF2 release of 1M concepts / 3M descriptions (and the same
 * content as UMLS RRF), built into a KB with the SPACCC proxy KB names merged in, then every consumer at that size.
 *
 *   npm run bench:kb -- [--concepts 1000000] [--work DIR] [--phases gen,build,umls,info,trie,trie-load,lexical,query,relations]
 *                       [--budgets 100000,200000]   (extra posting budgets to compare in the query phase)
 *
 * The release carries an is-a DAG (src/testing/terminology-generator.ts isaParents); the relations phase loads it
 * from the KB, grades 10^5 random (gold, prediction) pairs as `eval --hierarchy` does (cold: the closure filled
 * lazily; warm), spot-checks ancestors against a breadth-first search, then materialises the whole transitive
 * closure (build seconds, pairs, MB).
 *
 * Each phase runs in its own Node process (its peak RSS is its own; cold opens are cold in-process); the parent
 * prints one JSON object. SPACCC files come from ../shared/data/spaccc (query phase skipped when absent). Wall
 * and CPU seconds are both reported: the machine may be shared.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const SPACCC = resolve(ROOT, "../shared/data/spaccc");
const PROXY = join(SPACCC, "kb-proxy-dev.tsv");
const VERB = "es";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const secs = (ms: number): number => Math.round(ms) / 1000;

function resources(started: number, cpu0: NodeJS.CpuUsage): Record<string, number> {
  const cpu = process.cpuUsage(cpu0);
  return { wallSeconds: secs(performance.now() - started), cpuSeconds: secs((cpu.user + cpu.system) / 1000), peakRssMB: mb(process.resourceUsage().maxRSS * 1024) };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

interface Paths {
  work: string;
  kb: string;
  kbUmls: string;
  releases: string;
}

function paths(work: string): Paths {
  return { work, kb: join(work, "kb-rf2.sqlite"), kbUmls: join(work, "kb-umls.sqlite"), releases: join(work, "releases") };
}

/** One phase, in this process. */
async function phase(name: string, p: Paths, concepts: number): Promise<Record<string, unknown>> {
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const gen = await import("../src/testing/terminology-generator.js");
  switch (name) {
    case "gen": {
      rmSync(p.releases, { recursive: true, force: true });
      mkdirSync(p.releases, { recursive: true });
      const rf2 = await gen.writeRf2Release(p.releases, { concepts, relationships: true });
      const rrf = await gen.writeRrfRelease(p.releases, { concepts });
      return { concepts, descriptions: rf2.descriptions, isaRelationships: rf2.relationships, rrfAtoms: rrf.atoms, ...resources(started, cpu0) };
    }
    case "build": {
      const { buildKnowledgeBase } = await import("../src/kb/build.js");
      const { rf2Source, DEFAULT_SEMANTIC_TAG_GROUPS, gazetteerSource, groupMapFrom } = await import("../src/kb/sources/index.js");
      const tagGroups = groupMapFrom([...DEFAULT_SEMANTIC_TAG_GROUPS, ["estructura corporal", "ANATOMIA"]]);
      const folder = join(p.releases, `SnomedCT_SpanishSyntheticRF2_PRODUCTION_${gen.RF2_EFFECTIVE_TIME}T120000Z`);
      const sources = [rf2Source([folder], { includeFsn: true, tagGroups }), ...(existsSync(PROXY) ? [gazetteerSource(PROXY, "tsv")] : [])];
      const r = await buildKnowledgeBase(sources, p.kb);
      const res = resources(started, cpu0);
      return { rowsRead: r.rowsRead, names: r.names, concepts: r.concepts, groups: r.groups, relations: r.relations.stored, namesPerSecond: Math.round(r.names / res.wallSeconds), kbFileMB: mb(statSync(p.kb).size), ...res };
    }
    case "umls": {
      const { buildKnowledgeBase } = await import("../src/kb/build.js");
      const { umlsSource, groupMapFrom } = await import("../src/kb/sources/index.js");
      const meta = join(p.releases, "2025AA", "META");
      const groupMap = groupMapFrom([["T047", "ENFERMEDAD"], ["T061", "PROCEDIMIENTO"], ["T184", "SINTOMA"], ["T023", "ANATOMIA"]]);
      const r = await buildKnowledgeBase([umlsSource(join(meta, "MRCONSO.RRF"), { mrsty: join(meta, "MRSTY.RRF"), semGroups: join(p.releases, "SemGroups.txt"), groupMap })], p.kbUmls);
      const res = resources(started, cpu0);
      rmSync(p.kbUmls, { force: true });
      return { names: r.names, concepts: r.concepts, xrefs: r.xrefs, namesPerSecond: Math.round(r.names / res.wallSeconds), ...res };
    }
    case "info": {
      const { openKnowledgeBase } = await import("../src/kb/sqlite-kb.js");
      const t0 = performance.now();
      const kb = openKnowledgeBase(p.kb);
      const openSeconds = secs(performance.now() - t0);
      kb.close();
      const { run } = await import("../src/cli/commands/kb.js");
      const { Writable, Readable } = await import("node:stream");
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      const t1 = performance.now();
      await run(["info", p.kb, "--json"], { stdin: Readable.from([]), stdout: sink, stderr: sink, isTTY: false, env: {} });
      return { coldOpenSeconds: openSeconds, kbInfoSeconds: secs(performance.now() - t1), ...resources(started, cpu0) };
    }
    case "trie": {
      const { openKnowledgeBase } = await import("../src/kb/sqlite-kb.js");
      const { loadTokenizer } = await import("../src/lm/tokenizer.js");
      const { writeTestTokenizer } = await import("../src/testing/test-tokenizer.js");
      const { loadOrBuildKbTries } = await import("../src/trie/kb-tries.js");
      const tokDir = join(p.work, "tokenizer");
      mkdirSync(tokDir, { recursive: true });
      writeTestTokenizer(tokDir);
      const tokenizer = await loadTokenizer(tokDir);
      const kb = openKnowledgeBase(p.kb);
      try {
        const names = kb.stats().names;
        const tries = loadOrBuildKbTries(kb, tokenizer, VERB);
        const bytes = [...tries.values()].reduce((s, t) => s + t.byteLength, 0);
        return { names, trieBuildSeconds: secs(performance.now() - started), trieMB: mb(bytes), bytesPerName: Math.round((bytes / names) * 10) / 10, ...resources(started, cpu0) };
      } finally {
        kb.close();
      }
    }
    case "trie-load": {
      const { openKnowledgeBase } = await import("../src/kb/sqlite-kb.js");
      const { loadTokenizer } = await import("../src/lm/tokenizer.js");
      const { loadOrBuildKbTries } = await import("../src/trie/kb-tries.js");
      const tokenizer = await loadTokenizer(join(p.work, "tokenizer"));
      const kb = openKnowledgeBase(p.kb);
      try {
        const t0 = performance.now();
        const tries = loadOrBuildKbTries(kb, tokenizer, VERB);
        return { trieLoadSeconds: secs(performance.now() - t0), groups: tries.size, ...resources(started, cpu0) };
      } finally {
        kb.close();
      }
    }
    case "lexical": {
      const { openKnowledgeBase } = await import("../src/kb/sqlite-kb.js");
      const { buildLexicalIndex, TFIDF_ARTIFACT_KEY } = await import("../src/linker/tfidf-linker.js");
      const { putLargeArtifact } = await import("../src/kb/artifact-chunks.js");
      const kb = openKnowledgeBase(p.kb);
      try {
        const heap0 = process.memoryUsage().heapUsed;
        const index = buildLexicalIndex(kb);
        const buildSeconds = secs(performance.now() - started);
        const heapMB = mb(process.memoryUsage().heapUsed - heap0);
        const t1 = performance.now();
        const bytes = index.serialize();
        putLargeArtifact(kb, TFIDF_ARTIFACT_KEY, bytes);
        return { lexicalBuildSeconds: buildSeconds, indexArraysMB: mb(index.indexBytes()), heapMB, artifactMB: mb(bytes.byteLength), storeSeconds: secs(performance.now() - t1), ...resources(started, cpu0) };
      } finally {
        kb.close();
      }
    }
    case "query": {
      if (!existsSync(join(SPACCC, "test-dev.tsv"))) return { skipped: "../shared/data/spaccc absent" };
      const { openKnowledgeBase } = await import("../src/kb/sqlite-kb.js");
      const { loadOrBuildLexicalIndex, TfidfLinker } = await import("../src/linker/tfidf-linker.js");
      const kb = openKnowledgeBase(p.kb);
      try {
        const t0 = performance.now();
        const { index, built } = loadOrBuildLexicalIndex(kb);
        const loadSeconds = secs(performance.now() - t0);
        const mentions = readFileSync(join(SPACCC, "test-dev.tsv"), "utf8").split("\n").slice(1).filter((l) => l.trim() !== "").map((l) => l.split("\t"))
          .filter((c) => c[5] !== "NO_CODE" && index.hasGroup(c[1])).map((c) => ({ span: c[4], group: c[1], code: c[5] }));
        const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;
        const round = (x: number): number => Math.round(x * 1000) / 1000;
        /** Every mention once: Recall@64, wall and CPU latency per mention (CPU: the machine may be shared). */
        const measure = (label: string, exhaustive: boolean, budget?: number) => {
          index.setExhaustiveSearch(exhaustive);
          if (budget !== undefined) index.setPostingBudget(budget);
          const before = index.postingsScanned();
          const wall: number[] = [];
          const cpu: number[] = [];
          const lists: string[][] = [];
          let hits = 0;
          for (const m of mentions) {
            const t = performance.now();
            const c = process.cpuUsage();
            const got = index.search(m.span, m.group, 64);
            cpu.push(cpuMs(process.cpuUsage(c)));
            wall.push(performance.now() - t);
            lists.push(got.map((g) => g.code));
            if (got.some((g) => g.code === m.code)) hits++;
          }
          wall.sort((a, b) => a - b);
          cpu.sort((a, b) => a - b);
          const stats = { label, recallAt64: Math.round((1000 * hits) / mentions.length) / 10, p50ms: round(percentile(wall, 0.5)), p99ms: round(percentile(wall, 0.99)), cpuP50ms: round(percentile(cpu, 0.5)), cpuP99ms: round(percentile(cpu, 0.99)), postingsPerQuery: Math.round((index.postingsScanned() - before) / mentions.length) };
          process.stderr.write(`    ${JSON.stringify(stats)}\n`);
          return { stats, lists };
        };
        measure("warm-up", false);
        const exact = measure("exact (every posting)", true);
        const budgets = arg("budgets", "").split(",").filter((b) => b !== "").map(Number);
        const variants = [measure("bounded (default)", false), ...budgets.map((b) => measure(`bounded ${b}`, false, b))];
        index.setExhaustiveSearch(false);
        index.setPostingBudget();
        const sameAsExact = (lists: string[][]): number => lists.filter((l, i) => l.join() === exact.lists[i].join()).length;
        const search = [exact.stats, ...variants.map((v) => ({ ...v.stats, identicalTop64: sameAsExact(v.lists) }))];
        const linker = new TfidfLinker(index);
        const t1 = performance.now();
        for (const m of mentions) linker.linkMention(m.span, m.group, 5);
        const linkerMentionsPerSecond = Math.round(mentions.length / ((performance.now() - t1) / 1000));
        return { mentions: mentions.length, groupSizes: index.sizes(), indexLoadSeconds: loadSeconds, indexWasBuilt: built, search, linkerMentionsPerSecond, ...resources(started, cpu0) };
      } finally {
        kb.close();
      }
    }
    case "relations":
      return relationsPhase(p, started, cpu0);
    default:
      throw new Error(`unknown phase ${name}`);
  }
}

/** Load the hierarchy, grade 10^5 pairs (cold, warm), check a sample by BFS, materialise the closure. */
async function relationsPhase(p: Paths, started: number, cpu0: NodeJS.CpuUsage): Promise<Record<string, unknown>> {
  const { openHierarchy } = await import("../src/kb/relations.js");
  const { gradePair } = await import("../src/eval/hierarchy-grades.js");
  const { mulberry32 } = await import("../src/util/random.js");
  const Database = (await import("better-sqlite3")).default;
  const t0 = performance.now();
  const l0 = process.cpuUsage();
  const h = openHierarchy(p.kb);
  const loadSeconds = secs(performance.now() - t0);
  const loadCpu = process.cpuUsage(l0);
  const heapAfterLoadMB = mb(process.memoryUsage().heapUsed);
  // Codes and edges read independently, for the pairs and the BFS check.
  const db = new Database(p.kb, { readonly: true });
  const edges = db.prepare("SELECT child, parent FROM relations WHERE kind = 'is_a'").raw().all() as [string, string][];
  db.close();
  const parents = new Map<string, string[]>();
  for (const [c, par] of edges) (parents.get(c) ?? parents.set(c, []).get(c)!).push(par);
  const children = new Map<string, string[]>();
  for (const [c, par] of edges) (children.get(par) ?? children.set(par, []).get(par)!).push(c);
  const codes = [...parents.keys()];
  const rand = mulberry32(99);
  const pickCode = () => codes[Math.floor(rand() * codes.length)];
  const walkUp = (c: string, steps: number): string => {
    let v = c;
    for (let i = 0; i < steps; i++) {
      const ps = parents.get(v);
      if (!ps) break;
      v = ps[Math.floor(rand() * ps.length)];
    }
    return v;
  };
  // Pairs like a linker's misses: an ancestor, a descendant, a sibling, or anything.
  const pairs: [string, string][] = [];
  for (let i = 0; i < 100_000; i++) {
    const g = pickCode();
    const kind = i % 4;
    if (kind === 0) pairs.push([g, walkUp(g, 1 + Math.floor(rand() * 3))]);
    else if (kind === 1) pairs.push([walkUp(g, 1 + Math.floor(rand() * 2)), g]);
    else if (kind === 2) {
      const sibs = children.get(walkUp(g, 1)) ?? [g];
      pairs.push([g, sibs[Math.floor(rand() * sibs.length)]]);
    } else pairs.push([g, pickCode()]);
  }
  const grade = () => {
    const counts: Record<string, number> = {};
    const t = performance.now();
    const c0 = process.cpuUsage();
    for (const [g, pr] of pairs) {
      const r = gradePair(g, pr, h).grade;
      counts[r] = (counts[r] ?? 0) + 1;
    }
    const cpu = process.cpuUsage(c0);
    return { seconds: secs(performance.now() - t), cpuSeconds: secs((cpu.user + cpu.system) / 1000), counts };
  };
  const cold = grade();
  const afterCold = h.closureStats();
  const warm = grade();
  // Spot check: 1000 concepts' ancestors against a breadth-first search over the edges.
  let mismatches = 0;
  for (let i = 0; i < 1000; i++) {
    const c = pickCode();
    const dist = new Map<string, number>();
    let frontier = [c];
    for (let d = 1; frontier.length > 0; d++) {
      frontier = frontier.flatMap((v) => parents.get(v) ?? []).filter((x) => !dist.has(x));
      for (const x of frontier) if (!dist.has(x)) dist.set(x, d);
    }
    const got = h.ancestors(c);
    if (got.length !== dist.size || got.some((a) => dist.get(a.code) !== a.distance)) mismatches++;
  }
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const full = h.materialize();
  const closureSeconds = secs(performance.now() - t1);
  const closureCpu = process.cpuUsage(c1);
  return {
    concepts: h.size,
    isaEdges: h.edgeCount,
    cycleEdgesIgnored: h.cycleEdgesIgnored,
    loadSeconds,
    loadCpuSeconds: secs((loadCpu.user + loadCpu.system) / 1000),
    heapAfterLoadMB,
    grade100k: { coldSeconds: cold.seconds, coldCpuSeconds: cold.cpuSeconds, warmSeconds: warm.seconds, warmCpuSeconds: warm.cpuSeconds, counts: cold.counts, closureFilledByCold: afterCold },
    bfsSpotCheck: { concepts: 1000, mismatches },
    fullClosure: { seconds: closureSeconds, cpuSeconds: secs((closureCpu.user + closureCpu.system) / 1000), pairs: full.entries, meanAncestors: Math.round((full.entries / full.computed) * 10) / 10, MB: mb(full.bytes) },
    ...resources(started, cpu0),
  };
}

async function main(): Promise<void> {
  const concepts = Number(arg("concepts", "1000000"));
  const p = paths(resolve(arg("work", join(ROOT, ".scratch", "kb-bench"))));
  const one = arg("phase", "");
  if (one !== "") {
    process.stdout.write(`${JSON.stringify(await phase(one, p, concepts))}\n`);
    return;
  }
  mkdirSync(p.work, { recursive: true });
  const phases = arg("phases", "gen,build,umls,info,trie,trie-load,lexical,query,relations").split(",");
  const report: Record<string, unknown> = { concepts, machine: { cpus: (await import("node:os")).cpus().length, node: process.version } };
  for (const name of phases) {
    process.stderr.write(`bench:kb phase ${name}...\n`);
    const out = execFileSync(process.execPath, ["--import", "tsx", "--max-old-space-size=5500", fileURLToPath(import.meta.url), "--phase", name, "--concepts", String(concepts), "--work", p.work, "--budgets", arg("budgets", "")], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 1 << 24,
    });
    report[name] = JSON.parse(out.trim().split("\n").pop() as string);
    process.stderr.write(`  ${JSON.stringify(report[name])}\n`);
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
