// The syncabel web page: load a document, mark or suggest mentions, link them through the server, review the
// candidates, export. Plain ES module, no dependencies; all text goes into the page through textContent.

/** @typedef {{start: number, end: number}} Span */
/** @typedef {{pred_concept_name: string, pred_concept_code: string, semantic_group: string, beam_score: number}} Beam */
/** @typedef {{id: string, label: string, fragments: Span[], suggested?: boolean, beams?: Beam[], error?: {code: string, message: string}, sentence?: string, choice?: number, accepted?: boolean}} Mention */

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const state = {
  /** @type {{id: string, text: string, language?: string}[]} */ documents: [],
  /** @type {Mention[][]} */ mentionsByDoc: [],
  docIndex: -1,
  current: -1,
  nextId: 1,
};

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

/** The chosen beam of a mention (the top one until a person picks another). */
function chosen(m) {
  return m.beams?.[m.choice ?? 0];
}

// ---- loading -------------------------------------------------------------------------------------------

function setDocuments(docs) {
  state.documents = docs.map((d) => ({ id: d.id, text: d.text, ...(d.language ? { language: d.language } : {}) }));
  state.mentionsByDoc = docs.map((d) =>
    (d.mentions ?? []).map((m) => ({ id: String(m.id), label: m.label, fragments: m.fragments.map((f) => ({ start: f.start, end: f.end })) })),
  );
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
    setDocuments(res.documents);
    const problems = res.problems.length ? `, ${res.problems.length} problems (first: ${res.problems[0].message})` : "";
    status(`Opened ${res.documents.length} document(s) as ${format}${problems}.`, res.problems.length > 0);
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
  list.push({ id: `U${state.nextId++}`, label, fragments: [span] });
  list.sort((a, b) => a.fragments[0].start - b.fragments[0].start);
  state.current = list.findIndex((m) => m.fragments[0].start === span.start && m.fragments[0].end === span.end);
  window.getSelection()?.removeAllRanges();
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
      list.push({ id: `S${state.nextId++}`, label: match.entries[0].group, fragments: [span], suggested: true });
      added++;
    }
    list.sort((a, b) => a.fragments[0].start - b.fragments[0].start);
    status(`${added} suggestion(s) from the KB's names (dashed): a accepts one, or accept all.`);
    if (state.current < 0 && list.length > 0) state.current = 0;
    render();
  } catch (e) {
    status(`Suggestions failed: ${e.message}`, true);
  }
}

function acceptSuggestion(m) {
  if (m) m.suggested = false;
  render();
}

function removeCurrent() {
  const list = mentions();
  if (state.current < 0) return;
  list.splice(state.current, 1);
  state.current = Math.min(state.current, list.length - 1);
  render();
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
        m.beams = r.beams ?? [];
        m.error = r.error;
        m.sentence = r.sentence;
        m.choice = 0;
        m.accepted = false;
        if (r.error) failed++;
      });
      render();
    }
    status(`Linked ${list.length - failed} mention(s)${failed ? `, ${failed} failed` : ""}.`, failed > 0);
  } catch (e) {
    status(`Linking failed: ${e.message}`, true);
  }
}

function pick(i) {
  const m = mentions()[state.current];
  if (!m?.beams || i < 0 || i >= m.beams.length) return;
  m.choice = i;
  m.accepted = true;
  render();
}

// ---- export ----------------------------------------------------------------------------------------------

async function exportAs(format) {
  if (!doc()) return;
  const list = mentions().filter((m) => !m.suggested);
  const body = {
    format,
    document: {
      ...doc(),
      mentions: list.map((m) => {
        const b = chosen(m);
        return { id: m.id, label: m.label, fragments: m.fragments, ...(b ? { code: b.pred_concept_code, name: b.pred_concept_name } : {}), beams: m.beams ?? [], sentence: m.sentence ?? "" };
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

function render() {
  const d = doc();
  $("doc-title").textContent = d ? d.id : "No document";
  renderText();
  renderList();
  renderDetail();
}

/** The text with every fragment of every mention wrapped in a mark (overlapping ones are shown in the list only). */
function renderText() {
  const pane = $("text");
  const d = doc();
  if (!d) return pane.replaceChildren();
  const pieces = [];
  mentions().forEach((m, i) => m.fragments.forEach((f) => pieces.push({ ...f, i })));
  pieces.sort((a, b) => a.start - b.start || b.end - a.end);
  const nodes = [];
  let pos = 0;
  for (const p of pieces) {
    if (p.start < pos) continue;
    nodes.push(document.createTextNode(d.text.slice(pos, p.start)));
    const mark = document.createElement("mark");
    const m = mentions()[p.i];
    mark.textContent = d.text.slice(p.start, p.end);
    mark.dataset.i = String(p.i);
    mark.className = [m.suggested ? "suggested" : "", p.i === state.current ? "current" : "", m.error ? "failed" : m.accepted ? "accepted" : m.beams ? "linked" : ""].join(" ").trim();
    mark.title = `${m.label}${chosen(m) ? `: ${chosen(m).pred_concept_name} (${chosen(m).pred_concept_code})` : ""}`;
    nodes.push(mark);
    pos = p.end;
  }
  nodes.push(document.createTextNode(d.text.slice(pos)));
  pane.replaceChildren(...nodes);
}

function renderList() {
  const option = /** @type {HTMLSelectElement} */ ($("documents")).selectedOptions[0];
  if (option && doc()) option.textContent = `${doc().id} (${mentions().length} mentions)`;
  const list = $("mention-list");
  list.replaceChildren(
    ...mentions().map((m, i) => {
      const li = document.createElement("li");
      li.dataset.i = String(i);
      li.className = i === state.current ? "current" : "";
      const b = chosen(m);
      li.textContent = `${mentionText(m)} {${m.label}}${m.suggested ? " (suggestion)" : ""} → ${m.error ? m.error.code : b ? `${b.pred_concept_name} [${b.pred_concept_code}]${m.accepted ? " ✓" : ""}` : "not linked"}`;
      return li;
    }),
  );
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
  head.textContent = `“${mentionText(m)}” {${m.label}}${m.suggested ? ", suggested from the KB: a to accept" : ""}${m.error ? `: ${m.error.code} ${m.error.message}` : ""}`;
  cands.replaceChildren(
    ...(m.beams ?? []).map((b, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === (m.choice ?? 0)));
      li.dataset.choice = String(i);
      li.className = `candidate${i === (m.choice ?? 0) ? " chosen" : ""}`;
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
      fill.style.width = `${Math.round(Math.max(0, Math.min(1, b.beam_score)) * 100)}%`;
      bar.append(fill);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = b.beam_score.toFixed(3);
      li.append(name, code, group, bar, score);
      return li;
    }),
  );
  void showNames(chosen(m)?.pred_concept_code);
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
    ul.replaceChildren(
      ...info.names.map((n) => {
        const li = document.createElement("li");
        li.textContent = `${n.name} (${n.group})`;
        return li;
      }),
    );
  } catch (e) {
    ul.replaceChildren();
  }
}

function select(i) {
  const n = mentions().length;
  if (n === 0) return;
  state.current = ((i % n) + n) % n;
  render();
  document.querySelector("#text mark.current")?.scrollIntoView({ block: "nearest" });
}

// ---- wiring ----------------------------------------------------------------------------------------------

function onKey(e) {
  const t = /** @type {HTMLElement} */ (e.target);
  if (t.closest("textarea, input, select")) return;
  const m = mentions()[state.current];
  const keys = {
    j: () => select(state.current + 1),
    k: () => select(state.current - 1),
    ArrowDown: () => m?.beams && pick(Math.min((m.choice ?? 0) + 1, m.beams.length - 1)),
    ArrowUp: () => m?.beams && pick(Math.max((m.choice ?? 0) - 1, 0)),
    Enter: () => (m?.suggested ? acceptSuggestion(m) : m?.beams && pick(m.choice ?? 0)),
    a: () => acceptSuggestion(m),
    Delete: removeCurrent,
    Backspace: removeCurrent,
    m: addMentionFromSelection,
    l: () => void link(),
  };
  const action = keys[e.key];
  if (action && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    action();
  }
}

async function init() {
  $("use-text").addEventListener("click", useText);
  $("open-files").addEventListener("click", () => void openFiles());
  $("documents").addEventListener("change", (e) => showDocument(Number(/** @type {HTMLSelectElement} */ (e.target).value)));
  $("add-mention").addEventListener("click", addMentionFromSelection);
  $("suggest").addEventListener("click", () => void suggest());
  $("accept-suggestions").addEventListener("click", () => {
    mentions().forEach((m) => (m.suggested = false));
    render();
  });
  $("link").addEventListener("click", () => void link());
  for (const f of ["jsonl", "brat", "pubtator"]) $(`export-${f}`).addEventListener("click", () => void exportAs(f));
  $("text").addEventListener("click", (e) => {
    const mark = /** @type {HTMLElement} */ (e.target).closest("mark");
    if (mark && window.getSelection()?.isCollapsed) select(Number(mark.dataset.i));
  });
  $("mention-list").addEventListener("click", (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest("li");
    if (li) select(Number(li.dataset.i));
  });
  $("candidates").addEventListener("click", (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest("li");
    if (li) pick(Number(li.dataset.choice));
  });
  document.addEventListener("keydown", onKey);
  try {
    const info = await (await api("/v1/info")).json();
    $("info").textContent = `${info.linker} linker, ${info.groups.length} groups`;
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
