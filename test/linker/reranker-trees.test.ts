/**
 * Boosted trees of the reranker: they learn a ranking the smooth (linear) model cannot represent, lower the listwise
 * loss they fit, are reproducible from a seed and from JSON, are refused when stored inconsistently, and
 * `scoreList` applies them only to the smooth model's leaders.
 */
import { describe, expect, it } from "vitest";
import { SyncabelError } from "../../src/errors.js";
import { Trees, type BoostList } from "../../src/linker/reranker-trees.js";
import { Reranker, type RankList } from "../../src/linker/reranker.js";
import { mulberry32 } from "../../src/util/random.js";

/**
 * Lists whose gold is the one candidate with x0 and x1 on the same side of 0.5 (an XOR: no weighted sum of the
 * features ranks it first), with x2 a distractor correlated with nothing.
 */
function xorLists(seed: number, n: number): RankList[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const gold = Math.floor(random() * 5);
    const rows = Array.from({ length: 5 }, (_, i) => {
      const a = random();
      // Non-gold rows have x0, x1 on opposite sides; the gold row on the same side.
      const sameSide = i === gold;
      const b = sameSide === a > 0.5 ? 0.5 + random() * 0.5 : random() * 0.5;
      return Float64Array.from([a, b, random()]);
    });
    return { group: random() < 0.5 ? "A" : "B", rows, gold: [gold] };
  });
}

function recall(rank: (l: RankList) => Float64Array, lists: readonly RankList[]): number {
  return lists.filter((l) => {
    const s = rank(l);
    return s.indexOf(Math.max(...s)) === l.gold[0];
  }).length / lists.length;
}

/** Mean of -log softmax(gold) over lists, computed directly. */
function loss(lists: readonly BoostList[], score: (l: BoostList, i: number) => number): number {
  let total = 0;
  for (const l of lists) {
    const s = l.rows.map((_, i) => score(l, i));
    const max = Math.max(...s);
    const z = s.reduce((a, x) => a + Math.exp(x - max), 0);
    total -= Math.log(Math.exp((s[l.gold[0] as number] as number) - max) / z);
  }
  return total / lists.length;
}

describe("reranker trees", () => {
  const train = xorLists(1, 600);
  const test = xorLists(2, 300);

  it("learn on held-out lists a ranking the linear model cannot", () => {
    const linear = Reranker.train(train, { hidden: 0, epochs: 20, learningRate: 0.05, seed: 3 });
    const boosted = Reranker.train(train, { hidden: 0, epochs: 20, learningRate: 0.05, seed: 3, trees: 60, depth: 3, treeRate: 0.3, treeTop: 5 });
    const rLinear = recall((l) => linear.scoreList(l.rows, l.group), test);
    const rBoosted = recall((l) => boosted.scoreList(l.rows, l.group), test);
    expect(rLinear).toBeLessThan(0.5);
    expect(rBoosted).toBeGreaterThan(0.9);
  });

  it("lower the listwise loss they fit, the more trees the lower", () => {
    const lists: BoostList[] = train.map((l) => ({ rows: l.rows, gold: l.gold, weight: 1, init: new Float64Array(l.rows.length) }));
    const before = loss(lists, () => 0);
    const few = Trees.fit(lists, { trees: 5, depth: 3, seed: 1 });
    const many = Trees.fit(lists, { trees: 40, depth: 3, seed: 1 });
    const lossFew = loss(lists, (l, i) => few.score(l.rows[i] as Float64Array));
    const lossMany = loss(lists, (l, i) => many.score(l.rows[i] as Float64Array));
    expect(before).toBeCloseTo(Math.log(5), 12);
    expect(lossFew).toBeLessThan(before);
    expect(lossMany).toBeLessThan(lossFew);
  });

  it("are deterministic given the seed, change with it, and come back identical from JSON", () => {
    const opts = { hidden: 2, epochs: 3, trees: 10, depth: 3, treeTop: 3 };
    const a = Reranker.train(train, { ...opts, seed: 7 }).toJSON();
    const b = Reranker.train(train, { ...opts, seed: 7 }).toJSON();
    const c = Reranker.train(train, { ...opts, seed: 8 }).toJSON();
    expect(b).toEqual(a);
    expect(c.trees?.leaf).not.toEqual(a.trees?.leaf);
    const model = Reranker.train(train, { ...opts, seed: 7 });
    const copy = Reranker.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
    for (const l of test.slice(0, 20)) {
      expect(Array.from(copy.scoreList(l.rows, l.group))).toEqual(Array.from(model.scoreList(l.rows, l.group)));
      for (const r of l.rows) expect(copy.score(r, l.group)).toBe(model.score(r, l.group));
    }
  });

  it("refuses stored trees of inconsistent sizes", () => {
    const good = Reranker.train(train, { hidden: 0, epochs: 1, trees: 4, depth: 2, seed: 1 }).toJSON();
    const trees = good.trees!;
    const bad = [
      { ...good, trees: { ...trees, leaf: trees.leaf.slice(1) } },
      { ...good, trees: { ...trees, feature: trees.feature.slice(1) } },
      { ...good, trees: { ...trees, threshold: [...trees.threshold, 0] } },
      // Feature 4 does not exist: 3 features and the group index.
      { ...good, trees: { ...trees, feature: trees.feature.map(() => 4) } },
      { ...good, treeTop: 0 },
    ];
    expect(() => Reranker.fromJSON(good)).not.toThrow();
    for (const j of bad) {
      let error: unknown;
      try {
        Reranker.fromJSON(j);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SyncabelError);
      expect((error as SyncabelError).code).toBe("KB_INDEX_INVALID");
    }
  });

  it("rescore only the smooth model's leaders and keep the others below them in smooth order", () => {
    const opts = { hidden: 0, epochs: 5, seed: 4 };
    // The smooth part is trained before the trees from the same seed: the plain model is the boosted one's smooth part.
    const plain = Reranker.train(train, opts);
    const boosted = Reranker.train(train, { ...opts, trees: 20, depth: 3, treeTop: 2 });
    for (const l of test.slice(0, 50)) {
      const smooth = l.rows.map((r) => plain.score(r, l.group));
      const order = smooth.map((_, i) => i).sort((a, b) => smooth[b]! - smooth[a]! || a - b);
      const leaders = order.slice(0, 2);
      const got = boosted.scoreList(l.rows, l.group);
      for (const i of leaders) expect(got[i]).toBeCloseTo(boosted.score(l.rows[i]!, l.group), 12);
      const minLeader = Math.min(...leaders.map((i) => got[i]!));
      const rest = order.slice(2);
      for (const i of rest) expect(got[i]).toBeLessThan(minLeader);
      for (let k = 1; k < rest.length; k++) expect(got[rest[k]!]).toBeLessThanOrEqual(got[rest[k - 1]!]!);
    }
  });
});
