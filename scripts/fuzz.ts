/**
 * `npm run fuzz [-- --seed N --budget SECONDS --only a,b]`: the fuzz and fault suite (issue 11). Seeded, bounded
 * in time (default 240 s), not part of `npm test` (test/fuzz/fuzz-slice.test.ts runs a small fixed-seed slice).
 * Prints the counts (inputs, crashes, hangs, untyped errors, wrong exits, rows lost/duplicated, files left
 * behind) as JSON on stdout; exits 1 when any of them but `inputs` is non-zero.
 */
import { parseArgs } from "node:util";
// In-process commands with --workers start worker threads from the TypeScript sources.
import "../test/support/ts-workers.js";
import { CAMPAIGNS, runFuzz, type CampaignName } from "../test/fuzz/run.js";
import { BAD_KEYS, badTotal } from "../test/fuzz/harness.js";

const { values } = parseArgs({ options: { seed: { type: "string", default: "1" }, budget: { type: "string", default: "240" }, only: { type: "string" } } });
const seed = Number(values.seed);
const budget = Number(values.budget);
if (!Number.isInteger(seed) || !(budget > 0)) {
  process.stderr.write("usage: npm run fuzz -- [--seed N] [--budget SECONDS] [--only sentences,gazetteers,...]\n");
  process.exit(2);
}
const only = values.only?.split(",").map((s) => s.trim()) as CampaignName[] | undefined;
const unknown = only?.filter((n) => !(CAMPAIGNS as readonly string[]).includes(n)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`unknown campaign(s) ${unknown.join(", ")}; known: ${CAMPAIGNS.join(", ")}\n`);
  process.exit(2);
}
const started = Date.now();
const result = await runFuzz({ seed, budgetSeconds: budget, ...(only ? { campaigns: only } : {}), log: (l) => process.stderr.write(`${l}\n`) });
const { total } = result;
process.stderr.write(
  `fuzz seed ${seed}, ${((Date.now() - started) / 1000).toFixed(0)} s: inputs ${total.inputs}, crashes ${total.crashes}, hangs ${total.hangs}, ` +
    `untyped errors ${total.untypedErrors}, wrong exits ${total.wrongExits}, rows lost ${total.rowsLost}, rows duplicated ${total.rowsDuplicated}, ` +
    `files left behind ${total.leftoverFiles}\n`,
);
process.stdout.write(`${JSON.stringify({ seed, budget_seconds: budget, seconds: Math.round((Date.now() - started) / 1000), ...total, by_campaign: result.byCampaign }, null, 2)}\n`);
process.exitCode = badTotal(total) > 0 ? 1 : 0;
void BAD_KEYS;
