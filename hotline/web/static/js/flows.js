// The flow editor: list flows and versions, edit YAML, validate with errors at
// their line, diff versions, publish and roll back, draw the flow, dry-run it.

import { ApiError, api, el, header, requireLogin, role } from "./api.js";
import { LineEditor } from "./editor.js";
import { drawFlow } from "./diagram.js";
import { diffLines, fold, parseUnified, renderDiff } from "./diff.js";

const $ = (id) => document.getElementById(id);
const BASE = "/api/flows";

const state = {
  flows: [],
  name: null,
  summary: null, // the flow's entry in GET /api/flows
  live: null, // GET /api/flows/{name}?version=live
  draft: null, // GET ...?version=draft, when the flow has a saved draft
  versions: [],
  savedText: "", // the saved draft, or the live text when there is none
  graph: null,
  graphText: "", // the text the diagram was drawn from
  simPath: [],
  tab: "edit",
};

const editor = new LineEditor({
  textarea: $("yaml"),
  gutter: $("gutter"),
  marks: $("marks"),
  cursorLabel: $("cursor-pos"),
  onChange: () => markDirty(),
});

// ---- API shapes (ivr/http.py) --------------------------------------------------

const enc = encodeURIComponent;

/** Validation problems as [{line, col, message, file}] from ValidateOut, a 422 body or a list. */
function problemsOf(data) {
  const list = Array.isArray(data) ? data : data?.errors || (Array.isArray(data?.detail) ? data.detail : []);
  return list.map((e) =>
    typeof e === "string"
      ? { line: 0, col: 0, message: e }
      : { line: e.line ?? 0, col: e.col ?? 0, message: e.message ?? e.msg ?? String(e), file: e.file },
  );
}

/** FlowOut -> {start, nodes: [{id, type, label, line}], edges: [{from, to, label}]}. */
function graphOf(data) {
  if (!data || !Array.isArray(data.nodes)) return null;
  return {
    name: data.name,
    start: data.start,
    nodes: data.nodes.map((n) => ({ id: n.id, type: n.type, label: n.title || "", line: n.line })),
    edges: (data.edges || []).map((e) => ({ from: e.source, to: e.target, label: edgeLabel(e.event || ""), event: e.event })),
  };
}

/** "choice:1" -> "1", "next" -> "" (the plain way on), "branch:0" -> "if 1", other events as they are. */
function edgeLabel(event) {
  if (event === "next") return "";
  if (event.startsWith("choice:")) return event.slice(7);
  if (event.startsWith("branch:")) return `if ${+event.slice(7) + 1}`;
  return event;
}

const getFlow = (name, version) => api(`${BASE}/${enc(name)}`, { query: { version } });

// ---- status line -------------------------------------------------------------

function status(text, kind = "info") {
  const p = $("status");
  p.textContent = text;
  p.className = `status ${kind}`;
}

function fail(action, err) {
  const detail = err instanceof ApiError ? err.message : String(err);
  status(`${action}失败 · ${action} failed: ${detail}`, "error");
}

function markDirty() {
  const dirty = editor.value !== state.savedText;
  $("btn-save").classList.toggle("dirty", dirty);
  document.title = `${dirty ? "● " : ""}流程编辑 Flow editor · 12345`;
}

// ---- list, load --------------------------------------------------------------

async function loadList() {
  state.flows = await api(BASE);
  const list = $("flow-list");
  list.replaceChildren(
    ...state.flows.map((f) =>
      el(
        "li",
        { "data-flow": f.name, class: f.name === state.name ? "active" : null },
        el(
          "a",
          { href: `#${f.name}`, onclick: (ev) => (ev.preventDefault(), switchFlow(f.name)) },
          el("strong", {}, f.name),
          el("span", { class: "muted" }, f.description || ""),
          el(
            "span",
            { class: "tags" },
            f.version != null ? el("span", { class: "badge live" }, `v${f.version}`) : el("span", { class: "badge" }, "文件 file"),
            el("span", { class: "badge" }, `${f.nodes} 节点 nodes`),
            f.has_draft ? el("span", { class: "badge draft" }, "草稿 draft") : null,
          ),
        ),
      ),
    ),
  );
}

/** Open another flow, after asking whether to drop unsaved edits. */
async function switchFlow(name) {
  if (name === state.name) return;
  if (editor.value !== state.savedText && !(await confirmBox(`放弃对 ${state.name} 未保存的修改？\nDiscard the unsaved changes to ${state.name}?`))) return;
  try {
    await openFlow(name);
  } catch (err) {
    fail("载入 Load", err);
  }
}

async function openFlow(name, { keepStatus = false } = {}) {
  state.name = name;
  history.replaceState(null, "", `#${name}`);
  for (const li of $("flow-list").children) li.classList.toggle("active", li.dataset.flow === name);
  const summary = state.flows.find((f) => f.name === name) || { name };
  const live = await getFlow(name, "live");
  const draft = summary.has_draft ? await getFlow(name, "draft") : null;
  state.summary = summary;
  state.live = live;
  state.draft = draft;
  state.savedText = (draft || live).yaml;
  editor.value = state.savedText;
  showProblems([], { quiet: true });
  $("flow-name").textContent = name;
  $("flow-description").textContent = summary.description || "";
  const badge = $("flow-state");
  badge.dataset.live = summary.version ?? "";
  badge.textContent =
    summary.version != null ? `在线 v${summary.version} · live` : "在线：文件版本 · live from the flow file";
  badge.className = "badge live";
  $("draft-note").hidden = !(draft && draft.yaml !== live.yaml);
  $("btn-discard").hidden = !draft;
  state.graph = null;
  setGraph(graphOf(draft || live), state.savedText);
  clearSimulation();
  markDirty();
  await loadVersions();
  if (state.tab === "diagram") showDiagram();
  if (!keepStatus) status(draft ? `已载入 ${name} 的草稿 · Loaded the draft` : `已载入 ${name} · Loaded`, "info");
}

async function loadVersions() {
  const versions = await api(`${BASE}/${enc(state.name)}/versions`);
  state.versions = versions;
  const admin = role() === "admin";
  const body = $("versions").tBodies[0];
  body.replaceChildren(
    ...versions.map((v) =>
      el(
        "tr",
        { "data-version": v.version, class: v.is_active ? "live" : null },
        el("td", {}, `v${v.version}`, v.is_active ? el("span", { class: "badge live" }, "在线 live") : null),
        el(
          "td",
          {},
          el("div", {}, new Date(v.published_at).toLocaleString("zh-CN", { hour12: false })),
          el("div", { class: "muted" }, [v.published_by, v.comment].filter(Boolean).join(" · ")),
        ),
        el(
          "td",
          { class: "actions" },
          el("button", { type: "button", class: "small", title: "与编辑器内容对比 · diff against the editor", onclick: () => diffAgainst(v.version) }, "对比", el("small", {}, "Diff")),
          v.is_active || !admin
            ? null
            : el("button", { type: "button", class: "small rollback", "data-version": v.version, onclick: () => rollback(v.version) }, "回滚", el("small", {}, "Roll back")),
        ),
      ),
    ),
    ...(versions.length ? [] : [el("tr", {}, el("td", { colspan: 3, class: "muted" }, "尚未发布过 · never published"))]),
  );
  const options = () => [
    el("option", { value: "live" }, "在线 live"),
    el("option", { value: "draft", disabled: !state.draft }, "已存草稿 saved draft"),
    el("option", { value: "editor" }, "编辑器 editor"),
    ...versions.map((v) => el("option", { value: v.version }, `v${v.version}`)),
  ];
  $("diff-from").replaceChildren(...options());
  $("diff-to").replaceChildren(...options());
  $("diff-from").value = "live";
  $("diff-to").value = "editor";
}

// ---- validation ---------------------------------------------------------------

function showProblems(problems, { quiet = false } = {}) {
  editor.setProblems(problems);
  const list = $("errors");
  if (!problems.length) {
    list.replaceChildren(quiet ? [] : el("li", { class: "ok" }, "校验通过 · No problems"));
    return;
  }
  list.replaceChildren(
    ...problems.map((p) =>
      el(
        "li",
        { class: "problem", "data-line": p.line, "data-col": p.col },
        el(
          "button",
          { type: "button", class: "link", onclick: () => (switchTab("edit"), editor.goTo(p.line || 1, p.col || 1)) },
          p.line ? `${p.file ? p.file + ":" : ""}${p.line}:${p.col || 1}` : "—",
        ),
        " ",
        el("span", {}, p.message),
      ),
    ),
  );
}

/** The validate answer carries the graph of the text sent (when it parses): the diagram follows the editor. */
async function validate() {
  const text = editor.value;
  try {
    const result = await api(`${BASE}/${enc(state.name)}/validate`, { method: "POST", body: { yaml: text } });
    setGraph(graphOf({ name: state.name, ...result }), text);
    const problems = problemsOf(result);
    showProblems(problems);
    status(
      problems.length ? `发现 ${problems.length} 个问题 · ${problems.length} problem(s)` : "校验通过 · Valid",
      problems.length ? "error" : "ok",
    );
    return problems;
  } catch (err) {
    if (err instanceof ApiError && err.status === 422) {
      const problems = problemsOf(err.detail);
      showProblems(problems);
      status(`发现 ${problems.length} 个问题 · ${problems.length} problem(s)`, "error");
      return problems;
    }
    fail("校验 Validate", err);
    return null;
  }
}

async function saveDraft() {
  try {
    const result = await api(`${BASE}/${enc(state.name)}/draft`, { method: "PUT", body: { yaml: editor.value } });
    state.savedText = editor.value;
    state.draft = await getFlow(state.name, "draft");
    setGraph(graphOf(state.draft), state.savedText);
    $("draft-note").hidden = state.draft.yaml === state.live.yaml;
    $("btn-discard").hidden = false;
    markDirty();
    const problems = problemsOf(result);
    showProblems(problems);
    status(
      problems.length ? `草稿已保存，但有 ${problems.length} 个问题 · Draft saved with problems` : "草稿已保存 · Draft saved",
      problems.length ? "error" : "ok",
    );
    await loadList();
    $("diff-from").querySelector("option[value='draft']").disabled = false;
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 422 && problemsOf(err.detail).length) {
      showProblems(problemsOf(err.detail));
      status("草稿未保存：有错误 · Draft not saved: it has errors", "error");
      return false;
    }
    fail("保存 Save", err);
    return false;
  }
}

/** Throw the saved draft away (DELETE /api/flows/{name}/draft); the editor goes back to the live text. */
async function discardDraft() {
  const unsaved = editor.value !== state.savedText ? "\n编辑器中未保存的修改也会丢失。Unsaved edits in the editor are lost too." : "";
  if (!(await confirmBox(`放弃 ${state.name} 的草稿？编辑器将显示在线版本。\nDiscard the draft of ${state.name}? The editor goes back to the live version.${unsaved}`))) {
    status("已取消 · Cancelled", "info");
    return;
  }
  try {
    await api(`${BASE}/${enc(state.name)}/draft`, { method: "DELETE" });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) {
      fail("放弃草稿 Discard draft", err);
      return;
    }
    // already gone (discarded or published elsewhere): show what is there now
  }
  try {
    await loadList();
    await openFlow(state.name, { keepStatus: true });
    status("草稿已放弃 · Draft discarded", "ok");
  } catch (err) {
    fail("载入 Load", err);
  }
}

// ---- publish, rollback ----------------------------------------------------------

function confirmBox(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

async function publish() {
  const comment = $("publish-comment").value.trim();
  if (!comment) {
    status("请填写发布说明 · Please write a publish comment", "error");
    $("publish-comment").focus();
    return;
  }
  const problems = await validate();
  if (problems === null) return;
  if (problems.length) {
    status(`有 ${problems.length} 个错误，不能发布 · Cannot publish: ${problems.length} problem(s); the live version is unchanged`, "error");
    return;
  }
  if (!(await confirmBox(`发布 ${state.name}？所有新来电将使用新版本。\nPublish ${state.name}? New calls will use it.`))) {
    status("已取消发布 · Publish cancelled", "info");
    return;
  }
  try {
    if (editor.value !== state.savedText && !(await saveDraft())) return;
    const result = await api(`${BASE}/${enc(state.name)}/publish`, { method: "POST", body: { comment, yaml: editor.value } });
    $("publish-comment").value = "";
    await loadList();
    await openFlow(state.name, { keepStatus: true });
    status(`已发布 v${result.version} · Published version ${result.version}`, "ok");
  } catch (err) {
    if (err instanceof ApiError && problemsOf(err.body).length) {
      showProblems(problemsOf(err.body));
      status("不能发布：有错误；在线版本未变 · Cannot publish; the live version is unchanged", "error");
      return;
    }
    fail("发布 Publish", err);
  }
}

async function rollback(version) {
  if (!(await confirmBox(`把 ${state.name} 回滚到 v${version}？所有新来电将使用该版本。\nRoll ${state.name} back to v${version}? New calls will use it.`))) {
    status("已取消回滚 · Rollback cancelled", "info");
    return;
  }
  try {
    await api(`${BASE}/${enc(state.name)}/rollback`, { method: "POST", body: { version } });
    await loadList();
    await openFlow(state.name, { keepStatus: true });
    status(`已回滚到 v${version} · Rolled back to version ${version}`, "ok");
  } catch (err) {
    if (err instanceof ApiError && problemsOf(err.body).length) {
      showProblems(problemsOf(err.body));
      status(`v${version} 已不能通过校验，未回滚 · Version ${version} no longer validates; nothing changed`, "error");
      return;
    }
    fail("回滚 Rollback", err);
  }
}

// ---- diff -----------------------------------------------------------------------

async function versionText(v) {
  return v === "editor" ? editor.value : (await getFlow(state.name, v)).yaml;
}

async function showDiff() {
  const from = $("diff-from").value;
  const to = $("diff-to").value;
  $("diff").replaceChildren(el("p", { class: "muted" }, "对比中 · Comparing…"));
  try {
    let rows;
    if (from !== "editor" && to !== "editor") {
      const data = await api(`${BASE}/${enc(state.name)}/diff`, { query: { a: from, b: to } });
      rows = parseUnified(data.diff);
    } else {
      rows = fold(diffLines(await versionText(from), await versionText(to)));
    }
    renderDiff($("diff"), rows);
  } catch (err) {
    fail("对比 Diff", err);
  }
}

function diffAgainst(version) {
  switchTab("diff");
  $("diff-from").value = String(version);
  $("diff-to").value = "editor";
  showDiff();
}

// ---- diagram ----------------------------------------------------------------------

/** Keep `graph` (drawn from `text`) unless the text did not parse; redraw if the diagram is showing. */
function setGraph(graph, text) {
  if (!graph || (!graph.nodes.length && state.graph)) return;
  state.graph = graph;
  state.graphText = text;
  if (state.tab === "diagram") showDiagram();
}

function showDiagram() {
  const box = $("diagram");
  $("diagram-stale").hidden = editor.value === state.graphText;
  if (!state.graph) {
    box.replaceChildren(el("p", { class: "muted" }, "没有可绘制的流程图 · No diagram for this flow"));
    return;
  }
  drawFlow(box, state.graph, {
    highlight: state.simPath,
    onNode: (n) => {
      if (!n.line) return;
      switchTab("edit");
      editor.goTo(n.line, n.col || 1);
    },
  });
}

// ---- dry run ----------------------------------------------------------------------

/** "2026-11-23T10:00" from <input type=datetime-local> -> ISO without a zone (the centre's local time). */
function localTime(value) {
  if (!value) return undefined;
  return value.length === 16 ? `${value}:00` : value;
}

/**
 * Dry run through POST /api/flows/{name}/simulate: body {dnis, keys, say, at?, queue, transfer, yaml?};
 * answer {outcome, flow, flow_version, path: ["flow.node", ...], events, variables, agi}.
 * The nodes of this flow on the path are highlighted on the diagram.
 */
async function simulate(event) {
  event.preventDefault();
  const keys = $("sim-keys").value.trim().split(/\s+/).filter(Boolean).map((k) => (k === "-" ? "" : k));
  const say = $("sim-speech").value.split("\n").map((line) => line.trim()).filter(Boolean);
  const body = {
    dnis: $("sim-dnis").value.trim() || "12345",
    keys,
    say,
    at: localTime($("sim-at").value),
    queue: [$("sim-queue").value],
    transfer: [$("sim-transfer").value],
  };
  const fromEditor = $("sim-source").value === "draft";
  if (fromEditor) {
    if (editor.value !== state.graphText) {
      // validate first: the diagram is redrawn from the editor text the dry run uses
      const problems = await validate();
      if (problems === null) return;
      if (problems.length) {
        switchTab("edit");
        status(`编辑器内容有 ${problems.length} 个问题，不能模拟 · The editor text has ${problems.length} problem(s); fix them to run it`, "error");
        return;
      }
    }
    body.yaml = editor.value;
  } else if (state.graphText !== state.live.yaml) {
    setGraph(graphOf(state.live), state.live.yaml); // the diagram shows what runs
  }
  status("模拟中 · Running the dry run…", "info");
  try {
    const result = await api(`${BASE}/${enc(state.name)}/simulate`, { method: "POST", body });
    showSimulation(result);
    if (fromEditor) showProblems([], { quiet: true });
    status(`模拟完成 · Dry run finished: ${result.outcome}`, "ok");
  } catch (err) {
    if (err instanceof ApiError && err.status === 422 && Array.isArray(err.body?.errors)) {
      const problems = problemsOf(err.body);
      showProblems(problems);
      switchTab("edit");
      status(`编辑器内容有 ${problems.length} 个问题，不能模拟 · The editor text has ${problems.length} problem(s); fix them to run it`, "error");
      return;
    }
    fail("模拟 Dry run", err);
  }
}

function clearSimulation() {
  state.simPath = [];
  $("sim-outcome").hidden = true;
  $("sim-path").replaceChildren();
  $("sim-detail").textContent = "";
  $("btn-sim-diagram").hidden = true;
}

function showSimulation(result) {
  const path = result.path || [];
  const prefix = `${state.name}.`;
  state.simPath = path.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  const outcome = $("sim-outcome");
  outcome.hidden = false;
  outcome.dataset.outcome = result.outcome;
  outcome.textContent = `结果 Outcome: ${result.outcome} · 结束于 ended in ${result.flow}${result.flow_version != null ? ` v${result.flow_version}` : ""}`;
  $("sim-path").replaceChildren(
    ...path.map((p) =>
      el("li", { "data-node": p, class: p.startsWith(prefix) ? "here" : "elsewhere" }, p),
    ),
  );
  $("btn-sim-diagram").hidden = !state.simPath.length;
  const { path: _p, ...rest } = result;
  $("sim-detail").textContent = JSON.stringify(rest, null, 2);
  if (state.tab === "diagram") showDiagram();
}

// ---- tabs and start -----------------------------------------------------------------

function switchTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll("[data-tab]")) {
    b.classList.toggle("active", b.dataset.tab === name);
    b.setAttribute("aria-selected", b.dataset.tab === name);
  }
  for (const panel of document.querySelectorAll(".tab-panel")) panel.hidden = panel.id !== `tab-${name}`;
  if (name === "diagram") showDiagram();
  if (name === "edit") editor.renderGutter(true);
}

for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => switchTab(b.dataset.tab));
$("btn-validate").addEventListener("click", validate);
$("btn-save").addEventListener("click", saveDraft);
$("btn-revert").addEventListener("click", () => {
  editor.value = state.savedText;
  editor.setProblems([]);
  markDirty();
});
$("btn-publish").addEventListener("click", publish);
$("btn-discard").addEventListener("click", discardDraft);
// Ctrl+S saves the draft, Ctrl+Enter validates.
$("yaml").addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey)) return;
  if (event.key === "s" && !$("btn-save").disabled) {
    event.preventDefault();
    saveDraft();
  } else if (event.key === "Enter") {
    event.preventDefault();
    validate();
  }
});
$("btn-diff").addEventListener("click", showDiff);
$("diagram-fit").addEventListener("change", (ev) => $("diagram").classList.toggle("fit", ev.target.checked));
$("sim-form").addEventListener("submit", simulate);
$("btn-sim-diagram").addEventListener("click", () => switchTab("diagram"));
window.addEventListener("beforeunload", (event) => {
  if (editor.value !== state.savedText) event.preventDefault();
});

if (requireLogin()) {
  await header("/flows");
  if (role() !== "admin") {
    for (const id of ["btn-save", "btn-publish", "publish-comment", "btn-discard"]) {
      $(id).disabled = true;
      $(id).title = "需要管理员权限 · needs the admin role";
    }
  }
  try {
    await loadList();
    const wanted = decodeURIComponent(location.hash.slice(1));
    const first = state.flows.find((f) => f.name === wanted) || state.flows.find((f) => f.name === "main") || state.flows[0];
    if (first) await openFlow(first.name);
    else status("还没有流程 · No flows yet", "info");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) status("需要管理员权限 · This page needs the admin role", "error");
    else if (err instanceof ApiError && err.status === 404) status("服务器未启用流程接口 · The flow API is not enabled on this server", "error");
    else fail("载入 Load", err);
  }
  document.body.dataset.ready = "1";
}
