"""Pages and static files are served; login, bad password, 401 back to the login page, log out."""

from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import USERS, LiveServer, login

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/", "/login", "/flows", "/wallboard", "/desktop"])
def test_pages_are_public_shells_with_a_strict_policy(live_server: LiveServer, path: str) -> None:
    r = httpx.get(live_server.url(path))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert '<script type="module" src="/static/js/' in r.text


def test_static_files_and_no_escape(live_server: LiveServer) -> None:
    r = httpx.get(live_server.url("/static/js/api.js"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert httpx.get(live_server.url("/static/css/app.css")).headers["content-type"].startswith("text/css")
    for bad in ["/static/../pages.py", "/static/%2e%2e/pages.py", "/static/__init__.py", "/static/js/missing.js"]:
        assert httpx.get(live_server.url(bad)).status_code == 404, bad


def test_login_then_home_shows_the_user(live_server: LiveServer, page) -> None:
    login(page, live_server, "supervisor", "/")
    page.wait_for_selector("#who")
    assert "supervisor" in page.inner_text("#who")
    token = page.evaluate("sessionStorage.getItem('hotline.token')")
    assert token and page.evaluate("sessionStorage.getItem('hotline.role')") == "supervisor"
    # a supervisor sees the flow editor marked as not permitted, the wallboard open
    assert "locked" in (page.get_attribute("a[href='/flows'][data-role]", "class") or "")
    assert "locked" not in (page.get_attribute("a[href='/wallboard'][data-role]", "class") or "")
    page.screenshot(path="/tmp/web-home.png", full_page=True)


def test_bad_password_shows_an_error_and_stays(live_server: LiveServer, page) -> None:
    page.goto(live_server.url("/login"))
    page.fill("#username", USERS["admin"][0])
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert "Wrong username or password" in error.inner_text()
    assert page.url.startswith(live_server.url("/login"))
    assert page.evaluate("sessionStorage.getItem('hotline.token')") is None
    page.screenshot(path="/tmp/web-login-error.png")


@pytest.mark.parametrize("path", ["/", "/flows", "/wallboard", "/desktop"])
def test_without_a_token_pages_go_to_login_and_come_back(live_server: LiveServer, page, path: str) -> None:
    page.goto(live_server.url(path))
    page.wait_for_url(live_server.url("/login") + "*")
    assert httpx.URL(page.url).params["next"] == path
    page.fill("#username", USERS["admin"][0])
    page.fill("#password", USERS["admin"][1])
    page.click("#login-submit")
    page.wait_for_url(live_server.url(path) + "*")
    page.wait_for_selector("#who")


def test_a_rejected_token_goes_to_login(live_server: LiveServer, page) -> None:
    login(page, live_server, "admin", "/")
    page.evaluate("sessionStorage.setItem('hotline.token', 'garbage')")
    page.goto(live_server.url("/desktop"))
    page.wait_for_url(live_server.url("/login") + "*")
    assert page.evaluate("sessionStorage.getItem('hotline.token')") is None


def test_log_out_clears_the_session(live_server: LiveServer, page) -> None:
    login(page, live_server, "agent", "/desktop")
    page.click("#logout")
    page.wait_for_url(live_server.url("/login"))
    assert page.evaluate("sessionStorage.getItem('hotline.token')") is None
    page.goto(live_server.url("/"))
    page.wait_for_url(live_server.url("/login") + "*")


def test_desktop_without_a_seat_says_so(live_server: LiveServer, page) -> None:
    login(page, live_server, "supervisor", "/desktop")
    page.wait_for_selector("body[data-ready='1']")
    assert "no agent seat" in page.inner_text("#status")
