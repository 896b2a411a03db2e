import { SyncabelError } from "../errors.js";

export type MixMode = "human-only" | "synthetic-only" | "interleave";

export function asMixMode(value: string): MixMode {
  if (value === "human-only" || value === "synthetic-only" || value === "interleave") return value;
  throw new SyncabelError("TRAIN_INVALID_OPTIONS", `the mix mode must be human-only, synthetic-only or interleave (got ${JSON.stringify(value)})`, { mix: value });
}

/**
 * Round robin 1:1 (conventions, section 7): human, synthetic, human, synthetic, ... The shorter list is
 * cycled until the longer one is exhausted (normally the human set, cycled over the synthetic set), so the
 * result holds exactly max(|H|, |S|) of each. With one list empty the other is returned as is.
 */
export function interleave<T>(human: readonly T[], synthetic: readonly T[]): T[] {
  if (human.length === 0) return synthetic.slice();
  if (synthetic.length === 0) return human.slice();
  const rounds = Math.max(human.length, synthetic.length);
  const out: T[] = [];
  for (let i = 0; i < rounds; i++) out.push(human[i % human.length], synthetic[i % synthetic.length]);
  return out;
}

export function mix<T>(mode: MixMode, human: readonly T[], synthetic: readonly T[]): T[] {
  switch (mode) {
    case "human-only": return human.slice();
    case "synthetic-only": return synthetic.slice();
    case "interleave": return interleave(human, synthetic);
  }
}
