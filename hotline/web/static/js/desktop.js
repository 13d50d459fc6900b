// The agent desktop (first cut): the agent's routing state and the
// log-in / pause / ready / log-out buttons over the router API.

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
let base = null; // the agent's resource, e.g. /api/agents/{id}

function status(text, kind = "info") {
  $("status").textContent = text;
  $("status").className = `status ${kind}`;
}

function show(agent) {
  const s = agent.state || "logged_out";
  $("agent-state").textContent = NAMES[s] || s;
  $("agent-state").dataset.state = s;
  $("agent-reason").textContent = agent.reason || agent.paused_reason || "";
  $("btn-login").hidden = s !== "logged_out";
  $("btn-logout").hidden = s === "logged_out";
  $("btn-pause").hidden = $("pause-reason").hidden = s === "logged_out" || s === "paused";
  $("btn-unpause").hidden = s !== "paused";
}

async function act(action) {
  try {
    const body = action === "pause" ? { reason: $("pause-reason").value } : {};
    show(await api(`${base}/${action}`, { method: "POST", body }));
  } catch (err) {
    status(`操作失败 · Failed: ${err.message}`, "error");
  }
}

if (requireLogin()) {
  const user = await header("/desktop");
  $("agent-id").textContent = user.agent_id ?? user.username;
  if (user.agent_id == null) {
    status("此账号未绑定坐席 · This account has no agent seat", "info");
  } else {
    base = `/api/agents/${encodeURIComponent(user.agent_id)}`;
    try {
      show(await api(base));
      for (const b of document.querySelectorAll("[data-action]")) b.addEventListener("click", () => act(b.dataset.action));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) status("服务器未提供坐席状态接口 · The server offers no agent-state API yet", "info");
      else status(`载入失败 · Load failed: ${err.message}`, "error");
    }
  }
  document.body.dataset.ready = "1";
}
