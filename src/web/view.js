// The text pane and the mention list, rendered once per document and then updated per mention: a key press
// (next mention, accept, reject, delete, undo ...) touches the marks, text lines and list items of the mentions it
// changed, not the whole document. The text is one block per line; overlapping mentions split a line into
// segments, and a segment covered by several mentions is one mark with the class "overlap".

import { decidedCode, formatProbability } from "./review.js";

const STATE_SIGN = { unreviewed: "•", accepted: "✓", changed: "✎", rejected: "✗" };

/** Segments of [from, to) between fragment boundaries, each with the mentions covering it. */
function segments(from, to, mentions) {
  const events = [];
  for (const m of mentions) {
    for (const f of m.fragments) {
      const s = Math.max(from, f.start);
      const e = Math.min(to, f.end);
      if (s < e) events.push({ at: s, m, open: true }, { at: e, m, open: false });
    }
  }
  events.sort((a, b) => a.at - b.at || (a.open === b.open ? 0 : a.open ? 1 : -1));
  const out = [];
  const active = new Map(); // mention -> open fragments
  let pos = from;
  for (let k = 0; k < events.length; ) {
    const at = events[k].at;
    if (at > pos) out.push({ start: pos, end: at, covering: [...active.keys()] });
    pos = Math.max(pos, at);
    for (; k < events.length && events[k].at === at; k++) {
      const e = events[k];
      const n = (active.get(e.m) ?? 0) + (e.open ? 1 : -1);
      if (n > 0) active.set(e.m, n);
      else active.delete(e.m);
    }
  }
  if (pos < to) out.push({ start: pos, end: to, covering: [] });
  return out;
}

/** The innermost mention of a segment: the one starting last (then the shortest). */
function primaryOf(covering) {
  let best = covering[0];
  for (const m of covering) {
    const a = m.fragments[0];
    const b = best.fragments[0];
    if (a.start > b.start || (a.start === b.start && a.end < b.end)) best = m;
  }
  return best;
}

export class DocumentView {
  /** @param {HTMLElement} pane @param {HTMLElement} list */
  constructor(pane, list) {
    this.pane = pane;
    this.list = list;
    this.text = "";
    /** @type {any[]} the document's mentions (the page's own array, in text order) */ this.mentions = [];
    this.current = -1;
    /** @type {Map<object, HTMLElement[]>} */ this.marksOf = new Map();
    /** @type {Map<object, HTMLElement>} */ this.itemOf = new Map();
    /** @type {{start: number, end: number, el: HTMLElement}[]} */ this.lines = [];
  }

  /** Everything anew: a new document, or many mentions changed at once. */
  render(text, mentions, current) {
    this.text = text;
    this.mentions = mentions;
    this.current = current;
    this.marksOf = new Map(mentions.map((m) => [m, []]));
    this.lines = [];
    for (let at = 0; at < text.length || this.lines.length === 0; ) {
      const nl = text.indexOf("\n", at);
      const end = nl < 0 ? text.length : nl + 1;
      const el = document.createElement("div");
      el.className = "line";
      this.lines.push({ start: at, end, el });
      at = end;
      if (end >= text.length) break;
    }
    // Mentions bucketed by line: each line is filled from its own mentions only.
    const byLine = this.lines.map(() => []);
    for (const m of mentions) for (const k of this.linesOf(m)) byLine[k].push(m);
    this.lines.forEach((_, k) => this.fillLine(k, byLine[k]));
    this.pane.replaceChildren(...this.lines.map((l) => l.el));
    this.itemOf = new Map(mentions.map((m) => [m, document.createElement("li")]));
    this.list.replaceChildren(...mentions.map((m) => this.itemOf.get(m)));
    mentions.forEach((_, i) => this.update(i));
  }

  /** Indices of the lines a mention's fragments touch. */
  linesOf(m) {
    const out = new Set();
    for (const f of m.fragments) {
      for (let k = this.lineAt(f.start); k < this.lines.length && this.lines[k].start < f.end; k++) out.add(k);
    }
    return [...out];
  }

  lineAt(offset) {
    let lo = 0;
    let hi = this.lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lines[mid].start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** (Re)build line k's marks from the mentions touching it. */
  fillLine(k, mentions) {
    const line = this.lines[k];
    const nodes = [];
    for (const s of segments(line.start, line.end, mentions)) {
      const piece = this.text.slice(s.start, s.end);
      if (s.covering.length === 0) {
        nodes.push(document.createTextNode(piece));
        continue;
      }
      const mark = document.createElement("mark");
      mark.textContent = piece;
      mark.mention = primaryOf(s.covering);
      mark.covering = s.covering;
      mark.line = k;
      if (s.covering.length > 1) mark.classList.add("overlap");
      for (const m of s.covering) this.marksOf.get(m)?.push(mark);
      nodes.push(mark);
    }
    line.el.replaceChildren(...nodes);
  }

  /** Rebuild the lines `m` touches (after it was added or removed), restyling their marks. */
  refreshLines(m) {
    for (const k of this.linesOf(m)) {
      const line = this.lines[k];
      const touching = this.mentions.filter((o) => o.fragments.some((f) => f.start < line.end && line.start < f.end));
      for (const o of touching) this.marksOf.set(o, (this.marksOf.get(o) ?? []).filter((mark) => mark.line !== k));
      this.fillLine(k, touching);
      for (const mark of line.el.querySelectorAll("mark")) this.styleMark(/** @type {HTMLElement} */ (mark));
    }
  }

  /** Mention `m` was taken out of the page's array (it was at index i): its marks and item go, numbers follow. */
  removed(m, i, current) {
    this.current = current;
    this.marksOf.delete(m);
    this.refreshLines(m);
    this.itemOf.get(m)?.remove();
    this.itemOf.delete(m);
    this.renumber(i);
    if (this.mentions[current]) this.update(current);
  }

  /** Mention `m` was put into the page's array: its marks and item come, numbers follow. */
  inserted(m, current) {
    const i = this.mentions.indexOf(m);
    const old = this.current;
    this.current = current;
    this.marksOf.set(m, []);
    this.refreshLines(m);
    const li = document.createElement("li");
    this.itemOf.set(m, li);
    this.list.insertBefore(li, this.itemOf.get(this.mentions[i + 1]) ?? null);
    this.renumber(i);
    if (old !== current && this.mentions[old]) this.update(old);
    this.update(i);
  }

  /** Numbers of the list items from index `from` on. */
  renumber(from) {
    for (let k = from; k < this.mentions.length; k++) {
      // The text node's data, not textContent: no node is replaced, only its characters (layout stays local).
      const n = this.itemOf.get(this.mentions[k])?.firstElementChild?.firstChild;
      if (n) n.nodeValue = `${k + 1}.`;
    }
  }

  /** The index of the mention a mark or list item shows. */
  indexOf(el) {
    return this.mentions.indexOf(el.mention);
  }

  /** One mention changed (state, links): its marks and its list item. */
  update(i) {
    const m = this.mentions[i];
    if (!m) return;
    for (const mark of this.marksOf.get(m) ?? []) this.styleMark(mark);
    this.fillItem(this.itemOf.get(m), m, i);
  }

  /** Move the current mention: only the "current" class of the old and the new one's marks and items changes. */
  setCurrent(i) {
    const old = this.mentions[this.current];
    const now = this.mentions[i];
    this.current = i;
    for (const m of [old, now]) {
      if (!m) continue;
      for (const mark of this.marksOf.get(m) ?? []) mark.classList.toggle("current", mark.covering.includes(now));
      this.itemOf.get(m)?.classList.toggle("current", m === now);
    }
  }

  /** The first mark and the list item of mention i (to scroll to). */
  elementsOf(i) {
    const m = this.mentions[i];
    return { mark: this.marksOf.get(m)?.[0], item: this.itemOf.get(m) };
  }

  styleMark(mark) {
    const m = mark.mention;
    const cls = [];
    if (m.suggested) cls.push("suggested");
    if (m.error) cls.push("failed");
    else if (m.beams) cls.push("linked");
    if (m.review && m.review !== "unreviewed") cls.push(m.review);
    if (m.abstained && m.review === "unreviewed") cls.push("abstained");
    if (mark.covering.length > 1) cls.push("overlap");
    if (mark.covering.includes(this.mentions[this.current])) cls.push("current");
    mark.className = cls.join(" ");
    mark.title = mark.covering.map((o) => this.describe(o)).join("\n");
  }

  describe(m) {
    const code = decidedCode(m);
    const b = m.beams?.find((x) => x.pred_concept_code === code);
    return `${m.label}${code ? `: ${b?.pred_concept_name ?? m.name ?? ""} (${code})` : ""}${m.review ? `, ${m.review}` : ""}`;
  }

  fillItem(li, m, i) {
    li.mention = m;
    li.className = `${i === this.current ? "current " : ""}${m.review ?? "unreviewed"}`;
    const n = document.createElement("span");
    n.className = "n";
    n.textContent = `${i + 1}.`;
    const sign = document.createElement("span");
    sign.className = "state";
    sign.textContent = m.beams || m.code || (m.review ?? "unreviewed") !== "unreviewed" ? STATE_SIGN[m.review ?? "unreviewed"] : "";
    sign.title = m.review ?? "unreviewed";
    const body = document.createElement("span");
    const text = m.fragments.map((f) => this.text.slice(f.start, f.end)).join(" ");
    const code = decidedCode(m);
    const b = m.beams?.find((x) => x.pred_concept_code === code);
    const answer = m.error ? m.error.code : m.review === "rejected" ? "rejected" : code ? `${b?.pred_concept_name ?? m.name ?? ""} [${code}]`.trimStart() : m.beams ? "no code" : "not linked";
    const conf = typeof m.confidence === "number" ? ` · ${formatProbability(m.confidence)}` : "";
    body.textContent = `${text} {${m.label}}${m.suggested ? " (suggestion)" : ""} → ${answer}${conf}${m.abstained && m.review === "unreviewed" ? " (abstained)" : ""}`;
    li.replaceChildren(n, sign, body);
  }
}
