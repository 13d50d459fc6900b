// The flow editor: list flows and versions, edit YAML, validate with errors at
// their line, diff versions, publish and roll back, draw the flow, dry-run it.

import { ApiError, api, el, header, requireLogin } from "./api.js";
import { LineEditor } from "./editor.js";
import { drawFlow } from "./diagram.js";
import { diffLines, fold, parseUnified, renderDiff } from "./diff.js";

const $ = (id) => document.getElementById(id);
const BASE = "/api/flows";

const state = {
  flows: [],
  name: null,
  detail: null, // last GET of the flow
  savedText: "", // text of the draft (or the live version) as the server has it
  graph: null,
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

// ---- API shapes --------------------------------------------------------------

const enc = encodeURIComponent;

function asList(data, key) {
  if (Array.isArray(data)) return data;
  return (data && (data[key] || data.items)) || [];
}

function versionNumber(v) {
  return v?.version ?? v?.number ?? v?.id;
}

/** Validation problems as [{line, col, message, file}], whatever the envelope. */
function problemsOf(data) {
  const list = Array.isArray(data) ? data : data?.errors || data?.problems || (Array.isArray(data?.detail) ? data.detail : []);
  return list.map((e) =>
    typeof e === "string"
      ? { line: 0, col: 0, message: e }
      : { line: e.line ?? 0, col: e.col ?? e.column ?? 0, message: e.message ?? e.msg ?? String(e), file: e.file },
  );
}

/** Graph as {start, nodes: [{id, type, label, line}], edges: [{from, to, label}]}. */
function graphOf(data) {
  const g = data?.graph || data;
  if (!g || !Array.isArray(g.nodes)) return null;
  return {
    name: data.name,
    start: g.start ?? data.start,
    nodes: g.nodes.map((n) => ({ ...n, id: n.id ?? n.name, type: n.type, label: n.label ?? n.description, line: n.line })),
    edges: (g.edges || []).map((e) => ({
      from: e.from ?? e.source,
      to: e.to ?? e.target,
      label: e.label ?? e.event ?? e.key ?? "",
      kind: e.kind,
    })),
  };
}

function textOf(data) {
  return data?.draft?.yaml ?? data?.draft_yaml ?? data?.yaml ?? data?.text ?? "";
}

function liveVersion(data) {
  return data?.live_version ?? data?.published_version ?? data?.version ?? null;
}

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
  state.flows = asList(await api(BASE), "flows");
  const list = $("flow-list");
  list.replaceChildren(
    ...state.flows.map((f) =>
      el(
        "li",
        { "data-flow": f.name, class: f.name === state.name ? "active" : null },
        el(
          "a",
          { href: `#${f.name}`, onclick: (ev) => (ev.preventDefault(), openFlow(f.name)) },
          el("strong", {}, f.name),
          el("span", { class: "muted" }, f.description || ""),
          el(
            "span",
            { class: "tags" },
            liveVersion(f) != null ? el("span", { class: "badge live" }, `v${liveVersion(f)}`) : el("span", { class: "badge" }, "未发布 unpublished"),
            f.has_draft || f.draft ? el("span", { class: "badge draft" }, "草稿 draft") : null,
          ),
        ),
      ),
    ),
  );
}

async function openFlow(name, { keepStatus = false } = {}) {
  state.name = name;
  history.replaceState(null, "", `#${name}`);
  for (const li of $("flow-list").children) li.classList.toggle("active", li.dataset.flow === name);
  const data = await api(`${BASE}/${enc(name)}`);
  state.detail = data;
  state.savedText = textOf(data);
  editor.value = state.savedText;
  editor.setProblems([]);
  $("errors").replaceChildren();
  $("flow-name").textContent = name;
  $("flow-description").textContent = data.description || data.graph?.description || "";
  const live = liveVersion(data);
  const badge = $("flow-state");
  badge.textContent = live != null ? `已发布 v${live} · live` : "未发布 · unpublished";
  badge.dataset.live = live ?? "";
  badge.className = `badge ${live != null ? "live" : ""}`;
  state.graph = graphOf(data);
  state.simPath = [];
  markDirty();
  await loadVersions(data);
  if (state.tab === "diagram") showDiagram();
  if (!keepStatus) status(`已载入 ${name} · Loaded`, "info");
}

async function loadVersions(data) {
  let versions = data.versions;
  if (!versions) versions = asList(await api(`${BASE}/${enc(state.name)}/versions`), "versions");
  const live = liveVersion(data);
  versions = [...versions].sort((a, b) => versionNumber(b) - versionNumber(a));
  state.versions = versions;
  const body = $("versions").tBodies[0];
  body.replaceChildren(
    ...versions.map((v) => {
      const n = versionNumber(v);
      const isLive = v.live ?? n === live;
      const when = v.published_at || v.created_at;
      return el(
        "tr",
        { "data-version": n, class: isLive ? "live" : null },
        el("td", {}, `v${n}`, isLive ? el("span", { class: "badge live" }, "在线 live") : null),
        el(
          "td",
          {},
          el("div", {}, when ? new Date(when).toLocaleString("zh-CN", { hour12: false }) : ""),
          el("div", { class: "muted" }, [v.published_by || v.author || v.created_by, v.comment].filter(Boolean).join(" · ")),
        ),
        el(
          "td",
          { class: "actions" },
          el("button", { type: "button", class: "small", title: "与编辑器内容对比 · diff against the editor", onclick: () => diffAgainst(n) }, "对比"),
          isLive ? null : el("button", { type: "button", class: "small rollback", "data-version": n, onclick: () => rollback(n) }, "回滚"),
        ),
      );
    }),
  );
  const options = () => [
    ...versions.map((v) => el("option", { value: versionNumber(v) }, `v${versionNumber(v)}`)),
    el("option", { value: "draft" }, "草稿 draft"),
  ];
  $("diff-from").replaceChildren(...options());
  $("diff-to").replaceChildren(...options());
  if (live != null) $("diff-from").value = String(live);
  $("diff-to").value = "draft";
}

// ---- validation ---------------------------------------------------------------

function showProblems(problems) {
  editor.setProblems(problems);
  const list = $("errors");
  if (!problems.length) {
    list.replaceChildren(el("li", { class: "ok" }, "校验通过 · No problems"));
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

async function validate() {
  try {
    const result = await api(`${BASE}/${enc(state.name)}/validate`, { method: "POST", body: { yaml: editor.value } });
    const problems = problemsOf(result);
    showProblems(problems);
    const g = graphOf(result);
    if (g && g.nodes.length) state.graph = g;
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
    markDirty();
    const problems = problemsOf(result);
    showProblems(problems);
    status(
      problems.length ? `草稿已保存，但有 ${problems.length} 个问题 · Draft saved with problems` : "草稿已保存 · Draft saved",
      problems.length ? "error" : "ok",
    );
    await loadList();
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
    const v = versionNumber(result) ?? liveVersion(result) ?? liveVersion(state.detail);
    status(`已发布 v${v} · Published`, "ok");
  } catch (err) {
    if (err instanceof ApiError && problemsOf(err.detail).length) {
      showProblems(problemsOf(err.detail));
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
    status(`已回滚到 v${version} · Rolled back; live is now v${liveVersion(state.detail)}`, "ok");
  } catch (err) {
    fail("回滚 Rollback", err);
  }
}

// ---- diff -----------------------------------------------------------------------

async function versionText(v) {
  if (v === "draft") return editor.value;
  const data = await api(`${BASE}/${enc(state.name)}/versions/${enc(v)}`);
  return textOf(data);
}

async function showDiff() {
  const from = $("diff-from").value;
  const to = $("diff-to").value;
  try {
    let rows;
    if (from !== "draft" && to !== "draft") {
      const data = await api(`${BASE}/${enc(state.name)}/diff`, { query: { from, to } });
      const text = typeof data === "string" ? data : data.diff ?? data.unified ?? "";
      rows = parseUnified(text);
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
  $("diff-to").value = "draft";
  showDiff();
}

// ---- diagram ----------------------------------------------------------------------

function showDiagram() {
  const box = $("diagram");
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

async function simulate(event) {
  event.preventDefault();
  const keys = $("sim-keys").value.trim().split(/\s+/).filter(Boolean).map((k) => (k === "-" ? "" : k));
  const speech = $("sim-speech").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const body = { dnis: $("sim-dnis").value.trim(), keys, speech };
  if ($("sim-source").value === "draft") body.yaml = editor.value;
  try {
    const result = await api(`${BASE}/${enc(state.name)}/simulate`, { method: "POST", body });
    const steps = result.path || result.nodes || result.steps || [];
    state.simPath = steps.map((s) => (typeof s === "string" ? s : s.node ?? s.id)).map((s) => (s.includes(":") ? s.split(":").pop() : s));
    $("sim-path").replaceChildren(...steps.map((s) => el("li", {}, typeof s === "string" ? s : [s.flow, s.node ?? s.id].filter(Boolean).join(":") + (s.event ? ` → ${s.event}` : ""))));
    const { path, nodes, steps: _s, ...rest } = result;
    $("sim-detail").textContent = JSON.stringify(rest, null, 2);
    status(`模拟完成 · Dry run finished: ${result.outcome ?? result.result ?? ""}`, "ok");
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      status("服务器未提供模拟接口 · The server offers no dry-run endpoint", "error");
      return;
    }
    if (err instanceof ApiError && problemsOf(err.detail).length) showProblems(problemsOf(err.detail));
    fail("模拟 Dry run", err);
  }
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
$("btn-diff").addEventListener("click", showDiff);
$("sim-form").addEventListener("submit", simulate);
window.addEventListener("beforeunload", (event) => {
  if (editor.value !== state.savedText) event.preventDefault();
});

if (requireLogin()) {
  await header("/flows");
  try {
    await loadList();
    const wanted = decodeURIComponent(location.hash.slice(1));
    const first = state.flows.find((f) => f.name === wanted) || state.flows[0];
    if (first) await openFlow(first.name);
    else status("还没有流程 · No flows yet", "info");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) status("需要管理员权限 · This page needs the admin role", "error");
    else if (err instanceof ApiError && err.status === 404) status("服务器未启用流程接口 · The flow API is not enabled on this server", "error");
    else fail("载入 Load", err);
  }
  document.body.dataset.ready = "1";
}
