import { SyncabelError } from "../../errors.js";
import { mergePredictions } from "../../linker/merge-predictions.js";
import { checkOutputPath, parseCommandArgs } from "../args.js";
import type { CliIO } from "../io.js";

export const usage = `usage: syncabel merge-predictions SHARD_OUT... -o OUT

Merges the outputs of every shard of one sharded run (syncabel link-docs --shard K/N ... -o SHARD_OUT, for K = 0
.. N-1) into OUT: the bytes one link-docs run over the whole dataset writes (header, rows in the dataset's
document order) and its run record OUT.run.json. The dataset is read again from the paths in the shards' run
records (SHARD_OUT.run.json) to restore the order and to check every document against the shards.
Refused, naming the shard: a missing or duplicated shard, shards of different options or of another split,
an unfinished shard (SHARD_OUT.partial: re-run its link-docs command first), a shard whose rows do not match
the dataset as it reads now. OUT is written whole or not at all. See docs/deployment.md.
`;

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args,
      allowPositionals: true,
      options: {
        out: { type: "string", short: "o" },
        help: { type: "boolean", short: "h", default: false },
      },
    },
    usage,
  );
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length === 0) throw new SyncabelError("CLI_USAGE", `give the shard outputs to merge\n${usage}`);
  if (!values.out) throw new SyncabelError("CLI_USAGE", `give the merged output with -o OUT\n${usage}`);
  checkOutputPath(values.out, "-o", positionals);
  const started = performance.now();
  const result = await mergePredictions(positionals, values.out);
  const seconds = (performance.now() - started) / 1000;
  io.stderr.write(`merge-predictions: ${result.shards} shards, ${result.documents} documents, ${result.rows} rows -> ${result.outPath} (${seconds.toFixed(1)} s)\n`);
  return 0;
}
