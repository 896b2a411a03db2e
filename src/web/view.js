// The text pane and the mention list, rendered once per document and then updated per mention: a key press
// (next mention, accept, reject ...) touches the marks and list items of the mentions it changed, not the
// whole document. Overlapping mentions split the text into segments; a segment covered by several mentions is
// one mark with the class "overlap" and every mention it belongs to in data-all.

import { decidedCode, formatProbability } from "./review.js";

const STATE_SIGN = { unreviewed: "•", accepted: "✓", changed: "✎", rejected: "✗" };

/** Marks of the text: one per segment between fragment boundaries covered by at least one mention. */
function segments(text, mentions) {
  const events = [];
  mentions.forEach((m, i) => m.fragments.forEach((f) => events.push({ at: f.start, i, open: true }, { at: f.end, i, open: false })));
  events.sort((a, b) => a.at - b.at || (a.open === b.open ? 0 : a.open ? 1 : -1));
  const out = [];
  const active = new Map(); // mention -> open fragments
  let pos = 0;
  for (let k = 0; k < events.length; ) {
    const at = events[k].at;
    if (at > pos && active.size > 0) out.push({ start: pos, end: at, covering: [...active.keys()] });
    else if (at > pos) out.push({ start: pos, end: at, covering: [] });
    pos = Math.max(pos, at);
    for (; k < events.length && events[k].at === at; k++) {
      const e = events[k];
      const n = (active.get(e.i) ?? 0) + (e.open ? 1 : -1);
      if (n > 0) active.set(e.i, n);
      else active.delete(e.i);
    }
  }
  if (pos < text.length) out.push({ start: pos, end: text.length, covering: [] });
  return out;
}

/** The innermost mention of a segment: the one starting last (then the shortest). */
function primaryOf(covering, mentions) {
  let best = covering[0];
  for (const i of covering) {
    const a = mentions[i].fragments[0];
    const b = mentions[best].fragments[0];
    if (a.start > b.start || (a.start === b.start && a.end < b.end)) best = i;
  }
  return best;
}

export class DocumentView {
  /** @param {HTMLElement} pane @param {HTMLElement} list */
  constructor(pane, list) {
    this.pane = pane;
    this.list = list;
    /** @type {HTMLElement[][]} marks of each mention */ this.marks = [];
    /** @type {HTMLElement[]} */ this.items = [];
    this.text = "";
    this.mentions = [];
    this.current = -1;
  }

  /** Everything anew: a new document, or mentions added / removed (indices moved). */
  render(text, mentions, current) {
    this.text = text;
    this.mentions = mentions;
    this.current = current;
    this.marks = mentions.map(() => []);
    // One block per line of the text: a change (or a scroll) lays out its own line, not the whole document.
    const lines = [];
    let line = null;
    let lineEnd = -1;
    const open = (at) => {
      line = document.createElement("div");
      line.className = "line";
      lines.push(line);
      const nl = text.indexOf("\n", at);
      lineEnd = nl < 0 ? text.length : nl + 1;
    };
    open(0);
    for (const s of segments(text, mentions)) {
      for (let from = s.start; from < s.end; ) {
        if (from >= lineEnd) open(from);
        const to = Math.min(s.end, lineEnd);
        const piece = text.slice(from, to);
        if (s.covering.length === 0) line.append(piece);
        else {
          const mark = document.createElement("mark");
          mark.textContent = piece;
          mark.dataset.i = String(primaryOf(s.covering, mentions));
          if (s.covering.length > 1) mark.dataset.all = [...s.covering].sort((a, b) => a - b).join(",");
          for (const i of s.covering) this.marks[i].push(mark);
          line.append(mark);
        }
        from = to;
      }
    }
    const nodes = lines;
    this.pane.replaceChildren(...nodes);
    this.items = mentions.map((_, i) => {
      const li = document.createElement("li");
      li.dataset.i = String(i);
      return li;
    });
    this.list.replaceChildren(...this.items);
    mentions.forEach((_, i) => this.update(i));
  }

  /** One mention changed (state, links, current): its marks and its list item. */
  update(i) {
    const m = this.mentions[i];
    if (!m) return;
    for (const mark of this.marks[i]) this.styleMark(mark);
    this.fillItem(this.items[i], m, i);
  }

  /** Move the current mention: only the "current" class of the old and the new one's marks and items changes. */
  setCurrent(i) {
    const old = this.current;
    this.current = i;
    for (const [k, on] of [[old, false], [i, true]]) {
      for (const mark of this.marks[k] ?? []) mark.classList.toggle("current", on || (mark.dataset.all ?? "").split(",").map(Number).includes(i));
      this.items[k]?.classList.toggle("current", on);
    }
  }

  styleMark(mark) {
    const all = mark.dataset.all ? mark.dataset.all.split(",").map(Number) : [Number(mark.dataset.i)];
    const m = this.mentions[Number(mark.dataset.i)];
    const cls = [];
    if (m.suggested) cls.push("suggested");
    if (m.error) cls.push("failed");
    else if (m.beams) cls.push("linked");
    if (m.review && m.review !== "unreviewed") cls.push(m.review);
    if (m.abstained && m.review === "unreviewed") cls.push("abstained");
    if (all.length > 1) cls.push("overlap");
    if (all.includes(this.current)) cls.push("current");
    mark.className = cls.join(" ");
    mark.title = all.map((k) => this.describe(this.mentions[k])).join("\n");
  }

  describe(m) {
    const code = decidedCode(m);
    const b = m.beams?.find((x) => x.pred_concept_code === code);
    return `${m.label}${code ? `: ${b?.pred_concept_name ?? m.name ?? ""} (${code})` : ""}${m.review ? `, ${m.review}` : ""}`;
  }

  fillItem(li, m, i) {
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
