/**
 * What the human annotations lend to the prompts: style examples (sentences of the same group, mention
 * in brackets) and the mentions seen for each code.
 */
export interface HumanExamples {
  sentencesOfGroup(group: string): readonly string[];
  mentionsOfCode(code: string): readonly string[];
}

export interface HumanExampleInput {
  /** The sentence with the mention in `[brackets]` (no `{GROUP}`). */
  readonly sentence: string;
  readonly group: string;
  readonly mention: string;
  /** Gold codes (a composite mention lends its text to every code). */
  readonly codes: readonly string[];
}

export function collectHumanExamples(items: Iterable<HumanExampleInput>): HumanExamples {
  const byGroup = new Map<string, Set<string>>();
  const byCode = new Map<string, Set<string>>();
  for (const it of items) {
    let g = byGroup.get(it.group);
    if (!g) byGroup.set(it.group, (g = new Set()));
    g.add(it.sentence);
    for (const code of it.codes) {
      let m = byCode.get(code);
      if (!m) byCode.set(code, (m = new Set()));
      m.add(it.mention);
    }
  }
  const frozenGroups = new Map([...byGroup].map(([k, v]) => [k, [...v]] as const));
  const frozenCodes = new Map([...byCode].map(([k, v]) => [k, [...v]] as const));
  return {
    sentencesOfGroup: (group) => frozenGroups.get(group) ?? [],
    mentionsOfCode: (code) => frozenCodes.get(code) ?? [],
  };
}

export const NO_HUMAN_EXAMPLES: HumanExamples = { sentencesOfGroup: () => [], mentionsOfCode: () => [] };
