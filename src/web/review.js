// Review of linked mentions: states (unreviewed / accepted / changed / rejected), the review queue (least sure
// first), duplicate checks, text order, and how scores are shown. Pure functions over plain objects: no DOM.

/** @typedef {"unreviewed" | "accepted" | "changed" | "rejected"} ReviewState */
export const REVIEW_STATES = /** @type {const} */ (["unreviewed", "accepted", "changed", "rejected"]);

/** Text order: first fragment's start, then its end, then the label. */
export function byTextOrder(a, b) {
  const fa = a.fragments[0];
  const fb = b.fragments[0];
  return fa.start - fb.start || fa.end - fb.end || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
}

/** Same span (every fragment) and same group: one mention twice. */
export function sameMention(a, b) {
  return a.label === b.label && a.fragments.length === b.fragments.length && a.fragments.every((f, i) => f.start === b.fragments[i].start && f.end === b.fragments[i].end);
}

/** The mentions without repeats (the first of each same span and group kept) and how many were dropped. */
export function withoutDuplicates(list) {
  const seen = new Set();
  const kept = [];
  for (const m of list) {
    const key = `${m.label}\u0000${m.fragments.map((f) => `${f.start}-${f.end}`).join(",")}`;
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(m);
  }
  return { kept, dropped: list.length - kept.length };
}

/** The linker's code for a mention: its top candidate, NO_CODE when it abstained. */
export function linkerCode(m) {
  if (m.abstained) return "NO_CODE";
  return m.beams?.[0]?.pred_concept_code;
}

/** The code a mention is exported with: the reviewer's for accepted/changed, none for rejected, the linker's else. */
export function decidedCode(m) {
  if (m.review === "accepted" || m.review === "changed") return m.code;
  if (m.review === "rejected") return undefined;
  return linkerCode(m);
}

/**
 * Accept candidate `i` of a linked mention: "accepted" when it is the linker's answer, "changed" otherwise (also
 * when the linker abstained: the reviewer chose a code it did not give).
 */
export function accept(m, i) {
  const b = m.beams?.[i];
  if (!b) return false;
  m.choice = i;
  m.code = b.pred_concept_code;
  m.name = b.pred_concept_name;
  m.review = i === 0 && !m.abstained ? "accepted" : "changed";
  return true;
}

/** Reject the link: no code of the list is right. */
export function reject(m) {
  m.review = "rejected";
  m.code = undefined;
  m.name = undefined;
}

/** Indices of the linked, unreviewed mentions, least confident first (ties in text order). */
export function reviewQueue(list) {
  const out = [];
  list.forEach((m, i) => {
    if (m.beams && m.beams.length > 0 && !m.error && !m.suggested && m.review === "unreviewed") out.push(i);
  });
  const conf = (i) => list[i].confidence ?? list[i].beams[0].beam_score;
  return out.sort((a, b) => conf(a) - conf(b) || a - b);
}

/** A probability for people: one decimal of a percent, never "100.0 %" or "0.0 %" unless it is exactly that. */
export function formatProbability(p) {
  if (!Number.isFinite(p)) return "";
  if (p >= 1) return "100 %";
  if (p <= 0) return "0 %";
  if (p > 0.999) return ">99.9 %";
  if (p < 0.001) return "<0.1 %";
  return `${(100 * p).toFixed(1)} %`;
}

/** The shown score of a candidate: its calibrated probability when the linker has one, else its raw score. */
export function candidateScore(b) {
  if (typeof b.probability === "number") return { text: formatProbability(b.probability), fill: b.probability, title: "calibrated probability that this concept is right" };
  return { text: `score ${b.beam_score.toFixed(3)}`, fill: Math.max(0, Math.min(1, b.beam_score)), title: "the linker's raw score (no calibration stored: not a probability)" };
}

/** Review states written in a BRAT export's `A<n>\tReview T<k> <state>` attribute lines, by entity id. */
export function bratReviewStates(ann) {
  const states = new Map();
  for (const line of ann.split(/\r?\n/)) {
    const m = /^A\d+\tReview (T\d+) (\w+)\s*$/.exec(line);
    if (m && REVIEW_STATES.includes(/** @type {any} */ (m[2]))) states.set(m[1], m[2]);
  }
  return states;
}
