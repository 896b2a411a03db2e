/**
 * examples/library.ts, the library walk-through of the README, runs as a user runs it (tsx, `import ... from
 * "syncabel"`) against the example KB, and prints the codes the KB file gives its names. `npm test` also
 * type-checks it (tsconfig.json includes examples/).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/** The example KB read independently: name -> code. */
const codeOf = new Map(
  readFileSync(new URL("../../examples/kb-es.tsv", import.meta.url), "utf8")
    .split("\n")
    .slice(1)
    .filter((l) => l.trim() !== "")
    .map((l) => l.split("\t"))
    .map(([code, name]) => [name as string, code as string]),
);

describe("examples/library.ts", () => {
  it("runs end to end on the example KB", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "examples/library.ts"], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toEqual([
      `KB: ${new Set(codeOf.values()).size} concepts, ${codeOf.size} names`,
      `sample ${codeOf.get("TEP")} TEP`,
      "error MARKUP_NO_BRACKETS",
      ...["HTA", "diabetes tipo 2", "fiebre", "tos"].map((m) => `document ${m} -> ${codeOf.get(m)}`),
      "Recall@1 1 on 5 mentions",
      "hybrid linker trained on 5 mentions",
      "default linker now: hybrid",
      `http 200 ${codeOf.get("fiebre")}`,
    ]);
  }, 120_000);
});
