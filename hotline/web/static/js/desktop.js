// The agent desktop (first cut): the agent's routing state and the
// log-in / pause / ready / log-out buttons over the router API
// (GET /api/agents/{id}/state, POST /api/agents/{id}/login|pause|unpause|ready|logout).

import { ApiError, api, header, requireLogin } from "./api.js";

const $ = (id) => document.getElementById(id);
const NAMES = {
  available: "空闲 Available",
  ringing: "振铃 Ringing",
  on_call: "通话 On call",
  wrap_up: "整理 Wrap-up",
  paused: "示忙 Paused",
  logged_out: "签出 Logged out",
};
let base = null; // /api/agents/{id}
let refresh = null;

function status(text, kind = "info") {
  $("status").textContent = text;
  $("status").className = `status ${kind}`;
}

function show(agent) {
  const s = agent.state || "logged_out";
  $("agent-id").textContent = `${agent.id} · 分机 ext. ${agent.seat} · ${agent.group}@${agent.site}`;
  $("agent-state").textContent = NAMES[s] || s;
  $("agent-state").dataset.state = s;
  $("agent-reason").textContent = [agent.reason, agent.pending ? `待生效 pending: ${agent.pending}` : ""].filter(Boolean).join(" · ");
  $("btn-login").hidden = s !== "logged_out";
  $("btn-logout").hidden = s === "logged_out";
  $("btn-pause").hidden = $("pause-reason").hidden = s === "logged_out" || s === "paused";
  $("btn-unpause").hidden = s !== "paused";
  $("btn-ready").hidden = s !== "wrap_up";
}

async function act(action) {
  try {
    const body = action === "pause" ? { reason: $("pause-reason").value } : undefined;
    show(await api(`${base}/${action}`, { method: "POST", body }));
    status("");
  } catch (err) {
    status(`操作失败 · Failed: ${err.message}`, "error");
  }
}

async function load() {
  try {
    show(await api(`${base}/state`));
  } catch (err) {
    clearInterval(refresh);
    if (err instanceof ApiError && err.status === 404) status("路由中没有此坐席 · This seat is not known to the router", "error");
    else if (err instanceof ApiError && err.status === 503) status("路由服务未运行 · The router is not running", "error");
    else status(`载入失败 · Load failed: ${err.message}`, "error");
    throw err;
  }
}

if (requireLogin()) {
  const user = await header("/desktop");
  $("agent-id").textContent = user.username;
  if (user.agent_id == null) {
    status("此账号未绑定坐席 · This account has no agent seat", "info");
  } else {
    base = `/api/agents/${encodeURIComponent(user.agent_id)}`;
    for (const b of document.querySelectorAll("[data-action]")) b.addEventListener("click", () => act(b.dataset.action));
    try {
      await load();
      // the state also changes on its own (a call rings, wrap-up ends): follow it
      refresh = setInterval(() => load().catch(() => {}), 2000);
    } catch {
      // shown in the status line
    }
  }
  document.body.dataset.ready = "1";
}
