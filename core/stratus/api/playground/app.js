// The stratus playground: a chat with the app's agents, teams and workflows, through the public HTTP API only.
// No framework and no build step; marked renders the model's markdown and DOMPurify sanitises it (both vendored).
"use strict";

const $ = (id) => document.getElementById(id);
const KINDS = ["agent", "team", "workflow"];
const PLURAL = { agent: "agents", team: "teams", workflow: "workflows" };
const LABEL = { agent: "Agents", team: "Teams", workflow: "Workflows" };
const GENERIC_PROMPTS = {
  agent: ["What can you help me with?", "Explain what you can do, with an example.", "Summarise your tools in a table."],
  team: ["What can this team do?", "Split a small task between your members.", "Introduce each member in one line."],
  workflow: ["Run the workflow on a short example.", "Hello! What do your steps do?", "Write one sentence about the sea."],
};
const NARROW = window.matchMedia("(max-width: 767.98px)");

const state = {
  components: { agent: [], team: [], workflow: [] },
  selected: null, // {kind, id, name, raw}: raw is the component as GET /agents (/teams, /workflows) lists it
  session: null, // the open session's id (null: a new chat)
  run: null, // the streaming run: {controller, runId, kind, id, session, stopping}
  selection: null, // a token per component choice, so a late session list does not undo a later choice
};

// ---------------------------------------------------------------------------------------------------------
// storage and the API

const store = {
  get: (k, d = "") => { try { return localStorage.getItem("stratus." + k) ?? d; } catch { return d; } },
  set: (k, v) => { try { localStorage.setItem("stratus." + k, v); } catch { /* storage off */ } },
};

function userId() { return $("user-id").value.trim(); }

function withUser(params = {}) {
  const query = new URLSearchParams(params);
  if (userId()) query.set("user_id", userId());
  return query;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function authHeaders(extra = {}) {
  const key = store.get("key");
  return key ? { ...extra, Authorization: "Bearer " + key } : extra;
}

// Relative URLs: the page works under a stage or proxy prefix (/prod/playground calls /prod/agents).
function url(path) { return path.replace(/^\//, ""); }

async function fail(response) {
  let detail = response.statusText || String(response.status);
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
    else if (Array.isArray(body.detail)) detail = body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    else if (body.detail) detail = JSON.stringify(body.detail);
  } catch { /* not JSON */ }
  if (response.status === 401) askForKey();
  return new ApiError(response.status, `${detail} (HTTP ${response.status})`);
}

async function api(path, options = {}) {
  const response = await fetch(url(path), { ...options, headers: authHeaders(options.headers) });
  if (!response.ok) throw await fail(response);
  return response.status === 204 ? null : response.json();
}

function json(method, body) {
  return { method, body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
}

function askForKey() {
  $("auth").hidden = false;
  $("auth-key").value = store.get("key");
}

// ---------------------------------------------------------------------------------------------------------
// small DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "testid") node.dataset.testid = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const ICONS = {
  edit: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
};
function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

function relativeTime(iso) {
  const then = typeof iso === "number" ? iso * 1000 : Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const s = Math.round((Date.now() - then) / 1000);
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 7) return d === 1 ? "yesterday" : `${d} days ago`;
  return new Date(then).toLocaleDateString();
}

function isoOf(value) {
  const t = typeof value === "number" ? value * 1000 : Date.parse(value);
  return Number.isNaN(t) ? "" : new Date(t).toISOString();
}

function text(value) {
  if (value == null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

// ---------------------------------------------------------------------------------------------------------
// markdown: marked renders, DOMPurify removes whatever could run (scripts, handlers, javascript: URLs)

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
// The model's raw HTML is shown as text, never parsed as markup (DOMPurify below is the second guard).
marked.use({ gfm: true, breaks: false, renderer: { html: ({ text: raw }) => escapeHtml(raw) } });
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

window.hljs?.configure({ ignoreUnescapedHTML: true });

// Code blocks that name a language highlight.js knows are coloured once the text is final (not each frame of a
// stream: that re-tokenises the whole block every time).
function highlight(target) {
  if (!window.hljs) return;
  for (const code of target.querySelectorAll("pre code[class*=language-]")) {
    const language = /language-([\w+#-]+)/.exec(code.className)?.[1];
    if (language && hljs.getLanguage(language)) hljs.highlightElement(code);
  }
}

function renderMarkdown(target, source, { final = true } = {}) {
  let html;
  try {
    html = marked.parse(source || "");
  } catch {
    target.textContent = source;
    return;
  }
  target.innerHTML = DOMPurify.sanitize(html, { FORBID_TAGS: ["style", "form", "input", "button", "textarea"] });
  for (const pre of target.querySelectorAll("pre")) {
    const copy = el("button", { type: "button", class: "copy", text: "Copy" });
    copy.addEventListener("click", () => {
      navigator.clipboard?.writeText(pre.querySelector("code")?.textContent ?? pre.textContent).then(
        () => { copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 1200); },
        () => { copy.textContent = "Copy failed"; },
      );
    });
    pre.append(copy);
    const language = /language-([\w+#-]+)/.exec(pre.querySelector("code")?.className || "")?.[1];
    if (language) pre.dataset.language = language;
  }
  if (final) highlight(target);
}

// ---------------------------------------------------------------------------------------------------------
// theme, sidebar, panels

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  store.set("theme", theme);
}
$("theme-toggle").addEventListener("click", () => {
  setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
});

function openSidebar(open) {
  const app = document.querySelector(".app");
  if (NARROW.matches) {
    app.classList.toggle("sidebar-open", open);
    $("scrim").hidden = !open;
  } else {
    app.classList.toggle("sidebar-collapsed", !open);
  }
  $("sidebar-toggle").setAttribute("aria-expanded", String(open));
}
function sidebarIsOpen() {
  const app = document.querySelector(".app");
  return NARROW.matches ? app.classList.contains("sidebar-open") : !app.classList.contains("sidebar-collapsed");
}
function closeSidebarIfNarrow() { if (NARROW.matches) openSidebar(false); }
$("sidebar-toggle").addEventListener("click", () => openSidebar(!sidebarIsOpen()));
$("scrim").addEventListener("click", () => openSidebar(false));
NARROW.addEventListener("change", () => {
  document.querySelector(".app").classList.remove("sidebar-open", "sidebar-collapsed");
  $("scrim").hidden = true;
});

const PANELS = ["knowledge-panel", "memories-panel", "shortcuts"];
function closePanels() {
  let closed = false;
  for (const id of PANELS) {
    if (!$(id).hidden) { $(id).hidden = true; closed = true; }
  }
  $("shortcuts-toggle").setAttribute("aria-expanded", "false");
  return closed;
}
function togglePanel(id, onOpen) {
  const opening = $(id).hidden;
  closePanels();
  if (opening) {
    $(id).hidden = false;
    closeSidebarIfNarrow();
    onOpen?.();
  }
}
for (const button of document.querySelectorAll("[data-close]")) button.addEventListener("click", closePanels);
$("knowledge-tab").addEventListener("click", () => togglePanel("knowledge-panel", loadKnowledge));
$("memories-tab").addEventListener("click", () => togglePanel("memories-panel", loadMemories));
$("shortcuts-toggle").addEventListener("click", () => {
  togglePanel("shortcuts");
  $("shortcuts-toggle").setAttribute("aria-expanded", String(!$("shortcuts").hidden));
});

document.addEventListener("click", (event) => { // a click outside the shortcuts popover closes it
  if (!$("shortcuts").hidden && !event.target.closest("#shortcuts, #shortcuts-toggle")) {
    $("shortcuts").hidden = true;
    $("shortcuts-toggle").setAttribute("aria-expanded", "false");
  }
});

// ---------------------------------------------------------------------------------------------------------
// components

async function loadComponents() {
  const lists = await Promise.all(KINDS.map((k) => api("/" + PLURAL[k]).catch((e) => {
    if (e.status === 404) return []; // a deployment that does not serve this kind
    throw e;
  })));
  KINDS.forEach((k, i) => { state.components[k] = lists[i] || []; });
  renderComponents();
  const remembered = store.get("component");
  const all = KINDS.flatMap((k) => state.components[k].map((c) => ({ kind: k, c })));
  const pick = all.find(({ kind, c }) => `${kind}:${c.id}` === remembered) || all[0];
  if (pick) await selectComponent(pick.kind, pick.c, { keepSession: store.get("session") });
  else {
    $("component-title").textContent = "Nothing to chat with";
    showEmpty();
  }
}

function renderComponents() {
  const nav = $("component-list");
  nav.replaceChildren();
  for (const kind of KINDS) {
    const items = state.components[kind];
    if (!items.length) continue;
    nav.append(el("div", { class: "group-label", text: LABEL[kind] }));
    for (const c of items) {
      const selected = state.selected && state.selected.kind === kind && state.selected.id === c.id;
      nav.append(el("button", {
        type: "button", class: "component", testid: "component", role: "option",
        "data-kind": kind, "data-id": c.id, "aria-selected": selected ? "true" : "false",
        title: c.description || c.name || c.id,
        onclick: () => { selectComponent(kind, c); closeSidebarIfNarrow(); },
      }, el("span", { class: "dot" }), el("span", { class: "name", text: c.name || c.id })));
    }
  }
  nav.setAttribute("role", "listbox");
}

async function selectComponent(kind, component, { keepSession = null } = {}) {
  if (state.run) stopRun({ now: true });
  state.selected = { kind, id: component.id, name: component.name || component.id, raw: component };
  store.set("component", `${kind}:${component.id}`);
  $("component-title").textContent = state.selected.name;
  $("component-kind").textContent = kind;
  document.title = `${state.selected.name} · stratus playground`;
  renderComponents();
  $("session-search").value = "";
  newChat(); // at once: what the user types while the sessions load goes to this component's new chat
  const token = (state.selection = Symbol("selection"));
  const sessions = await loadSessions();
  const untouched = state.selection === token && !state.run && !state.session;
  if (untouched && keepSession && sessions.some((s) => s.session_id === keepSession)) await openSession(keepSession);
}

// ---------------------------------------------------------------------------------------------------------
// sessions

// One page of the component's sessions, newest first (filtered by the search box's words); "More" reads the
// next page by the cursor the API returns.
async function loadSessions({ cursor = null } = {}) {
  const list = $("session-list");
  if (!state.selected) return [];
  const { kind, id } = state.selected;
  const params = { type: kind, component_id: id, limit: "30", sort_by: "updated_at", sort_order: "desc" };
  const filter = $("session-search").value.trim();
  if (filter) params.session_name = filter;
  if (cursor) params.cursor = cursor;
  let page;
  try {
    page = await api("/sessions?" + withUser(params));
  } catch (error) {
    list.replaceChildren(el("li", { class: "none", text: "Could not list sessions: " + error.message }));
    return [];
  }
  if (state.selected?.kind !== kind || state.selected?.id !== id) return []; // another component meanwhile
  const sessions = (page.data || []).filter((s) => (s[`${kind}_id`] ?? id) === id);
  list.querySelector(".more")?.remove();
  if (cursor) list.append(...sessions.map(sessionItem));
  else {
    list.replaceChildren(...sessions.map(sessionItem));
    list.scrollTop = 0;
  }
  markWaiting(kind, id);
  if (!list.children.length) list.append(el("li", { class: "none", text: filter ? "No session matches." : "No sessions yet." }));
  const next = page.meta?.next_cursor;
  if (next) {
    list.append(el("li", { class: "more" }, el("button", {
      type: "button", class: "ghost small", text: "More sessions",
      onclick: () => loadSessions({ cursor: next }),
    })));
  }
  return sessions;
}

let sessionSearch = 0;
$("session-search").addEventListener("input", () => {
  clearTimeout(sessionSearch);
  sessionSearch = setTimeout(() => loadSessions(), 250);
});

// Sessions whose run waits for a person (GET /approvals lists the paused calls of agents, teams and workflows)
// get a badge.
async function markWaiting(kind, id) {
  let page;
  try {
    page = await api("/approvals?" + withUser({ [`${kind}_id`]: id, limit: "200" }));
  } catch {
    return; // a deployment without the approvals routes
  }
  const waiting = new Set((page.data || []).map((a) => a.session_id));
  for (const li of $("session-list").querySelectorAll("[data-testid=session]")) {
    const badge = li.querySelector(".waiting");
    if (waiting.has(li.dataset.sessionId) && !badge) {
      li.querySelector(".name")?.after(el("span", { class: "waiting", text: "waits for you", title: "A tool call waits for your approval" }));
    } else if (!waiting.has(li.dataset.sessionId)) badge?.remove();
  }
}

function sessionItem(s) {
  const when = s.updated_at || s.created_at;
  const name = s.session_name || "Untitled session";
  const li = el("li", {
    class: "session", testid: "session", "data-session-id": s.session_id,
    "aria-current": s.session_id === state.session ? "true" : null,
  });
  const open = el("button", { type: "button", class: "open", title: name, onclick: () => { openSession(s.session_id); closeSidebarIfNarrow(); } },
    el("span", { class: "name", text: name }),
    el("time", { testid: "session-time", datetime: isoOf(when), title: isoOf(when), text: relativeTime(when) }));
  const rename = el("button", { type: "button", class: "act", testid: "session-rename", title: "Rename", "aria-label": "Rename" }, icon("edit"));
  const del = el("button", { type: "button", class: "act", testid: "session-delete", title: "Delete", "aria-label": "Delete" }, icon("trash"));
  rename.addEventListener("click", () => startRename(li, s, name));
  del.addEventListener("click", () => {
    const confirm = el("button", { type: "button", class: "act confirm", testid: "session-delete-confirm", text: "Delete?" });
    confirm.addEventListener("click", () => deleteSession(s.session_id));
    confirm.addEventListener("blur", () => setTimeout(() => confirm.isConnected && confirm.replaceWith(del), 150));
    del.replaceWith(confirm);
    confirm.focus();
  });
  li.append(open, rename, del);
  return li;
}

function startRename(li, s, name) {
  const input = el("input", { testid: "session-rename-input", value: name, "aria-label": "Session name" });
  const children = [...li.childNodes];
  li.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const cancel = () => { if (!done) { done = true; li.replaceChildren(...children); } };
  input.addEventListener("keydown", async (event) => {
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); cancel(); }
    if (event.key === "Enter") {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) { cancel(); return; }
      done = true;
      try {
        await api(`/sessions/${encodeURIComponent(s.session_id)}/rename?` + withUser({ type: state.selected.kind }),
          json("POST", { session_name: value }));
      } catch (error) { toast("Rename failed: " + error.message); }
      await loadSessions();
    }
  });
  input.addEventListener("blur", () => setTimeout(cancel, 100));
}

async function deleteSession(sessionId) {
  try {
    await api(`/sessions/${encodeURIComponent(sessionId)}?` + withUser({ type: state.selected.kind }), { method: "DELETE" });
  } catch (error) { toast("Delete failed: " + error.message); }
  if (sessionId === state.session) newChat();
  await loadSessions();
}

function markCurrentSession() {
  for (const li of $("session-list").querySelectorAll("[data-testid=session]")) {
    if (li.dataset.sessionId === state.session) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
  store.set("session", state.session || "");
}

function newChat() {
  if (state.run) stopRun({ now: true });
  state.session = null;
  markCurrentSession();
  showEmpty();
  if (!NARROW.matches) $("composer").focus({ preventScroll: true }); // no keyboard popping up on a phone
}
$("new-chat").addEventListener("click", () => { newChat(); closeSidebarIfNarrow(); });

async function openSession(sessionId) {
  if (state.run) stopRun({ now: true });
  const { kind } = state.selected;
  let runs;
  try {
    runs = await api(`/sessions/${encodeURIComponent(sessionId)}/runs?` + withUser({ type: kind }));
  } catch (error) {
    toast("Could not open the session: " + error.message);
    return;
  }
  state.session = sessionId;
  markCurrentSession();
  $("log").replaceChildren();
  renderHistory(runs);
  if (!$("log").children.length) showEmpty();
  scrollDown(true);
}

// ---------------------------------------------------------------------------------------------------------
// empty state

function examplePrompts() {
  const raw = state.selected?.raw || {};
  const own = [raw.example_prompts, raw.metadata?.example_prompts, raw.metadata?.prompts].find((p) => Array.isArray(p) && p.length);
  if (own) return own.slice(0, 4);
  // The API lists no prompts of an agent's own, but it lists its tools: one prompt each for the first two.
  const tools = (raw.tools?.tools || (Array.isArray(raw.tools) ? raw.tools : [])).filter((t) => t && t.name);
  const fromTools = tools.slice(0, 2).map((t) => t.name === "search_knowledge_base"
    ? "What do your documents say about getting started?"
    : `Try the ${t.name} tool${t.description ? `: ${t.description.replace(/\.$/, "")}` : ""}.`);
  const generic = GENERIC_PROMPTS[state.selected?.kind || "agent"];
  return [generic[0], ...fromTools, ...generic.slice(1)].slice(0, 4);
}

function showEmpty() {
  const selected = state.selected;
  const prompts = selected ? examplePrompts() : [];
  const about = el("p", { class: "about" });
  $("log").replaceChildren(el("div", { class: "empty", testid: "empty-state" },
    el("h2", { text: selected ? `Chat with ${selected.name}` : "No agents, teams or workflows" }),
    el("p", { text: selected?.raw?.description || (selected ? `A new ${selected.kind} session.` : "The app declares none.") }),
    about,
    el("div", { class: "prompts" }, ...prompts.map((p) => el("button", {
      type: "button", class: "example-prompt", testid: "example-prompt", text: p,
      onclick: () => { $("composer").value = p; submit(); },
    })))));
  if (selected) describe(selected).then((line) => { about.textContent = line; }, () => {});
}

// One line of what the component is made of: an agent's tools, a team's members, a workflow's steps (only
// GET /workflows/{id} lists those; read once).
async function describe(selected) {
  const raw = selected.raw;
  const names = (items) => items.map((x) => x.name || x.id).filter(Boolean).join(", ");
  if (selected.kind === "agent") {
    const tools = raw.tools?.tools || [];
    return tools.length ? `Tools: ${names(tools)}` : "";
  }
  if (selected.kind === "team") {
    const members = raw.members || [];
    return members.length ? `Members: ${names(members)}${raw.mode ? ` · ${raw.mode} mode` : ""}` : "";
  }
  raw.detail ||= await api(`/workflows/${encodeURIComponent(raw.id)}`);
  const steps = raw.detail.steps || [];
  return steps.length ? `Steps: ${steps.map((step) => step.name || step.type).join(" → ")}` : "";
}

// ---------------------------------------------------------------------------------------------------------
// rendering one run: a view holds its tool calls, nested member runs or steps, its text and its meta line

function scrollDown(force = false) {
  const chat = $("chat");
  const near = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 160;
  if (force || near) chat.scrollTop = chat.scrollHeight;
}

function userMessage(content) {
  const node = el("div", { class: "msg", testid: "message", "data-role": "user" },
    el("div", { class: "bubble", text: text(content) }));
  $("log").append(node);
  return node;
}

function errorMessage(message) {
  const node = el("div", { class: "msg", testid: "message", "data-role": "error" }, el("div", { class: "bubble", text: message }));
  $("log").append(node);
  scrollDown(true);
  return node;
}

function toast(message) { errorMessage(message); }

class View {
  // `root` gets the parts; `top` views are messages (their body is the message-body, their meta the run-meta).
  constructor(root, { top = false } = {}) {
    this.root = root;
    this.top = top;
    this.approvals = el("div", { class: "approvals" });
    this.tools = el("div", { class: "tools" });
    this.nested = el("div", { class: "nested" });
    this.body = el("div", { class: "md", testid: top ? "message-body" : null });
    this.meta = null;
    this.content = "";
    this.toolEls = new Map();
    this.pending = false;
    root.append(this.tools, this.nested, this.approvals, this.body);
  }

  append(delta) {
    this.content += delta;
    this.schedule();
  }

  set(content) {
    // Structured output (a response model's JSON) reads best as a JSON block.
    this.content = content != null && typeof content === "object" ? "```json\n" + text(content) + "\n```" : text(content);
    this.schedule();
  }

  think(delta) { // the model's reasoning, when it streams any: folded away under the answer's parts
    if (!this.reasoning) {
      this.reasoningText = "";
      this.reasoningBody = el("div", { class: "reasoning-body" });
      this.reasoning = el("details", { class: "reasoning" }, el("summary", { text: "Thinking" }), this.reasoningBody);
      this.root.insertBefore(this.reasoning, this.tools);
    }
    this.reasoningText += delta;
    this.reasoningBody.textContent = this.reasoningText;
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.flush(); });
  }

  flush() {
    renderMarkdown(this.body, this.content, { final: !this.live });
    if (this.copyButton) this.copyButton.hidden = !this.content; // nothing to copy yet (or ever: a paused run)
    scrollDown();
  }

  streaming(on) {
    const ended = this.live && !on;
    this.live = on;
    this.body.classList.toggle("cursor", on);
    if (ended && this.body.querySelector("pre code[class*=language-]")) highlight(this.body);
  }

  // A message that is nothing but an error is an error message; one with an answer or calls keeps them.
  fail(message) {
    const error = el("div", { class: "error", text: message });
    if (this.top && this.retry) { // the same message again, in the same session
      const again = el("button", { type: "button", class: "retry small", text: "Try again", testid: "retry" });
      again.addEventListener("click", () => { if (!state.run) { again.remove(); this.retry(); } });
      error.append(again);
    }
    this.root.append(error);
    const empty = !this.content && !this.toolEls.size && !this.nested.children.length && !this.approvals.children.length;
    if (this.top && empty) this.root.dataset.role = "error";
  }

  tool(tool) {
    const id = tool.tool_call_id || `${tool.tool_name}:${this.toolEls.size}`;
    let node = this.toolEls.get(id);
    if (!node) {
      node = toolCall(tool);
      this.toolEls.set(id, node);
      this.tools.append(node);
    } else node.update(tool);
    scrollDown();
    return node;
  }

  done(metrics) {
    this.streaming(false);
    this.flush();
    const line = metaLine(metrics);
    if (!line) return;
    if (!this.meta) {
      this.meta = el("div", { class: "run-meta", testid: this.top ? "run-meta" : null });
      this.root.append(this.meta);
    }
    this.meta.textContent = line;
  }
}

function metaLine(metrics) {
  if (!metrics) return "";
  let input = metrics.input_tokens;
  let output = metrics.output_tokens;
  if (input == null && metrics.steps) { // a workflow's metrics: per step
    input = 0; output = 0;
    for (const step of Object.values(metrics.steps)) {
      input += step.metrics?.input_tokens || 0;
      output += step.metrics?.output_tokens || 0;
    }
  }
  const parts = [`${(input ?? 0).toLocaleString()} in`, `${(output ?? 0).toLocaleString()} out`];
  if (metrics.duration != null) parts.push(`${metrics.duration < 10 ? metrics.duration.toFixed(2) : metrics.duration.toFixed(1)} s`);
  if (metrics.time_to_first_token != null) parts.push(`first token ${metrics.time_to_first_token.toFixed(2)} s`);
  return parts.join(" · ");
}

function preview(value, length = 90) {
  const s = text(value).replace(/\s+/g, " ").trim();
  return s.length > length ? s.slice(0, length - 1) + "…" : s;
}

function toolCall(tool) {
  const status = el("span", { class: "status", "aria-hidden": "true" });
  const name = el("span", { class: "tname" });
  const short = el("span", { class: "preview" });
  const head = el("button", { type: "button", class: "tool-head", "aria-expanded": "false" }, status, name, short,
    el("span", { class: "chev", text: "›", "aria-hidden": "true" }));
  const node = el("div", { class: "tool-call", testid: "tool-call" }, head);
  let current = tool;
  let result = null;
  const fill = () => {
    result.replaceChildren(
      el("h4", { text: "Arguments" }), el("pre", { text: text(current.tool_args ?? {}) }),
      el("h4", { text: current.tool_call_error ? "Error" : "Result" }),
      el("pre", { text: current.result == null ? "(still running)" : text(current.result) }));
  };
  node.update = (t) => {
    current = { ...current, ...t };
    node.dataset.tool = current.tool_name;
    node.dataset.status = current.result == null && current.tool_call_error == null ? "running"
      : current.tool_call_error ? "failed" : "done";
    name.textContent = current.tool_name;
    const args = Object.entries(current.tool_args || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
    short.textContent = current.result == null ? `(${preview(args, 60)})` : `→ ${preview(current.result)}`;
    if (result) fill();
  };
  head.addEventListener("click", (event) => {
    event.stopPropagation();
    if (result) {
      result.remove();
      result = null;
    } else {
      result = el("div", { class: "tool-result", testid: "tool-result" });
      fill();
      node.append(result);
    }
    node.classList.toggle("open", !!result);
    head.setAttribute("aria-expanded", String(!!result));
  });
  node.update(tool);
  return node;
}

function nestedBlock(view, testid, attr, value, label) {
  const summary = el("summary", {}, el("span", { class: "label", text: label }), el("span", { class: "state", text: "running…" }));
  const inner = el("div", { class: "inner" });
  const details = el("details", { class: testid, testid, [attr]: value, open: true }, summary, inner);
  view.nested.append(details);
  const child = new View(inner);
  child.details = details;
  child.setState = (s) => { summary.querySelector(".state").textContent = s; };
  return child;
}

function assistantMessage(name) {
  const copy = el("button", { type: "button", class: "copy-answer", title: "Copy the answer (markdown)", text: "Copy" });
  const node = el("div", { class: "msg", testid: "message", "data-role": "assistant" },
    el("div", { class: "who" }, el("span", { text: name }), copy));
  $("log").append(node);
  const view = new View(node, { top: true });
  view.copyButton = copy;
  copy.hidden = true;
  copy.addEventListener("click", () => {
    navigator.clipboard?.writeText(view.content).then(
      () => { copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 1200); },
      () => { copy.textContent = "Copy failed"; });
  });
  return view;
}

// ---------------------------------------------------------------------------------------------------------
// streaming: the server's SSE events, agents', teams' (Team* names) and workflows' (Workflow*, Step*)

class RunStream {
  constructor(view, kind) {
    this.view = view;
    this.kind = kind;
    this.topRun = null;
    this.views = new Map(); // run_id -> View (members, step runs)
    this.steps = new Map(); // step_id or step_name -> View
    this.finished = false;
  }

  // The run's last event: the composer is free at once (the stream may take a moment more to close).
  finish() {
    this.finished = true;
    if (state.run && state.run.controller === this.controller) {
      state.run = null;
      setStreaming(false);
    }
  }

  stepView(event) {
    const key = event.step_id || event.step_name;
    if (key == null) return null;
    let view = this.steps.get(key) || (event.step_name != null ? this.steps.get(event.step_name) : null);
    if (!view) {
      view = nestedBlock(this.view, "workflow-step", "data-step", event.step_name ?? key, event.step_name ?? "step");
      this.steps.set(key, view);
      if (event.step_name != null) this.steps.set(event.step_name, view);
    }
    return view;
  }

  viewOf(event) {
    if (this.topRun == null) this.topRun = event.run_id;
    if (event.run_id === this.topRun) return this.view;
    let view = this.views.get(event.run_id);
    if (view) return view;
    const parent = event.parent_run_id && this.views.get(event.parent_run_id);
    const name = event.agent_name || event.team_name || event.agent_id || event.team_id || "member";
    const memberId = event.agent_id || event.team_id || name;
    if (event.parent_run_id === this.topRun || parent) {
      view = nestedBlock(parent || this.view, "member-run", "data-member", memberId, name);
    } else if (event.step_id || event.step_name) {
      const step = this.stepView(event);
      view = event.parent_run_id ? nestedBlock(step, "member-run", "data-member", memberId, name) : step;
      if (!event.parent_run_id) { this.views.set(event.run_id, view); return view; }
    } else {
      view = nestedBlock(this.view, "member-run", "data-member", memberId, name);
    }
    this.views.set(event.run_id, view);
    return view;
  }

  handle(event) {
    const name = (event.event || "").replace(/^Team(?=Run|Tool|Model)/, "");
    if (name.startsWith("Step") || name.startsWith("Workflow") || /Execution|Iteration/.test(name)) return this.workflowEvent(name, event);
    const view = this.viewOf(event);
    const top = view === this.view;
    switch (name) {
      case "RunStarted":
      case "RunContinued":
        if (top && state.run) state.run.runId = event.run_id;
        if (top && event.session_id) adoptSession(event.session_id);
        view.streaming(true);
        break;
      case "RunContent":
        if (event.reasoning_content) view.think(event.reasoning_content);
        if (event.content != null && event.content !== "") {
          if (typeof event.content === "string") view.append(event.content);
          else view.set(event.content);
        }
        break;
      case "ToolCallStarted":
        // Text before a call ("Let me check...") and the answer after it are two paragraphs, not one run-on line.
        if (view.content && !view.content.endsWith("\n\n")) view.append("\n\n");
        if (event.tool) view.tool(event.tool);
        break;
      case "ToolCallCompleted":
        if (event.tool) view.tool(event.tool);
        break;
      case "RunCompleted":
        if (event.content != null && (typeof event.content !== "string" || event.content.length >= view.content.length)) view.set(event.content);
        view.done(event.metrics);
        view.setState?.("done");
        if (top) this.finish();
        break;
      case "RunPaused":
        view.streaming(false);
        view.setState?.("waiting for you");
        if (top) { this.finish(); approvalsFor(this.view, this.kind, event); }
        break;
      case "RunError":
        view.streaming(false);
        view.setState?.("failed");
        view.fail(event.content || event.error || "the run failed");
        if (top) this.finish();
        break;
      case "RunCancelled":
        view.streaming(false);
        view.setState?.("cancelled");
        view.root.append(el("div", { class: "thinking", text: "Cancelled." }));
        if (top) this.finish();
        break;
      default:
        break; // ModelRequest*, RunContentCompleted, MemoryUpdate*, ToolkitUnavailable: nothing to show
    }
  }

  workflowEvent(name, event) {
    if (this.topRun == null) this.topRun = event.run_id;
    switch (name) {
      case "WorkflowStarted":
        if (state.run) state.run.runId = event.run_id;
        if (event.session_id) adoptSession(event.session_id);
        this.view.streaming(true);
        return;
      case "StepStarted":
        this.stepView(event)?.setState("running…");
        return;
      case "StepOutput": {
        const step = this.stepView(event);
        const out = event.step_output?.content;
        if (step && out != null && !step.content) step.set(out);
        return;
      }
      case "StepCompleted": {
        const step = this.stepView(event);
        if (!step) return;
        if (!step.content && event.content != null && step.nested.children.length === 0) step.set(event.content);
        step.flush();
        step.setState("done");
        return;
      }
      case "StepError": {
        const step = this.stepView(event);
        step?.setState("failed");
        step?.root.append(el("div", { class: "error", text: event.error || "the step failed" }));
        return;
      }
      case "StepExecutorPaused":
        this.stepView(event)?.setState("waiting for you");
        return;
      case "WorkflowCompleted":
        if (event.content != null) this.view.set(event.content);
        this.view.done(event.metrics);
        this.finish();
        return;
      case "WorkflowPaused":
        this.view.streaming(false);
        this.finish();
        approvalsFor(this.view, "workflow", event);
        return;
      case "WorkflowError":
        this.view.streaming(false);
        this.view.fail(event.error || event.content || "the workflow failed");
        this.finish();
        return;
      case "WorkflowCancelled":
        this.view.streaming(false);
        this.view.root.append(el("div", { class: "thinking", text: "Cancelled." }));
        this.finish();
        return;
      default:
        return; // Steps/Parallel/Condition/Loop/Router markers: their steps' events say enough
    }
  }
}

function adoptSession(sessionId) {
  if (state.session === sessionId) return;
  state.session = sessionId;
  const list = $("session-list");
  if (!list.querySelector(`[data-session-id="${CSS.escape(sessionId)}"]`)) {
    // A new chat's session, listed as its run starts (the server stores it as the run ends; the list is
    // read again then): named, as the server will name it, after the first message.
    list.querySelector(".none")?.remove();
    const first = $("log").querySelector("[data-role=user] .bubble")?.textContent || "New session";
    list.prepend(sessionItem({ session_id: sessionId, session_name: first, updated_at: new Date().toISOString() }));
  }
  markCurrentSession();
}

async function readStream(response, stream) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (!data) continue;
      let event;
      try { event = JSON.parse(data); } catch { continue; }
      stream.handle(event);
    }
  }
}

async function streamRun(path, form, view, kind) {
  const controller = new AbortController();
  state.run = { controller, runId: null, kind, id: state.selected.id, session: state.session };
  setStreaming(true);
  // A continued run goes on in the message it paused in: the same members' and steps' blocks fill on.
  const stream = view.stream || (view.stream = new RunStream(view, kind));
  stream.finished = false;
  stream.controller = controller;
  view.streaming(true);
  let accepted = true; // false when the server refused the request (an HTTP error before any event)
  try {
    const response = await fetch(url(path), { method: "POST", body: form, headers: authHeaders(), signal: controller.signal });
    if (!response.ok) {
      accepted = false;
      throw await fail(response);
    }
    await readStream(response, stream);
    if (!stream.finished && !controller.signal.aborted) view.fail("The stream ended early.");
  } catch (error) {
    if (error.name !== "AbortError") view.fail(error.message);
    else if (!stream.finished) view.root.append(el("div", { class: "thinking", text: "Stopped." }));
  } finally {
    view.streaming(false);
    view.flush();
    if (state.run?.controller === controller) state.run = null;
    if (!state.run) setStreaming(false); // (a run started meanwhile keeps its Stop button)
    loadSessions();
    if (!$("memories-panel").hidden) setTimeout(loadMemories, 500); // what the run taught, once the worker has it
  }
  return accepted;
}

function setStreaming(on) {
  $("stop").disabled = false;
  $("send").hidden = on;
  $("stop").hidden = !on;
  if (!on && !NARROW.matches) $("composer").focus({ preventScroll: true });
}

// Stop asks the server to cancel, then lets the stream end with its RunCancelled (what was said stays); it is cut
// off only if that does not come soon. Leaving the chat (another session or component) cuts it at once.
async function stopRun({ now = false } = {}) {
  const run = state.run;
  if (!run || run.stopping) return;
  run.stopping = true;
  $("stop").disabled = true;
  if (run.runId) {
    const query = new URLSearchParams({ session_id: run.session || state.session || "" });
    if (userId()) query.set("user_id", userId());
    const cancel = api(`/${PLURAL[run.kind]}/${encodeURIComponent(run.id)}/runs/${encodeURIComponent(run.runId)}/cancel?` + query,
      { method: "POST" }).catch(() => {});
    if (!now) {
      await cancel;
      setTimeout(() => run.controller.abort(), 1500);
      return;
    }
  }
  run.controller.abort();
}
$("stop").addEventListener("click", () => stopRun());

// Files attached to the next message (sent as the run's multipart `files`: text files are read into the message,
// images and documents passed to the model).
const attached = [];
function renderAttachments() {
  const box = $("attachments");
  box.hidden = !attached.length;
  box.replaceChildren(...attached.map((file, i) => el("span", { class: "chip" },
    el("span", { text: file.name }),
    el("button", { type: "button", title: `Remove ${file.name}`, "aria-label": `Remove ${file.name}`, text: "✕",
      onclick: () => { attached.splice(i, 1); renderAttachments(); } }))));
}
$("attach").addEventListener("click", () => $("attach-input").click());
$("attach-input").addEventListener("change", () => {
  attached.push(...$("attach-input").files);
  $("attach-input").value = "";
  renderAttachments();
  $("composer").focus();
});

function submit() {
  const message = $("composer").value.trim();
  if (!message || state.run || !state.selected) return;
  $("composer").value = "";
  autosize();
  const files = attached.splice(0);
  renderAttachments();
  send(message, files);
}

async function send(message, files = []) {
  const { kind, id, name } = state.selected;
  if ($("log").querySelector("[data-testid=empty-state]")) $("log").replaceChildren();
  const mine = userMessage(message);
  if (files.length) {
    mine.querySelector(".bubble").append(el("div", { class: "files" },
      ...files.map((f) => el("span", { class: "chip", text: f.name }))));
  }
  const view = assistantMessage(name);
  view.retry = () => send(message, files);
  scrollDown(true);
  const form = new FormData();
  form.set("message", message);
  form.set("stream", "true");
  if (state.session) form.set("session_id", state.session);
  if (userId()) form.set("user_id", userId());
  for (const file of files) form.append("files", file, file.name);
  await streamRun(`/${PLURAL[kind]}/${encodeURIComponent(id)}/runs`, form, view, kind);
}

// ---------------------------------------------------------------------------------------------------------
// human in the loop: a paused run's calls, decided here, then /continue streams the rest into the same message

function waitingTools(event) {
  if (event.tools?.length) return event.tools.map((tool) => ({ tool }));
  if (event.requirements?.length) return event.requirements.map((r) => ({ tool: r.tool_execution || r, requirement: r }));
  const out = [];
  for (const step of event.step_requirements || []) {
    for (const r of step.executor_requirements || []) out.push({ tool: r.tool_execution || r, requirement: r, step });
  }
  return out;
}

function approvalsFor(view, kind, event) {
  const waiting = waitingTools(event);
  if (!waiting.length) {
    view.approvals.append(el("div", { class: "thinking", text: "The run is paused." }));
    return;
  }
  const decisions = waiting.map(() => null);
  const undo = [];
  const runId = event.run_id;
  const sessionId = event.session_id || state.session;
  const componentId = event.workflow_id || event.team_id || event.agent_id || state.selected.id;
  waiting.forEach(({ tool }, index) => {
    const fields = [];
    const card = el("div", { class: "approval", testid: "approval", "data-tool": tool.tool_name },
      el("div", { class: "q", text: tool.external_execution_required ? `Run ${tool.tool_name} yourself and give its result`
        : tool.requires_user_input ? `${tool.tool_name} needs some input` : `Allow ${tool.tool_name}?` }),
      el("pre", { text: text(tool.tool_args ?? {}) }));
    if (tool.requires_user_input) {
      for (const field of tool.user_input_schema || []) {
        if (field.value != null) continue;
        const input = el("input", { "aria-label": field.name, placeholder: field.description || field.name });
        fields.push({ field, input });
        card.append(el("label", {}, el("span", { text: field.name }), input));
      }
    }
    let resultBox = null;
    if (tool.external_execution_required) {
      resultBox = el("textarea", { rows: "2", "aria-label": "result", placeholder: "the result" });
      card.append(el("label", {}, el("span", { text: "Result" }), resultBox));
    }
    const note = el("input", { "aria-label": "note", placeholder: "note (optional)" });
    const asks = tool.requires_user_input || tool.external_execution_required; // a value to give, not a yes/no
    const approve = el("button", { type: "button", class: "primary small", testid: "approve", text: asks ? "Submit" : "Approve" });
    const reject = el("button", { type: "button", class: "danger small", testid: "reject", text: "Reject" });
    // Input has no refusal in the API (a call waiting for it is resumed with its values); an outside result does.
    const row = el("div", { class: "row" }, approve, tool.requires_user_input ? null : reject, tool.requires_user_input ? null : note);
    card.append(row);
    const decide = (confirmed) => {
      const missing = fields.find((x) => !x.input.value.trim());
      if (confirmed && missing) { // every asked-for value, before the run goes on with it
        missing.input.setAttribute("aria-invalid", "true");
        missing.input.focus();
        return;
      }
      const decided = { ...tool };
      if (tool.requires_confirmation || (!tool.requires_user_input && !tool.external_execution_required)) {
        decided.confirmed = confirmed;
        if (!confirmed && note.value.trim()) decided.confirmation_note = note.value.trim();
      }
      if (tool.requires_user_input) {
        decided.user_input_schema = (tool.user_input_schema || []).map((f) => {
          const given = fields.find((x) => x.field.name === f.name);
          return given ? { ...f, value: given.input.value } : f;
        });
      }
      if (tool.external_execution_required) decided.result = confirmed ? resultBox.value : (note.value || "rejected by the user");
      decisions[index] = { decided, confirmed };
      const said = el("div", { class: "decided", text: confirmed ? (asks ? "Sent." : "Approved.") : "Rejected." });
      row.replaceWith(said);
      said.undo = () => { decisions[index] = null; said.replaceWith(row); };
      undo.push(said);
      if (decisions.every((d) => d)) {
        continueRun(view, kind, componentId, runId, sessionId, waiting, decisions).then((accepted) => {
          if (!accepted) for (const decided of undo.splice(0)) decided.undo(); // refused (e.g. a value missing): decide again
        });
      }
    };
    approve.addEventListener("click", () => decide(true));
    reject.addEventListener("click", () => decide(false));
    view.approvals.append(card);
  });
  scrollDown(true);
}

async function continueRun(view, kind, componentId, runId, sessionId, waiting, decisions) {
  const form = new FormData();
  form.set("stream", "true");
  if (sessionId) form.set("session_id", sessionId);
  if (userId()) form.set("user_id", userId());
  if (kind === "agent") form.set("tools", JSON.stringify(decisions.map((d) => d.decided)));
  else if (kind === "team") {
    form.set("requirements", JSON.stringify(waiting.map((w, i) => ({
      ...w.requirement, confirmation: decisions[i].confirmed, tool_execution: decisions[i].decided,
    }))));
  } else {
    const steps = new Map();
    waiting.forEach((w, i) => {
      const key = w.step;
      if (!steps.has(key)) steps.set(key, []);
      steps.get(key).push({ ...w.requirement, confirmation: decisions[i].confirmed, tool_execution: decisions[i].decided });
    });
    form.set("step_requirements", JSON.stringify([...steps].map(([step, reqs]) => ({ ...step, executor_requirements: reqs }))));
  }
  return streamRun(`/${PLURAL[kind]}/${encodeURIComponent(componentId)}/runs/${encodeURIComponent(runId)}/continue`, form, view, kind);
}

// ---------------------------------------------------------------------------------------------------------
// history: a session's stored runs rendered like live ones

function renderHistory(runs) {
  const children = new Map();
  for (const run of runs) {
    if (run.parent_run_id) {
      if (!children.has(run.parent_run_id)) children.set(run.parent_run_id, []);
      children.get(run.parent_run_id).push(run);
    }
  }
  const ids = new Set(runs.map((r) => r.run_id));
  for (const run of runs) {
    if (run.parent_run_id && ids.has(run.parent_run_id)) continue; // shown inside its parent
    const input = run.run_input ?? run.input?.input_content ?? run.input;
    if (input != null && input !== "") {
      const mine = userMessage(typeof input === "string" ? input : text(input));
      const attachedFiles = [...(run.files || []), ...(run.images || [])]
        .map((f) => f.name || f.filename || f.id).filter(Boolean);
      if (attachedFiles.length) {
        mine.querySelector(".bubble").append(el("div", { class: "files" },
          ...attachedFiles.map((name) => el("span", { class: "chip", text: name }))));
      }
    }
    const view = assistantMessage(run.team_name || run.workflow_name || run.agent_name || state.selected.name);
    view.stream = new RunStream(view, run.workflow_id ? "workflow" : run.team_id ? "team" : "agent");
    view.stream.topRun = run.run_id; // a paused run continued from here fills these blocks on
    renderStoredRun(view, run, children, view.stream);
  }
}

// A stored run names its agent by id only (as AgentOS' does): the name comes from the component's own listing.
function memberName(id) {
  const seen = [];
  const walk = (c) => {
    if (!c || seen.includes(c)) return null;
    seen.push(c);
    if (c.id === id && c.name) return c.name;
    for (const m of c.members || []) { const found = walk(m); if (found) return found; }
    return null;
  };
  return walk(state.selected?.raw) || state.components.agent.find((a) => a.id === id)?.name || id || "member";
}

function renderStoredRun(view, run, children, stream) {
  for (const tool of run.tools || []) view.tool(tool);
  for (const child of children.get(run.run_id) || []) {
    const member = nestedBlock(view, "member-run", "data-member", child.agent_id || child.team_id || "member",
      child.agent_name || child.team_name || memberName(child.agent_id || child.team_id));
    stream.views.set(child.run_id, member);
    renderStoredRun(member, child, children, stream);
    member.setState(statusWord(child.status));
  }
  if (run.step_results) {
    const executors = new Map((run.step_executor_runs || []).map((r) => [r.workflow_step_id, r]));
    for (const step of run.step_results) {
      const stepView = nestedBlock(view, "workflow-step", "data-step", step.step_name, step.step_name || "step");
      if (step.step_id) stream.steps.set(step.step_id, stepView);
      if (step.step_name) stream.steps.set(step.step_name, stepView);
      const executor = executors.get(step.step_id);
      if (executor) {
        stream.views.set(executor.run_id, stepView);
        for (const tool of executor.tools || []) stepView.tool(tool);
        const grand = children.get(executor.run_id) || [];
        for (const child of grand) {
          const member = nestedBlock(stepView, "member-run", "data-member", child.agent_id || "member", child.agent_name || memberName(child.agent_id));
          stream.views.set(child.run_id, member);
          renderStoredRun(member, child, children, stream);
        }
      }
      stepView.set(step.content ?? executor?.content ?? "");
      stepView.flush();
      stepView.setState(step.success === false || step.error ? "failed" : "done");
    }
  }
  const status = (run.status || "").toUpperCase();
  if (status === "ERROR") { // a failed run's content is its error
    view.fail(text(run.content) || "The run failed.");
    view.setState?.("failed");
    return;
  }
  if (run.reasoning_content) view.think(run.reasoning_content);
  if (run.content != null) view.set(run.content);
  view.flush();
  if (status === "PAUSED") {
    view.setState?.("waiting for you");
    if (view.top) pausedFromHistory(view, run);
    return;
  }
  if (status === "CANCELLED") view.root.append(el("div", { class: "thinking", text: "Cancelled." }));
  view.done(run.metrics);
  view.setState?.(statusWord(run.status));
}

// A paused run from a session's run list carries what it waits on (`requirements`, a workflow's
// `step_requirements`); a server whose list leaves them out has them on the run's own route.
async function pausedFromHistory(view, run) {
  const kind = run.workflow_id ? "workflow" : run.team_id ? "team" : "agent";
  const componentId = run.workflow_id || run.team_id || run.agent_id || state.selected.id;
  const sessionId = state.session;
  let detail = run;
  if (!run.requirements?.length && !run.step_requirements?.length) {
    try {
      detail = await api(`/${PLURAL[kind]}/${encodeURIComponent(componentId)}/runs/${encodeURIComponent(run.run_id)}?`
        + withUser({ session_id: sessionId }));
    } catch { /* the list's own fields, then */ }
  }
  if (state.session !== sessionId || !view.root.isConnected) return; // the user moved on meanwhile
  const tools = kind === "agent" ? (detail.tools || run.tools || []).filter(isWaiting) : [];
  approvalsFor(view, kind, { ...detail, tools, run_id: run.run_id, session_id: sessionId, [`${kind}_id`]: componentId });
}

function isWaiting(tool) {
  return (tool.requires_confirmation && tool.confirmed == null) || (tool.requires_user_input && !tool.answered)
    || (tool.external_execution_required && tool.result == null);
}

function statusWord(status) {
  return { COMPLETED: "done", ERROR: "failed", CANCELLED: "cancelled", PAUSED: "waiting", RUNNING: "running…" }[(status || "").toUpperCase()] || "";
}

// ---------------------------------------------------------------------------------------------------------
// knowledge

async function loadKnowledge() {
  try {
    const select = $("knowledge-base");
    if (!select.options.length) { // the knowledge bases, from AgentOS' /config: a picker when there are several
      const config = await api("/config").catch(() => null);
      const bases = config?.knowledge?.knowledge_instances || [];
      if (bases.length > 1) for (const b of bases) select.add(new Option(b.name || b.id, b.id));
    }
    select.hidden = select.options.length < 2;
    await listContent();
  } catch (error) {
    $("knowledge-items").replaceChildren(el("li", { text: "Could not list the content: " + error.message }));
  }
}

function knowledgeQuery(params = {}) {
  const query = new URLSearchParams(params);
  const base = $("knowledge-base").value;
  if (base) query.set("knowledge_id", base);
  return query;
}

async function listContent() {
  const page = await api("/knowledge/content?" + knowledgeQuery({ limit: "100" }));
  const items = page.data || [];
  $("knowledge-items").replaceChildren(...items.map((c) => {
    const status = (c.status || "").toLowerCase();
    return el("li", { testid: "knowledge-item", "data-status": status, "data-content-id": c.id },
      el("div", { class: "row" }, el("strong", { text: c.name || c.id }), el("span", { class: `badge ${status}`, text: status })),
      c.status_message ? el("div", { class: "muted small", text: c.status_message }) : null,
      c.updated_at || c.created_at ? el("div", { class: "muted small", text: relativeTime(c.updated_at || c.created_at) }) : null);
  }));
  if (!items.length) $("knowledge-items").append(el("li", { class: "muted", text: "Nothing yet: add a file above." }));
}

$("knowledge-base").addEventListener("change", () => {
  $("knowledge-results").replaceChildren();
  $("knowledge-progress").hidden = true;
  listContent().catch((error) => toast("Could not list the content: " + error.message));
});

const drop = document.querySelector(".upload");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  for (const file of event.dataTransfer?.files || []) { upload(file); break; } // one at a time: one progress line
});

$("knowledge-upload").addEventListener("change", () => {
  const file = $("knowledge-upload").files[0];
  if (file) upload(file);
});

function upload(file) {
  const box = $("knowledge-progress");
  const bar = $("knowledge-bar");
  const status = $("knowledge-status");
  box.hidden = false;
  box.classList.remove("failed");
  box.dataset.status = "uploading";
  bar.value = 0;
  bar.max = 100;
  status.textContent = `Uploading ${file.name}…`;
  const form = new FormData();
  form.set("file", file, file.name);
  form.set("name", file.name);
  // XMLHttpRequest, not fetch: only it reports the upload's progress
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url("/knowledge/content?" + knowledgeQuery()));
  for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) {
      bar.value = Math.round((event.loaded / event.total) * 100);
      status.textContent = `Uploading ${file.name}: ${bar.value}%`;
    }
  });
  xhr.addEventListener("load", () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status >= 400) {
      if (xhr.status === 401) askForKey();
      knowledgeFailed(typeof body.detail === "string" ? body.detail : `HTTP ${xhr.status}`);
      return;
    }
    bar.value = 100;
    followContent(body.id, file.name);
  });
  xhr.addEventListener("error", () => knowledgeFailed("the upload did not reach the server"));
  xhr.send(form);
  $("knowledge-upload").value = "";
}

function knowledgeFailed(message) {
  const box = $("knowledge-progress");
  $("knowledge-bar").value = 100; // final: a full bar in the error colour, not the moving one
  box.classList.add("failed");
  box.dataset.status = "failed";
  $("knowledge-status").textContent = "Failed: " + message;
  listContent().catch(() => {});
}

async function followContent(contentId, name) {
  const box = $("knowledge-progress");
  const status = $("knowledge-status");
  const bar = $("knowledge-bar");
  bar.removeAttribute("value"); // indeterminate while the server ingests
  for (let i = 0; i < 600; i++) {
    let s;
    try {
      s = await api(`/knowledge/content/${encodeURIComponent(contentId)}/status?` + knowledgeQuery());
    } catch (error) {
      knowledgeFailed(error.message);
      return;
    }
    const word = (s.status || "").toLowerCase();
    box.dataset.status = word;
    if (word === "completed") {
      bar.value = 100;
      status.textContent = `${name}: completed`;
      await listContent();
      return;
    }
    if (word === "failed") {
      knowledgeFailed(s.status_message || "ingestion failed");
      return;
    }
    status.textContent = `${name}: ${word || "processing"}` + (s.status_message ? ` (${s.status_message})` : "…");
    const counted = /(\d+)\s*\/\s*(\d+)/.exec(s.status_message || ""); // "indexed 3/10 chunks": a real bar
    if (counted && Number(counted[2]) > 0) bar.value = Math.round((100 * Number(counted[1])) / Number(counted[2]));
    if (i % 4 === 0) listContent().catch(() => {});
    await new Promise((r) => setTimeout(r, i < 20 ? 250 : 1000));
  }
}

$("knowledge-search").addEventListener("keydown", async (event) => {
  if (event.key !== "Enter") return;
  event.preventDefault();
  const query = $("knowledge-search").value.trim();
  const results = $("knowledge-results");
  if (!query) { results.replaceChildren(); return; }
  results.replaceChildren(el("li", { class: "muted", text: "Searching…" }));
  try {
    const body = { query, meta: { limit: 10, page: 1 } };
    if ($("knowledge-base").value) body.knowledge_id = $("knowledge-base").value;
    const page = await api("/knowledge/search", json("POST", body));
    const hits = page.data || [];
    results.replaceChildren(...hits.map((hit) => el("li", { testid: "knowledge-result" },
      el("div", { class: "source", text: hit.name || hit.content_origin || hit.content_id || "" }),
      el("div", { class: "text", text: hit.content || "" }))));
    if (!hits.length) results.append(el("li", { class: "muted", text: "No passage matches." }));
  } catch (error) {
    results.replaceChildren(el("li", { class: "error", text: error.message }));
  }
});

// ---------------------------------------------------------------------------------------------------------
// memories

async function loadMemories() {
  const list = $("memories-list");
  $("memories-who").textContent = userId() ? `What the agents remember about ${userId()}.` : "What the agents remember (no user id set).";
  try {
    const page = await api("/memories?" + withUser({ limit: "100", sort_by: "updated_at", sort_order: "desc" }));
    const memories = page.data || [];
    list.replaceChildren(...memories.map(memoryItem));
    if (!memories.length) list.append(el("li", { class: "muted", text: "No memories yet." }));
  } catch (error) {
    list.replaceChildren(el("li", { class: "error", text: "Could not list memories: " + error.message }));
  }
}

function memoryItem(m) {
  const del = el("button", { type: "button", class: "del", testid: "memory-delete", text: "Delete" });
  const li = el("li", { testid: "memory", "data-memory-id": m.memory_id },
    el("div", { class: "row" }, el("span", { text: m.memory }), del),
    el("div", { class: "muted small", text: [...(m.topics || []), relativeTime(m.updated_at || m.created_at)].filter(Boolean).join(" · ") }));
  del.addEventListener("click", () => {
    const confirm = el("button", { type: "button", class: "del confirm", testid: "memory-delete-confirm", text: "Delete?" });
    confirm.addEventListener("click", async () => {
      try {
        await api(`/memories/${encodeURIComponent(m.memory_id)}?` + withUser(), { method: "DELETE" });
      } catch (error) { toast("Could not delete the memory: " + error.message); }
      loadMemories();
    });
    del.replaceWith(confirm);
    confirm.focus();
  });
  return li;
}

// ---------------------------------------------------------------------------------------------------------
// composer and keyboard

function autosize() {
  const box = $("composer");
  box.style.height = "auto";
  box.style.height = Math.min(box.scrollHeight + 2, window.innerHeight * 0.4) + "px";
}
$("composer").addEventListener("input", autosize);
$("composer").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
$("composer-form").addEventListener("submit", (event) => { event.preventDefault(); submit(); });

document.addEventListener("keydown", (event) => {
  const mod = event.ctrlKey || event.metaKey;
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || "");
  if (event.key === "Escape") {
    if (state.run) { event.preventDefault(); stopRun(); return; }
    if (closePanels()) { event.preventDefault(); return; }
    if (NARROW.matches && sidebarIsOpen()) { openSidebar(false); return; }
    return;
  }
  if (mod && event.key.toLowerCase() === "k") { event.preventDefault(); $("composer").focus(); return; }
  if (mod && event.shiftKey && event.key.toLowerCase() === "o") { event.preventDefault(); newChat(); return; }
  if (mod && event.key.toLowerCase() === "b") { event.preventDefault(); openSidebar(!sidebarIsOpen()); return; }
  if (event.key === "?" && !typing && !mod) {
    event.preventDefault();
    togglePanel("shortcuts");
    $("shortcuts-toggle").setAttribute("aria-expanded", String(!$("shortcuts").hidden));
  }
});

// ---------------------------------------------------------------------------------------------------------
// settings and start

$("user-id").value = store.get("user", "playground");
$("user-id").addEventListener("change", () => {
  store.set("user", userId());
  newChat();
  loadSessions();
  if (!$("memories-panel").hidden) loadMemories();
});
$("auth").addEventListener("submit", (event) => {
  event.preventDefault();
  store.set("key", $("auth-key").value.trim());
  $("auth").hidden = true;
  start();
});

setInterval(() => { // "2 min ago" stays true while the page is open
  for (const t of document.querySelectorAll("[data-testid=session-time]")) t.textContent = relativeTime(t.getAttribute("datetime"));
}, 30000);

async function start() {
  try {
    await loadComponents();
  } catch (error) {
    if (error.status !== 401) errorMessage("Could not reach the API: " + error.message);
  }
}
start();
