/** Run the fuzz campaigns with a seed and a time budget (or an input quota per campaign) and sum the counts. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashString, mulberry32 } from "../../src/util/random.js";
import {
  corruptKbCampaign, corruptModelCampaign, datasetCampaign, gazetteerCampaign, generativeSentencesCampaign, httpAbuseCampaign, killConvertCampaign, killKbBuildCampaign,
  killLinkDocsCampaign, killSftDataCampaign, killSynthCampaign, makeFuzzKb, makeFuzzModel, sentencesCampaign,
} from "./campaigns.js";
import { addCounts, newCounts, type FuzzContext, type FuzzCounts } from "./harness.js";
import { killKbWritesCampaign, killLinkDocsWorkersCampaign } from "./kill-kb-campaigns.js";

export const CAMPAIGNS = ["sentences", "generative-sentences", "gazetteers", "datasets", "corrupt-kb", "corrupt-model", "kill-link-docs", "kill-kb-build", "kill-synth", "kill-sft-data", "kill-convert", "http-abuse", "kill-kb-writes", "kill-link-docs-workers"] as const;
export type CampaignName = (typeof CAMPAIGNS)[number];

/** Share of the time budget per campaign (child-process campaigns need seconds per input). */
const WEIGHTS: Readonly<Record<CampaignName, number>> = {
  sentences: 3, "generative-sentences": 2, gazetteers: 3, datasets: 3, "corrupt-kb": 3, "corrupt-model": 3, "kill-link-docs": 3, "kill-kb-build": 2, "kill-synth": 2, "kill-sft-data": 1, "kill-convert": 2, "http-abuse": 2,
  "kill-kb-writes": 4, "kill-link-docs-workers": 2,
};

export interface FuzzOptions {
  readonly seed: number;
  /** Total wall-clock budget, seconds (shared by the campaigns by weight). */
  readonly budgetSeconds?: number;
  /** Or: inputs per campaign (a deterministic slice). */
  readonly inputsPerCampaign?: Partial<Record<CampaignName, number>>;
  readonly campaigns?: readonly CampaignName[];
  readonly log?: (line: string) => void;
}

export interface FuzzResult {
  readonly seed: number;
  readonly total: FuzzCounts;
  readonly byCampaign: Record<string, FuzzCounts & { seconds: number }>;
  readonly findings: string[];
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), "syncabel-fuzz-"));
  const names = options.campaigns ?? CAMPAIGNS;
  const findings: string[] = [];
  const total = newCounts();
  const byCampaign: Record<string, FuzzCounts & { seconds: number }> = {};
  try {
    const setup = mulberry32(options.seed);
    const kb = await makeFuzzKb(dir, setup);
    const needsModel = names.some((n) => n === "corrupt-model" || n === "kill-convert" || n === "generative-sentences");
    const model = needsModel ? await makeFuzzModel(dir) : "";
    const weightSum = names.reduce((a, n) => a + WEIGHTS[n], 0);
    for (const name of names) {
      const counts = newCounts();
      const started = Date.now();
      const deadline = options.budgetSeconds === undefined ? Infinity : started + (1000 * options.budgetSeconds * WEIGHTS[name]) / weightSum;
      const quota = options.inputsPerCampaign?.[name] ?? Infinity;
      const ctx: FuzzContext = {
        random: mulberry32(hashString(`${options.seed}:${name}`)),
        dir: join(dir, name),
        counts,
        stop: () => Date.now() >= deadline || counts.inputs >= quota,
        finding: (kind, what) => {
          counts[kind]++;
          findings.push(`${name}: ${kind}: ${what}`);
          if (findings.length <= 50) log(`  finding ${name}: ${kind}: ${what.slice(0, 400)}`);
        },
      };
      const { mkdirSync } = await import("node:fs");
      mkdirSync(ctx.dir, { recursive: true });
      log(`campaign ${name} ...`);
      try {
        await runCampaign(name, ctx, kb, model);
      } catch (e) {
        ctx.finding("crashes", `the campaign itself failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      }
      byCampaign[name] = { ...counts, seconds: Math.round((Date.now() - started) / 100) / 10 };
      addCounts(total, counts);
      log(`campaign ${name}: ${JSON.stringify(byCampaign[name])}`);
      rmSync(ctx.dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { seed: options.seed, total, byCampaign, findings };
}

function runCampaign(name: CampaignName, ctx: FuzzContext, kb: Awaited<ReturnType<typeof makeFuzzKb>>, model: string): Promise<void> {
  switch (name) {
    case "sentences": return sentencesCampaign(ctx, kb);
    case "generative-sentences": return generativeSentencesCampaign(ctx, kb, model);
    case "gazetteers": return gazetteerCampaign(ctx);
    case "datasets": return datasetCampaign(ctx, kb);
    case "corrupt-kb": return corruptKbCampaign(ctx, kb);
    case "corrupt-model": return corruptModelCampaign(ctx, kb, model);
    case "kill-link-docs": return killLinkDocsCampaign(ctx, kb);
    case "kill-kb-build": return killKbBuildCampaign(ctx);
    case "kill-synth": return killSynthCampaign(ctx);
    case "kill-sft-data": return killSftDataCampaign(ctx, kb);
    case "kill-convert": return killConvertCampaign(ctx, model);
    case "http-abuse": return httpAbuseCampaign(ctx, kb);
    case "kill-kb-writes": return killKbWritesCampaign(ctx);
    case "kill-link-docs-workers": return killLinkDocsWorkersCampaign(ctx);
  }
}
