// The one way pages talk to the server: bearer token in sessionStorage,
// JSON requests, 401 -> /login, and a WebSocket that reconnects.

const TOKEN_KEY = "hotline.token";
const ROLE_KEY = "hotline.role";
const EXPIRES_KEY = "hotline.expires_at";

export function token() {
  const value = sessionStorage.getItem(TOKEN_KEY);
  const expires = sessionStorage.getItem(EXPIRES_KEY);
  if (value && expires && Date.parse(expires) <= Date.now()) {
    clearSession();
    return null;
  }
  return value;
}

export function role() {
  return sessionStorage.getItem(ROLE_KEY);
}

export function saveSession({ access_token, role, expires_at }) {
  sessionStorage.setItem(TOKEN_KEY, access_token);
  sessionStorage.setItem(ROLE_KEY, role || "");
  sessionStorage.setItem(EXPIRES_KEY, expires_at || "");
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ROLE_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
}

/** Leave for the login page, coming back here afterwards. */
export function toLogin() {
  clearSession();
  const back = location.pathname + location.search;
  location.assign("/login?next=" + encodeURIComponent(back));
  // Stop the caller's work: nothing after a redirect should run.
  return new Promise(() => {});
}

/** Make sure there is a token before a page starts loading data. */
export function requireLogin() {
  if (!token()) {
    toLogin();
    return false;
  }
  return true;
}

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(typeof detail === "string" ? detail : describe(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

function describe(detail) {
  if (Array.isArray(detail)) return detail.map((d) => d.msg || d.message || JSON.stringify(d)).join("; ");
  if (detail && typeof detail === "object") return detail.message || detail.msg || JSON.stringify(detail);
  return "";
}

/**
 * Call the API. `body` is sent as JSON. A 401 goes to the login page;
 * other errors throw ApiError carrying the server's `detail`.
 */
export async function api(path, { method = "GET", body, query, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (auth) {
    const t = token();
    if (!t) return toLogin();
    headers.Authorization = "Bearer " + t;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401 && auth) return toLogin();
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    throw new ApiError(response.status, detail, data);
  }
  return data;
}

/** The logged-in user ({username, role, display_name, agent_id}); 401 goes to /login. */
export function me() {
  return api("/api/auth/me");
}

const WS_UNAUTHORIZED = 4401;

/**
 * A WebSocket to `path` with ?token=, reconnecting with back-off (1 s doubling
 * to 15 s). onMessage gets parsed JSON; onStatus gets "connecting", "open",
 * "closed". Close code 4401 (bad token) goes to the login page.
 */
export function liveSocket(path, { onMessage, onStatus = () => {} }) {
  let socket = null;
  let delay = 1000;
  let stopped = false;
  let timer = null;

  function connect() {
    const t = token();
    if (!t) {
      toLogin();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const sep = path.includes("?") ? "&" : "?";
    onStatus("connecting");
    socket = new WebSocket(`${scheme}//${location.host}${path}${sep}token=${encodeURIComponent(t)}`);
    socket.addEventListener("open", () => {
      delay = 1000;
      onStatus("open");
    });
    socket.addEventListener("message", (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(data);
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (stopped) return;
      if (event.code === WS_UNAUTHORIZED) {
        toLogin();
        return;
      }
      onStatus("closed");
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  }

  connect();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      if (socket) socket.close();
    },
    send(obj) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(obj));
    },
  };
}

/** Small DOM helper: el("div", {class: "x", onclick: fn}, child, "text"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The header every page shares: title, links, who is logged in, log out. */
export async function header(active) {
  const bar = document.querySelector("header.top");
  if (!bar) return null;
  const user = await me();
  const links = [
    ["/", "首页", "Home"],
    ["/flows", "流程编辑", "Flows"],
    ["/wallboard", "监控大屏", "Wallboard"],
    ["/desktop", "坐席桌面", "Desktop"],
  ];
  const nav = el(
    "nav",
    {},
    links.map(([href, zh, en]) =>
      el("a", { href, class: href === active ? "active" : null }, zh, el("small", {}, en)),
    ),
  );
  const who = el(
    "span",
    { class: "who", id: "who" },
    `${user.display_name || user.username} · ${user.role}`,
    el("button", { type: "button", id: "logout", class: "link", onclick: () => logout() }, "退出 Log out"),
  );
  bar.replaceChildren(el("a", { href: "/", class: "brand" }, "12345 热线", el("small", {}, "Hotline")), nav, who);
  return user;
}

export function logout() {
  clearSession();
  location.assign("/login");
}
