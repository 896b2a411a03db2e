// The syncabel web page: load a document, mark or suggest mentions, link them through the server, review the
// candidates, export. Plain ES module, no dependencies; all text goes into the page through textContent.

import { accept, bratReviewStates, byTextOrder, candidateScore, decidedCode, formatProbability, linkerCode, reject, reviewQueue, sameMention, withoutDuplicates } from "./review.js";
import { DocumentView } from "./view.js";

/** @typedef {{start: number, end: number}} Span */
/** @typedef {{pred_concept_name: string, pred_concept_code: string, semantic_group: string, beam_score: number, probability?: number}} Beam */
/**
 * @typedef {{id: string, label: string, fragments: Span[], suggested?: boolean, beams?: Beam[], error?: {code: string, message: string},
 *   sentence?: string, choice?: number, review: import("./review.js").ReviewState, code?: string, name?: string, confidence?: number, abstained?: boolean}} Mention
 */

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const state = {
  /** @type {{id: string, text: string, language?: string}[]} */ documents: [],
  /** @type {Mention[][]} */ mentionsByDoc: [],
  docIndex: -1,
  current: -1,
  nextId: 1,
  /** Deleted mentions, last first out: {doc, mention}. */
  /** @type {{doc: number, mention: Mention}[]} */ undo: [],
};

/** @type {DocumentView} */
let view;

function doc() {
  return state.documents[state.docIndex];
}
/** @returns {Mention[]} */
function mentions() {
  return state.mentionsByDoc[state.docIndex] ?? [];
}

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const err = (await res.json()).error;
      message = `${err.code}: ${err.message}`;
    } catch {}
    throw new Error(message);
  }
  return res;
}

function mentionText(m) {
  return m.fragments.map((f) => doc().text.slice(f.start, f.end)).join(" ");
}

/** The highlighted beam of a mention (the top one until a person moves to another). */
function chosen(m) {
  return m.beams?.[m.choice ?? 0];
}

/** A mention read from a file: its codes are a person's (accepted), unless a BRAT Review attribute says otherwise. */
function mentionFromFile(m, reviewOf) {
  const code = m.codes && m.codes.length > 0 ? m.codes.join("+") : undefined;
  const review = reviewOf(m.id) ?? (code ? "accepted" : "unreviewed");
  return { id: String(m.id), label: m.label, fragments: m.fragments.map((f) => ({ start: f.start, end: f.end })), review, ...(code && review !== "rejected" ? { code } : {}) };
}

// ---- loading -------------------------------------------------------------------------------------------

/** Documents with their mentions in text order, repeats (same span and group) dropped; returns how many. */
function setDocuments(docs, reviewOf = () => undefined) {
  let dropped = 0;
  state.documents = docs.map((d) => ({ id: d.id, text: d.text, ...(d.language ? { language: d.language } : {}) }));
  state.mentionsByDoc = docs.map((d) => {
    const read = (d.mentions ?? []).map((m) => mentionFromFile(m, (id) => reviewOf(d.id, id))).sort(byTextOrder);
    const { kept, dropped: n } = withoutDuplicates(read);
    dropped += n;
    return kept;
  });
  state.undo = [];
  const select = /** @type {HTMLSelectElement} */ ($("documents"));
  select.replaceChildren(
    ...state.documents.map((d, i) => {
      const o = document.createElement("option");
      o.value = String(i);
      o.textContent = `${d.id} (${state.mentionsByDoc[i].length} mentions)`;
      return o;
    }),
  );
  showDocument(state.documents.length > 0 ? 0 : -1);
  return dropped;
}

function showDocument(i) {
  state.docIndex = i;
  state.current = mentions().length > 0 ? 0 : -1;
  /** @type {HTMLSelectElement} */ ($("documents")).value = String(i);
  render();
}

function formatOf(files) {
  const names = files.map((f) => f.name.toLowerCase());
  if (names.some((n) => n.endsWith(".ann"))) return "brat";
  if (names.every((n) => n.endsWith(".json") || n.endsWith(".jsonl"))) return "bigbio";
  // .txt files may still be PubTator: openFiles looks at their first line.
  return names.every((n) => n.endsWith(".txt")) ? "txt" : "pubtator";
}

async function openFiles() {
  const input = /** @type {HTMLInputElement} */ ($("files"));
  const files = [...(input.files ?? [])];
  if (files.length === 0) return status("Choose one or more files first.", true);
  const contents = await Promise.all(files.map(async (f) => ({ name: f.name, content: await f.text() })));
  let format = /** @type {HTMLSelectElement} */ ($("format")).value;
  if (format === "auto") format = formatOf(files);
  if (format === "txt" && contents.every((c) => /^[^|\t\n]+\|t\|/.test(c.content))) format = "pubtator";
  try {
    const res = await (await api("/v1/documents", { format, files: contents })).json();
    // BRAT exports of this page carry each mention's review state as an attribute line.
    const states = new Map(contents.filter((c) => c.name.endsWith(".ann")).map((c) => [c.name.replace(/\.ann$/, ""), bratReviewStates(c.content)]));
    const dropped = setDocuments(res.documents, (doc, id) => states.get(doc)?.get(id));
    const problems = res.problems.length ? `, ${res.problems.length} problems (first: ${res.problems[0].message})` : "";
    const repeats = dropped > 0 ? `, ${dropped} repeated mention(s) (same span and group) dropped` : "";
    status(`Opened ${res.documents.length} document(s) as ${format}${problems}${repeats}.`, res.problems.length > 0);
  } catch (e) {
    status(`Cannot open: ${e.message}`, true);
  }
}

function useText() {
  const text = /** @type {HTMLTextAreaElement} */ ($("paste")).value;
  if (text.trim() === "") return status("Paste some text first.", true);
  setDocuments([{ id: "pasted", text, mentions: [] }]);
  status("Text ready: select a span and press m, or suggest mentions from the KB.");
}

// ---- mentions --------------------------------------------------------------------------------------------

/** The selection as document offsets, from the text pane's text up to each end of the range. */
function selectionSpan() {
  const sel = window.getSelection();
  const pane = $("text");
  if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return undefined;
  const range = sel.getRangeAt(0);
  if (!pane.contains(range.startContainer) || !pane.contains(range.endContainer)) return undefined;
  const offset = (node, off) => {
    const r = document.createRange();
    r.setStart(pane, 0);
    r.setEnd(node, off);
    return r.toString().length;
  };
  let start = offset(range.startContainer, range.startOffset);
  let end = offset(range.endContainer, range.endOffset);
  const text = doc().text;
  while (start < end && /\s/.test(text[start])) start++;
  while (end > start && /\s/.test(text[end - 1])) end--;
  return end > start ? { start, end } : undefined;
}

function addMentionFromSelection() {
  if (!doc()) return;
  const span = selectionSpan();
  if (!span) return status("Select some text in the document first.", true);
  const label = /** @type {HTMLSelectElement} */ ($("group")).value;
  if (!label) return status("Pick a group first.", true);
  const list = mentions();
  const added = { id: `U${state.nextId++}`, label, fragments: [span], review: /** @type {const} */ ("unreviewed") };
  const same = list.findIndex((m) => sameMention(m, added));
  window.getSelection()?.removeAllRanges();
  if (same >= 0) {
    status(`“${doc().text.slice(span.start, span.end)}” {${label}} is already mention ${same + 1}: not added twice.`, true);
    return select(same);
  }
  list.push(added);
  list.sort(byTextOrder);
  state.current = list.indexOf(added);
  render();
}

async function suggest() {
  if (!doc()) return;
  try {
    const { matches } = await (await api("/v1/match", { text: doc().text })).json();
    const list = mentions();
    const overlaps = (s) => list.some((m) => m.fragments.some((f) => f.start < s.end && s.start < f.end));
    let added = 0;
    for (const match of matches) {
      const span = { start: match.start, end: match.end };
      if (overlaps(span)) continue;
      list.push({ id: `S${state.nextId++}`, label: match.entries[0].group, fragments: [span], suggested: true, review: "unreviewed" });
      added++;
    }
    list.sort(byTextOrder);
    status(`${added} suggestion(s) from the KB's names (dashed): a accepts one, or accept all.`);
    if (state.current < 0 && list.length > 0) state.current = 0;
    render();
  } catch (e) {
    status(`Suggestions failed: ${e.message}`, true);
  }
}

function acceptSuggestion(m) {
  if (!m?.suggested) return;
  m.suggested = false;
  view.update(state.current);
  renderDetail();
}

/** Delete the current mention; u (or Ctrl+Z) brings it back. */
function removeCurrent() {
  const list = mentions();
  if (state.current < 0) return;
  const at = state.current;
  const [gone] = list.splice(at, 1);
  state.undo.push({ doc: state.docIndex, mention: gone });
  state.current = Math.min(at, list.length - 1);
  view.removed(gone, at, state.current);
  renderDetail();
  renderQueue();
  status(`Deleted “${gone.fragments.map((f) => doc().text.slice(f.start, f.end)).join(" ")}” {${gone.label}}: press u to undo.`);
}

function undoDelete() {
  const last = state.undo.pop();
  if (!last) return status("Nothing to undo.");
  if (last.doc !== state.docIndex) showDocument(last.doc);
  const list = mentions();
  list.push(last.mention);
  list.sort(byTextOrder);
  state.current = list.indexOf(last.mention);
  view.inserted(last.mention, state.current);
  renderDetail();
  renderQueue();
  status(`Restored mention ${state.current + 1}.`);
}

// ---- linking ---------------------------------------------------------------------------------------------

const CHUNK = 32;

async function link() {
  if (!doc()) return;
  const list = mentions().filter((m) => !m.suggested);
  if (list.length === 0) return status("No mentions to link: add or accept some first.", true);
  const beams = Number(/** @type {HTMLInputElement} */ ($("beams")).value) || 5;
  let failed = 0;
  try {
    // Every request carries all the document's mentions (the context the linker reads: abbreviations, other
    // mentions) and links CHUNK of them: within the server's per-request limits, and progress shows.
    const mentionsOfDoc = list.map((m) => ({ id: m.id, label: m.label, fragments: m.fragments }));
    for (let start = 0; start < list.length; start += CHUNK) {
      status(`Linking mentions ${start + 1}-${Math.min(start + CHUNK, list.length)} of ${list.length}...`);
      const part = list.slice(start, start + CHUNK);
      const { results } = await (
        await api("/v1/link-document", { document: doc(), mentions: mentionsOfDoc, link: part.map((m) => m.id), num_beams: beams })
      ).json();
      results.forEach((r, i) => {
        const m = part[i];
        applyLinkResult(m, r);
        if (r.error) failed++;
      });
      showLinked(part);
    }
    status(`Linked ${list.length - failed} mention(s)${failed ? `, ${failed} failed` : ""}.`, failed > 0);
  } catch (e) {
    status(`Linking failed: ${e.message}`, true);
  }
}

/** A link result on a mention: new candidates; a reviewed mention keeps its decision. */
function applyLinkResult(m, r) {
  m.beams = r.beams ?? [];
  m.error = r.error;
  m.sentence = r.sentence;
  m.confidence = r.confidence;
  m.abstained = r.abstained === true;
  const kept = m.review === "accepted" || m.review === "changed" ? m.beams.findIndex((b) => b.pred_concept_code === m.code) : -1;
  m.choice = Math.max(0, kept);
  if (m.review === "accepted" || m.review === "changed") m.review = kept === 0 && !m.abstained ? "accepted" : "changed";
  m.review ??= "unreviewed";
}

/** Linked mentions shown: their marks and items only (a document of many chunks is not redrawn per chunk). */
function showLinked(part) {
  for (const m of part) view.update(mentions().indexOf(m));
  if (part.includes(mentions()[state.current])) renderDetail();
  renderQueue();
}

/** Highlight candidate i of the current mention (no decision yet: Enter accepts it). */
function highlight(i) {
  const m = mentions()[state.current];
  if (!m?.beams || i < 0 || i >= m.beams.length) return;
  m.choice = i;
  renderDetail();
}

/** Decide the current mention (accept candidate i / reject), then go to the next one of the review queue. */
function decide(action) {
  const m = mentions()[state.current];
  if (!m?.beams || m.beams.length === 0) return status("Link the mention first (l).", true);
  if (action === "reject") reject(m);
  else if (!accept(m, action)) return;
  view.update(state.current);
  const next = reviewQueue(mentions())[0];
  if (next !== undefined) select(next);
  else renderDetail();
  renderQueue();
}

/** The least sure unreviewed mention. */
function nextInQueue() {
  const next = reviewQueue(mentions())[0];
  if (next === undefined) return status("Review queue empty: every linked mention is reviewed.");
  select(next);
}

function renderQueue() {
  const option = /** @type {HTMLSelectElement} */ ($("documents")).selectedOptions[0];
  if (option && doc()) option.textContent = `${doc().id} (${mentions().length} mentions)`;
  const left = reviewQueue(mentions()).length;
  const done = mentions().filter((m) => m.review !== "unreviewed").length;
  $("queue-info").textContent = `${left} to review, ${done} reviewed`;
}

// ---- export ----------------------------------------------------------------------------------------------

async function exportAs(format) {
  if (!doc()) return;
  const list = mentions().filter((m) => !m.suggested);
  const all = /** @type {HTMLInputElement} */ ($("export-all")).checked;
  const body = {
    format,
    all,
    document: {
      ...doc(),
      mentions: list.map((m) => {
        const suggested = linkerCode(m);
        const name = m.beams?.find((b) => b.pred_concept_code === m.code)?.pred_concept_name ?? m.name;
        return {
          id: m.id, label: m.label, fragments: m.fragments, review: m.review,
          ...(m.code !== undefined && (m.review === "accepted" || m.review === "changed") ? { code: m.code, ...(name ? { name } : {}) } : {}),
          ...(suggested !== undefined ? { suggested_code: suggested } : {}),
          ...(typeof m.confidence === "number" ? { confidence: m.confidence } : {}),
          beams: m.beams ?? [], sentence: m.sentence ?? "",
        };
      }),
    },
  };
  try {
    const res = await api("/v1/export", body);
    const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? `export.${format}`;
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    status(`Exported ${list.length} mention(s) as ${name}.`);
  } catch (e) {
    status(`Export failed: ${e.message}`, true);
  }
}

// ---- rendering -------------------------------------------------------------------------------------------

/** Everything anew (a document shown, mentions added or removed); key presses update only what they change. */
function render() {
  const d = doc();
  $("doc-title").textContent = d ? d.id : "No document";
  const option = /** @type {HTMLSelectElement} */ ($("documents")).selectedOptions[0];
  if (option && d) option.textContent = `${d.id} (${mentions().length} mentions)`;
  view.render(d ? d.text : "", d ? mentions() : [], state.current);
  renderDetail();
  renderQueue();
}

function renderDetail() {
  const m = mentions()[state.current];
  const head = $("mention-head");
  const cands = $("candidates");
  if (!m) {
    head.textContent = "Select a mention.";
    cands.replaceChildren();
    $("names").replaceChildren();
    return;
  }
  const conf = typeof m.confidence === "number" ? ` · confidence ${formatProbability(m.confidence)}` : "";
  const abstained = m.abstained ? " · the linker abstained (below its minimum confidence)" : "";
  const others = mentions().filter((o, k) => k !== state.current && o.fragments.some((f) => m.fragments.some((g) => f.start < g.end && g.start < f.end))).length;
  const overlap = others > 0 ? ` · overlaps ${others} other mention(s)` : "";
  head.textContent = `${state.current + 1}. “${mentionText(m)}” {${m.label}}${m.suggested ? ", suggested from the KB: a to accept" : ""}${m.error ? `: ${m.error.code} ${m.error.message}` : ""}${conf}${abstained}${overlap}`;
  $("review-state").textContent = m.beams || m.code ? m.review : "";
  $("review-state").className = `state ${m.review}`;
  cands.replaceChildren(
    ...(m.beams ?? []).map((b, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === (m.choice ?? 0)));
      li.dataset.choice = String(i);
      li.className = `candidate${i === (m.choice ?? 0) ? " chosen" : ""}${(m.review === "accepted" || m.review === "changed") && b.pred_concept_code === m.code ? " decided" : ""}`;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = b.pred_concept_name;
      const code = document.createElement("code");
      code.textContent = b.pred_concept_code;
      const group = document.createElement("span");
      group.className = "group";
      group.textContent = b.semantic_group;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      const shown = candidateScore(b);
      fill.style.width = `${Math.round(shown.fill * 100)}%`;
      bar.append(fill);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = `${i + 1 <= 9 ? `[${i + 1}] ` : ""}${shown.text}`;
      score.title = shown.title;
      li.append(name, code, group, bar, score);
      return li;
    }),
  );
  void showNames(chosen(m)?.pred_concept_code ?? m.code);
}

let namesFor = "";
async function showNames(code) {
  const ul = $("names");
  if (!code || code === "NO_CODE") {
    namesFor = "";
    return ul.replaceChildren();
  }
  if (code === namesFor) return;
  namesFor = code;
  try {
    const info = await (await api(`/v1/concept/${encodeURIComponent(code)}`)).json();
    if (namesFor !== code) return;
    const nameItem = (n) => {
      const li = document.createElement("li");
      li.textContent = `${n.name} (${n.group})`;
      return li;
    };
    // A composite code (a+b): each part with its own names.
    const parts = info.parts ?? [];
    ul.replaceChildren(
      ...(parts.length > 0
        ? parts.map((p) => {
            const li = document.createElement("li");
            li.className = "part";
            li.textContent = p.names ? `${p.code}: ${p.title ?? ""}` : `${p.code}: not in the knowledge base`;
            const sub = document.createElement("ul");
            sub.replaceChildren(...(p.names ?? []).map(nameItem));
            li.append(sub);
            return li;
          })
        : info.names.map(nameItem)),
    );
  } catch (e) {
    ul.replaceChildren();
  }
}

function select(i) {
  const n = mentions().length;
  if (n === 0) return;
  state.current = ((i % n) + n) % n;
  view.setCurrent(state.current);
  renderDetail();
  const shown = view.elementsOf(state.current);
  shown.mark?.scrollIntoView({ block: "nearest" });
  shown.item?.scrollIntoView({ block: "nearest" });
}

// ---- wiring ----------------------------------------------------------------------------------------------

function onKey(e) {
  const t = /** @type {HTMLElement} */ (e.target);
  if (t.closest("textarea, input, select")) return;
  const m = mentions()[state.current];
  const keys = {
    j: () => select(state.current + 1),
    k: () => select(state.current - 1),
    n: nextInQueue,
    ArrowDown: () => m?.beams && highlight(Math.min((m.choice ?? 0) + 1, m.beams.length - 1)),
    ArrowUp: () => m?.beams && highlight(Math.max((m.choice ?? 0) - 1, 0)),
    Enter: () => (m?.suggested ? acceptSuggestion(m) : m?.beams && decide(m.choice ?? 0)),
    x: () => decide("reject"),
    a: () => acceptSuggestion(m),
    Delete: removeCurrent,
    Backspace: removeCurrent,
    u: undoDelete,
    m: addMentionFromSelection,
    l: () => void link(),
  };
  if (/^[1-9]$/.test(e.key) && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    return decide(Number(e.key) - 1);
  }
  if (e.key === "z" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    return undoDelete();
  }
  const action = keys[e.key];
  if (action && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    action();
  }
}

async function init() {
  view = new DocumentView($("text"), $("mention-list"));
  $("next-queue").addEventListener("click", nextInQueue);
  $("use-text").addEventListener("click", useText);
  $("open-files").addEventListener("click", () => void openFiles());
  $("documents").addEventListener("change", (e) => showDocument(Number(/** @type {HTMLSelectElement} */ (e.target).value)));
  $("add-mention").addEventListener("click", addMentionFromSelection);
  $("suggest").addEventListener("click", () => void suggest());
  $("accept-suggestions").addEventListener("click", () => {
    mentions().forEach((m) => (m.suggested = false));
    render();
  });
  $("accept-candidate").addEventListener("click", () => {
    const m = mentions()[state.current];
    if (m?.beams) decide(m.choice ?? 0);
  });
  $("reject-candidate").addEventListener("click", () => decide("reject"));
  $("link").addEventListener("click", () => void link());
  for (const f of ["jsonl", "brat", "pubtator"]) $(`export-${f}`).addEventListener("click", () => void exportAs(f));
  $("text").addEventListener("click", (e) => {
    const mark = /** @type {HTMLElement} */ (e.target).closest("mark");
    if (mark && window.getSelection()?.isCollapsed) select(view.indexOf(mark));
  });
  $("mention-list").addEventListener("click", (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest("#mention-list > li");
    if (li) select(view.indexOf(li));
  });
  $("candidates").addEventListener("click", (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest("li");
    if (li) highlight(Number(li.dataset.choice));
  });
  document.addEventListener("keydown", onKey);
  try {
    const info = await (await api("/v1/info")).json();
    $("info").textContent = `${info.linker_description ?? `${info.linker} linker`}, ${info.groups.length} groups`;
    $("group").replaceChildren(
      ...info.groups.map((g) => {
        const o = document.createElement("option");
        o.value = g;
        o.textContent = g;
        return o;
      }),
    );
    /** @type {HTMLButtonElement} */ ($("suggest")).disabled = !info.matcher;
    document.body.dataset.ready = "true";
  } catch (e) {
    status(`The server did not answer: ${e.message}`, true);
  }
}

void init();
