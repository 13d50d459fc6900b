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

// Figures of the current 15-minute interval or of the day (router/wallboard.py).
let period = "interval";
let last = null;
const fig = (r, key) => pick(r, `${period}.${key}`, key);
const slClass = (r) => {
  const v = fig(r, "service_level");
  return v == null ? "" : v < 0.8 ? "bad" : "good";
};

function modeList(row) {
  const modes = pick(row, "modes") || {};
  const keys = Object.keys(modes);
  if (pick(row, "surge") && !keys.includes("surge")) keys.push("surge");
  return keys;
}

// Columns: [metric id, 中文, English, value(row), format, css class(row)]
const QUEUE_COLUMNS = [
  ["name", "队列", "Queue", (r) => pick(r, "name", "id"), String],
  ["waiting", "排队", "Waiting", (r) => pick(r, "waiting"), fmtInt, (r) => (pick(r, "waiting") > 0 ? "warn" : "")],
  ["longest_wait", "最长等待", "Longest wait", (r) => pick(r, "longest_wait"), fmtDur,
    (r) => (pick(r, "longest_wait") > pick(r, "sl_target") ? "bad" : "")],
  ["ewt", "预计等待", "Expected wait", (r) => pick(r, "ewt"), fmtDur],
  ["service_level", "服务水平", "Service level", (r) => fig(r, "service_level"), fmtPct, slClass],
  ["answer_rate_15s", "15秒接听率", "Answered ≤15 s", (r) => fig(r, "answer_rate_15s"), fmtPct],
  ["asa", "平均应答", "ASA", (r) => fig(r, "asa"), fmtDur],
  ["abandon_rate", "放弃率", "Abandoned", (r) => fig(r, "abandon_rate"), fmtPct, (r) => (fig(r, "abandon_rate") > 0.05 ? "bad" : "")],
  ["answer_rate", "接通率", "Answer rate", (r) => fig(r, "answer_rate"), fmtPct],
  ["offered", "呼入", "Offered", (r) => fig(r, "offered"), fmtInt],
  ["answered", "接听", "Answered", (r) => fig(r, "answered"), fmtInt],
  ["agents", "坐席状态", "Agents by state", (r) => agentCounts(r), null],
  ["occupancy", "占用率", "Occupancy", (r) => pick(r, "occupancy"), fmtPct],
  ["mode", "模式", "Mode", (r) => modeList(r), null],
];

// Groups and sites count the calls their agents answered (no abandons of their own).
const SCOPE_COLUMNS = [
  ["name", "名称", "Name", (r) => pick(r, "name", "id"), String],
  ["waiting", "排队", "Waiting", (r) => pick(r, "waiting"), fmtInt, (r) => (pick(r, "waiting") > 0 ? "warn" : "")],
  ["longest_wait", "最长等待", "Longest wait", (r) => pick(r, "longest_wait"), fmtDur],
  ["service_level", "服务水平", "Service level", (r) => fig(r, "service_level"), fmtPct, slClass],
  ["answer_rate_15s", "15秒接听率", "Answered ≤15 s", (r) => fig(r, "answer_rate_15s"), fmtPct],
  ["asa", "平均应答", "ASA", (r) => fig(r, "asa"), fmtDur],
  ["answered", "接听", "Answered", (r) => fig(r, "answered"), fmtInt],
  ["agents", "坐席状态", "Agents by state", (r) => agentCounts(r), null],
  ["occupancy", "占用率", "Occupancy", (r) => pick(r, "occupancy"), fmtPct],
];

function stateChips(counts) {
  return el(
    "span",
    { class: "chips" },
    AGENT_STATES.filter(([key]) => counts[key]).map(([key, zh, en]) =>
      el("span", { class: `chip state-${key}`, title: en, "data-state": key, "data-count": counts[key] }, `${zh} ${counts[key]}`),
    ),
    Object.values(counts).some(Boolean) ? null : dash,
  );
}

const MODE_NAMES = { surge: "高峰 surge", overflow: "溢出 overflow" };

function modeCell(modes) {
  if (!modes.length) return el("span", { class: "mode mode-normal" }, "正常 normal");
  return el(
    "span",
    { class: "chips" },
    modes.map((m) => {
      const [kind, label] = m.split(/:(.*)/s);
      return el("span", { class: `mode mode-${kind}`, "data-mode": m }, MODE_NAMES[kind] || kind, label ? ` ${label}` : "");
    }),
  );
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
        else if (metric === "mode") content = modeCell(v);
        else content = format(v);
        const raw = typeof v === "number" ? v : undefined;
        return el("td", { "data-metric": metric, "data-value": raw, class: cls ? cls(row) : null }, content);
      }),
    );
  });
  const empty = rows.length ? [] : [el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "暂无 · none"))];
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, body, empty));
}

/** Centre-wide tiles: only figures that add up exactly from the per-queue counts. */
function renderTotals(snapshot, queues, sites) {
  const sum = (f) => queues.reduce((s, q) => s + (f(q) || 0), 0);
  const answered = sum((q) => fig(q, "answered"));
  const abandoned = sum((q) => fig(q, "abandoned"));
  const finished = answered + abandoned + sum((q) => fig(q, "exited"));
  const ratio = (a) => (finished ? a / finished : null);
  const staff = {};
  for (const s of sites) for (const [k, n] of Object.entries(agentCounts(s))) staff[k] = (staff[k] || 0) + n;
  const tiles = [
    ["waiting", "排队", "Waiting", fmtInt(sum((q) => pick(q, "waiting")))],
    ["longest_wait", "最长等待", "Longest wait", fmtDur(Math.max(0, ...queues.map((q) => pick(q, "longest_wait") || 0)))],
    ["offered", "呼入", "Offered", fmtInt(sum((q) => fig(q, "offered")))],
    ["answered", "接听", "Answered", fmtInt(answered)],
    ["answer_rate", "接通率", "Answer rate", fmtPct(ratio(answered))],
    ["abandon_rate", "放弃率", "Abandoned", fmtPct(ratio(abandoned))],
    ["available", "空闲坐席", "Agents available", fmtInt(staff.available || 0)],
    ["busy", "忙碌坐席", "Agents busy", fmtInt((staff.ringing || 0) + (staff.on_call || 0) + (staff.wrap_up || 0))],
    ["paused", "示忙坐席", "Agents paused", fmtInt(staff.paused || 0)],
  ];
  $("totals").replaceChildren(
    ...tiles.map(([id, zh, en, value]) =>
      el("div", { class: "tile", "data-metric": id }, el("div", { class: "tile-value" }, value), el("div", { class: "tile-label" }, zh, el("small", {}, en))),
    ),
  );
}

const asMs = (t) => (typeof t === "number" ? t * (t < 1e12 ? 1000 : 1) : Date.parse(t));
const clock = (t) => (t == null ? "" : new Date(asMs(t)).toLocaleTimeString("zh-CN", { hour12: false }));

/** Why each queue overflowed: active modes first, then recent mode changes and overflow offers. */
function renderDecisions(queues) {
  const items = [];
  for (const q of queues) {
    const name = pick(q, "name", "id");
    for (const [mode, reason] of Object.entries(pick(q, "modes") || {}))
      items.push({ queue: name, kind: mode.split(":")[0], mode, reason, active: true, current: true });
    for (const m of pick(q, "mode_history") || [])
      items.push({ queue: name, kind: m.mode.split(":")[0], mode: m.mode, reason: m.reason, active: m.active, at: m.at });
    for (const d of pick(q, "overflow_decisions") || [])
      items.push({ queue: name, kind: "offer", reason: d.reason, at: d.at, agent: d.agent, call: d.call });
  }
  items.sort((a, b) => (b.current ? 1 : 0) - (a.current ? 1 : 0) || (b.at || 0) - (a.at || 0));
  $("decisions").replaceChildren(
    ...items.map((d) =>
      el(
        "li",
        { class: `decision kind-${d.kind}${d.current ? " current" : ""}${d.active === false ? " inactive" : ""}`, "data-kind": d.kind, "data-mode": d.mode },
        el("span", { class: "when muted" }, d.current ? "当前 now" : clock(d.at)),
        el("strong", {}, d.queue),
        el("span", { class: "badge" }, { overflow: "溢出 overflow", offer: "溢出分配 overflow offer", surge: "高峰 surge" }[d.kind] || d.kind),
        d.active === false ? el("span", { class: "badge" }, "结束 ended") : null,
        el("span", { class: "reason" }, d.reason || ""),
        d.agent ? el("span", { class: "muted" }, `→ ${d.agent}`) : null,
      ),
    ),
    ...(items.length ? [] : [el("li", { class: "muted" }, "暂无溢出 · No overflow")]),
  );
}

function renderAgents(snapshot) {
  const agents = pick(snapshot, "agents");
  const box = $("agents");
  box.closest("section").hidden = !Array.isArray(agents);
  if (!Array.isArray(agents)) return;
  box.replaceChildren(
    ...agents.map((a) => {
      const s = a.state || "logged_out";
      const meta = AGENT_STATES.find(([k]) => k === s);
      return el(
        "div",
        { class: `agent state-${s}`, "data-agent": a.id, "data-state": s },
        el("strong", {}, a.name || a.id),
        el("span", {}, meta ? `${meta[1]} ${meta[2]}` : s),
        a.reason ? el("span", { class: "muted" }, a.reason) : null,
      );
    }),
  );
}

export function render(snapshot) {
  last = snapshot;
  const queues = pick(snapshot, "queues") || [];
  const sites = pick(snapshot, "sites") || [];
  renderTotals(snapshot, queues, sites);
  renderTable($("queues"), queues, QUEUE_COLUMNS, "queue");
  renderTable($("groups"), pick(snapshot, "groups") || [], SCOPE_COLUMNS, "group");
  renderTable($("sites"), sites, SCOPE_COLUMNS, "site");
  renderDecisions(queues);
  renderAgents(snapshot);
  const at = pick(snapshot, "at", "generated_at", "ts");
  const since = pick(snapshot, period === "interval" ? "interval_start" : "day_start");
  $("updated").textContent =
    `更新于 Updated ${clock(at ?? Date.now())}` + (since != null ? ` · 统计自 since ${clock(since)}` : "");
  document.body.dataset.snapshots = String(+(document.body.dataset.snapshots || 0) + 1);
}

function setLive(state) {
  const live = $("live");
  live.dataset.state = state;
  if (state === "open") document.body.dataset.connects = String(+(document.body.dataset.connects || 0) + 1);
  live.replaceChildren(
    ...{ open: ["实时", "live"], connecting: ["连接中", "connecting"], closed: ["已断开，重连中", "reconnecting"] }[state].map((t, i) =>
      i ? el("small", {}, t) : t,
    ),
  );
}

for (const b of document.querySelectorAll("[data-period]")) {
  b.addEventListener("click", () => {
    period = b.dataset.period;
    for (const o of document.querySelectorAll("[data-period]")) o.classList.toggle("active", o === b);
    if (last) render(last);
  });
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
