/**
 * A small fixed-seed slice of the fuzz and fault suite (the whole suite: `npm run fuzz`, scripts/fuzz.ts):
 * generated sentences (TF-IDF and generative linkers), terminology files and datasets, damaged KB indexes, and kill -9 + resume of synth and
 * sft-data. Every count but the inputs must be zero.
 */
import { describe, expect, it } from "vitest";
import { BAD_KEYS } from "./harness.js";
import { runFuzz } from "./run.js";

describe("fuzz slice (seed 11)", () => {
  it("no crash, hang, untyped error, wrong exit, lost or duplicated row, or file left behind", async () => {
    const findings: string[] = [];
    const result = await runFuzz({
      seed: 11,
      campaigns: ["sentences", "generative-sentences", "gazetteers", "datasets", "corrupt-kb", "kill-sft-data", "kill-synth"],
      inputsPerCampaign: { sentences: 60, "generative-sentences": 20, gazetteers: 10, datasets: 6, "corrupt-kb": 15, "kill-sft-data": 1, "kill-synth": 1 },
      log: (l) => {
        if (l.includes("finding")) findings.push(l);
      },
    });
    expect(result.total.inputs).toBeGreaterThan(100);
    for (const key of BAD_KEYS) expect(result.total[key], `${key}: ${findings.join("\n")}`).toBe(0);
  });
});
