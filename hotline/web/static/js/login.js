import { ApiError, api, saveSession } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

/** Only same-site paths are followed after login. */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : "/";
}

function showError(text) {
  error.textContent = text;
  error.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  try {
    const body = { username: form.username.value.trim(), password: form.password.value };
    const result = await api("/api/auth/login", { method: "POST", body, auth: false });
    saveSession(result);
    location.assign(nextPage());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showError("用户名或密码错误 · Wrong username or password");
    else if (err instanceof ApiError) showError(`登录失败 · Login failed: ${err.message}`);
    else showError("无法连接服务器 · Cannot reach the server");
    form.password.select();
  } finally {
    submit.disabled = false;
  }
});
