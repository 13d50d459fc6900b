// The supervisor wallboard: a snapshot from GET /api/wallboard, then live
// snapshots pushed over /ws/wallboard (reconnecting).

import { ApiError, api, el, header, liveSocket, requireLogin } from "./api.js";

const $ = (id) => document.getElementById(id);

export const AGENT_STATES = [
  ["available", "空闲", "Available"],
  ["ringing", "振铃", "Ringing"],
  ["on_call", "通话", "On call"],
  ["wrap_up", "整理", "Wrap-up"],
  ["paused", "示忙", "Paused"],
  ["logged_out", "签出", "Logged out"],
];

// ---- formatting ----------------------------------------------------------------

/** First defined value among `keys` of `obj` (dotted paths allowed). */
function pick(obj, ...keys) {
  for (const key of keys) {
    let v = obj;
    for (const part of key.split(".")) v = v == null ? undefined : v[part];
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

const dash = "—";
const fmtInt = (v) => (v === undefined || v === null ? dash : String(Math.round(v)));
/** A ratio 0..1 (or a percentage above 1) as "87.5%". */
const fmtPct = (v) => (v === undefined || v === null || Number.isNaN(v) ? dash : `${(v <= 1 ? v * 100 : v).toFixed(1)}%`);
/** Seconds as "45s", "3:07", "1:02:03". */
function fmtDur(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return dash;
  const s = Math.round(v);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function agentCounts(row) {
  const a = pick(row, "agents", "agent_states", "states") || {};
  if (Array.isArray(a)) {
    const counts = {};
    for (const agent of a) counts[agent.state] = (counts[agent.state] || 0) + 1;
    return counts;
  }
  return a;
}

// Columns: [metric id, 中文, English, value(row), format, css class(row)]
const SL = (row) => pick(row, "service_level", "sl");
const QUEUE_COLUMNS = [
  ["name", "队列", "Queue", (r) => pick(r, "name", "id"), String],
  ["waiting", "排队", "Waiting", (r) => pick(r, "waiting", "calls_waiting"), fmtInt, (r) => (pick(r, "waiting", "calls_waiting") > 0 ? "warn" : "")],
  ["longest_wait", "最长等待", "Longest wait", (r) => pick(r, "longest_wait", "oldest_wait", "max_wait"), fmtDur,
    (r) => (pick(r, "longest_wait", "oldest_wait") > pick(r, "sl_target", "service_level_target") ? "bad" : "")],
  ["service_level", "服务水平", "Service level", SL, fmtPct, (r) => (SL(r) != null && SL(r) < 0.8 ? "bad" : "good")],
  ["answered_15s", "15秒接听率", "Answered in 15 s", (r) => pick(r, "answered_15s_rate", "answer_rate_15s", "sl_15s", "service_level_15s"), fmtPct],
  ["asa", "平均应答", "ASA", (r) => pick(r, "asa", "average_speed_of_answer"), fmtDur],
  ["abandon_rate", "放弃率", "Abandoned", (r) => pick(r, "abandon_rate", "abandoned_rate"), fmtPct, (r) => (pick(r, "abandon_rate") > 0.05 ? "bad" : "")],
  ["answer_rate", "接通率", "Answer rate", (r) => pick(r, "answer_rate", "connect_rate"), fmtPct],
  ["offered", "呼入", "Offered", (r) => pick(r, "offered", "calls_offered"), fmtInt],
  ["agents", "坐席状态", "Agents by state", (r) => agentCounts(r), null],
  ["occupancy", "占用率", "Occupancy", (r) => pick(r, "occupancy"), fmtPct],
  ["mode", "模式", "Mode", (r) => pick(r, "mode"), null],
];

const GROUP_COLUMNS = [
  ["name", "名称", "Name", (r) => pick(r, "name", "id"), String],
  ["waiting", "排队", "Waiting", (r) => pick(r, "waiting"), fmtInt],
  ["longest_wait", "最长等待", "Longest wait", (r) => pick(r, "longest_wait", "oldest_wait"), fmtDur],
  ["service_level", "服务水平", "Service level", SL, fmtPct],
  ["answered_15s", "15秒接听率", "Answered in 15 s", (r) => pick(r, "answered_15s_rate", "answer_rate_15s", "sl_15s"), fmtPct],
  ["asa", "平均应答", "ASA", (r) => pick(r, "asa"), fmtDur],
  ["abandon_rate", "放弃率", "Abandoned", (r) => pick(r, "abandon_rate"), fmtPct],
  ["answer_rate", "接通率", "Answer rate", (r) => pick(r, "answer_rate"), fmtPct],
  ["agents", "坐席状态", "Agents by state", (r) => agentCounts(r), null],
  ["occupancy", "占用率", "Occupancy", (r) => pick(r, "occupancy"), fmtPct],
];

function stateChips(counts) {
  return el(
    "span",
    { class: "chips" },
    AGENT_STATES.filter(([key]) => counts[key]).map(([key, zh, en]) =>
      el("span", { class: `chip state-${key}`, title: en, "data-state": key }, `${zh} ${counts[key]}`),
    ),
    Object.values(counts).some(Boolean) ? null : dash,
  );
}

function modeCell(row) {
  const mode = pick(row, "mode") || (pick(row, "surge") ? "surge" : pick(row, "overflow_active") ? "overflow" : "normal");
  const label = { normal: "正常 normal", overflow: "溢出 overflow", surge: "高峰 surge" }[mode] || mode;
  return el("span", { class: `mode mode-${mode}` }, label);
}

function renderTable(table, rows, columns, kind) {
  const head = el(
    "tr",
    {},
    columns.map(([id, zh, en]) => el("th", { "data-metric": id }, zh, el("small", {}, en))),
  );
  const body = rows.map((row) => {
    const id = pick(row, "id", "name");
    return el(
      "tr",
      { "data-id": id, "data-kind": kind },
      columns.map(([metric, , , value, format, cls]) => {
        const v = value(row);
        let content;
        if (metric === "agents") content = stateChips(v || {});
        else if (metric === "mode") content = modeCell(row);
        else content = format(v);
        const raw = typeof v === "number" ? v : undefined;
        return el("td", { "data-metric": metric, "data-value": raw, class: cls ? cls(row) : null }, content);
      }),
    );
  });
  const empty = rows.length ? [] : [el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "暂无 · none"))];
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, body, empty));
}

function renderTotals(snapshot, queues) {
  const t = pick(snapshot, "totals", "centre", "center") || {};
  const sum = (key) => queues.reduce((s, q) => s + (pick(q, key) || 0), 0);
  const waiting = pick(t, "waiting") ?? sum("waiting");
  const longest = pick(t, "longest_wait") ?? Math.max(0, ...queues.map((q) => pick(q, "longest_wait", "oldest_wait") || 0));
  const tiles = [
    ["waiting", "排队", "Waiting", fmtInt(waiting)],
    ["longest_wait", "最长等待", "Longest wait", fmtDur(longest)],
    ["service_level", "服务水平", "Service level", fmtPct(pick(t, "service_level"))],
    ["answered_15s", "15秒接听率", "Answered in 15 s", fmtPct(pick(t, "answered_15s_rate", "answer_rate_15s", "sl_15s"))],
    ["asa", "平均应答", "ASA", fmtDur(pick(t, "asa"))],
    ["abandon_rate", "放弃率", "Abandoned", fmtPct(pick(t, "abandon_rate"))],
    ["answer_rate", "接通率", "Answer rate", fmtPct(pick(t, "answer_rate"))],
    ["occupancy", "占用率", "Occupancy", fmtPct(pick(t, "occupancy"))],
  ];
  $("totals").replaceChildren(
    ...tiles.map(([id, zh, en, value]) =>
      el("div", { class: "tile", "data-metric": id }, el("div", { class: "tile-value" }, value), el("div", { class: "tile-label" }, zh, el("small", {}, en))),
    ),
  );
}

function renderDecisions(snapshot, queues) {
  const items = [];
  for (const q of queues) {
    for (const o of pick(q, "overflow", "overflows", "overflow_rules") || []) {
      if (typeof o === "string") items.push({ queue: pick(q, "name", "id"), kind: "overflow", reason: o, active: true });
      else items.push({ queue: pick(q, "name", "id"), kind: "overflow", ...o, reason: o.reason ?? o.label ?? o.name });
    }
  }
  for (const d of pick(snapshot, "decisions", "overflow_decisions", "recent_decisions") || []) {
    items.push({ kind: d.kind || "offer", ...d, queue: d.queue_name || d.queue_id || d.queue });
  }
  $("decisions").replaceChildren(
    ...items.map((d) =>
      el(
        "li",
        { class: `decision kind-${d.kind}${d.active === false ? " inactive" : ""}`, "data-kind": d.kind },
        el("span", { class: "when muted" }, d.at ? new Date(d.at * (d.at < 1e12 ? 1000 : 1)).toLocaleTimeString("zh-CN", { hour12: false }) : ""),
        el("strong", {}, d.queue || ""),
        el("span", { class: "badge" }, { overflow: "溢出 overflow", offer: "分配 offer", exit: "转出 exit", surge: "高峰 surge" }[d.kind] || d.kind),
        d.active === false ? el("span", { class: "badge" }, "未启用 inactive") : null,
        el("span", { class: "reason" }, d.reason || ""),
      ),
    ),
    items.length ? [] : [el("li", { class: "muted" }, "暂无 · none")],
  );
}

function renderAgents(snapshot) {
  const agents = pick(snapshot, "agents") || [];
  if (!Array.isArray(agents)) return;
  $("agents").replaceChildren(
    ...agents.map((a) => {
      const s = a.state || "logged_out";
      const meta = AGENT_STATES.find(([k]) => k === s);
      return el(
        "div",
        { class: `agent state-${s}`, "data-agent": a.id, "data-state": s },
        el("strong", {}, a.name || a.id),
        el("span", {}, meta ? `${meta[1]} ${meta[2]}` : s),
        a.reason ? el("span", { class: "muted" }, a.reason) : null,
        a.state_for != null ? el("span", { class: "muted" }, fmtDur(a.state_for)) : null,
      );
    }),
  );
}

export function render(snapshot) {
  const queues = pick(snapshot, "queues") || [];
  renderTotals(snapshot, queues);
  renderTable($("queues"), queues, QUEUE_COLUMNS, "queue");
  renderTable($("groups"), pick(snapshot, "groups") || [], GROUP_COLUMNS, "group");
  renderTable($("sites"), pick(snapshot, "sites") || [], GROUP_COLUMNS, "site");
  renderDecisions(snapshot, queues);
  renderAgents(snapshot);
  const at = pick(snapshot, "at", "generated_at", "ts");
  const when = at ? new Date(typeof at === "number" ? at * (at < 1e12 ? 1000 : 1) : at) : new Date();
  $("updated").textContent = `更新于 Updated ${when.toLocaleTimeString("zh-CN", { hour12: false })}`;
  document.body.dataset.snapshots = String(+(document.body.dataset.snapshots || 0) + 1);
}

function setLive(state) {
  const live = $("live");
  live.dataset.state = state;
  live.replaceChildren(
    ...{ open: ["实时", "live"], connecting: ["连接中", "connecting"], closed: ["已断开，重连中", "reconnecting"] }[state].map((t, i) =>
      i ? el("small", {}, t) : t,
    ),
  );
}

if (requireLogin()) {
  await header("/wallboard");
  try {
    render(await api("/api/wallboard"));
  } catch (err) {
    const text =
      err instanceof ApiError && err.status === 403
        ? "需要班长权限 · This page needs the supervisor role"
        : err instanceof ApiError && err.status === 404
          ? "服务器未启用路由接口 · The routing API is not enabled on this server"
          : `载入失败 · Load failed: ${err.message}`;
    $("status").textContent = text;
    $("status").className = "status error";
  }
  liveSocket("/ws/wallboard", {
    onStatus: setLive,
    onMessage: (msg) => render(msg.snapshot ?? msg.data ?? msg),
  });
  document.body.dataset.ready = "1";
}
