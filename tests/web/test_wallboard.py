"""The wallboard follows the router live over /ws/wallboard; the desktop changes the agent's state."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import LiveServer, login

pytestmark = pytest.mark.browser

pytest.importorskip("router.http")


def router(server: LiveServer) -> Any:
    return server.extras["router"]


def enqueue(server: LiveServer, call_id: str) -> None:
    from ivr.ports import CallInfo, QueueRequest

    request = QueueRequest(CallInfo(call_id, f"PJSIP/trunk-{call_id}", "13800138000", "12345"), "general", 5, None, True)
    server.call(router(server).enqueue(request))


def cell(page: Any, kind: str, row: str, metric: str) -> Any:
    return page.locator(f"#{kind} tr[data-id='{row}'] td[data-metric='{metric}']")


def chip(page: Any, kind: str, row: str, state: str) -> Any:
    return page.locator(f"#{kind} tr[data-id='{row}'] td[data-metric='agents'] .chip[data-state='{state}']")


def test_wallboard_shows_live_figures(live_server: LiveServer, browser: Any, page: Any) -> None:
    clock = live_server.extras["clock"]
    login(page, live_server, "supervisor", "/wallboard")
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    expect(cell(page, "queues", "general", "waiting")).to_have_text("0")
    expect(chip(page, "queues", "general", "logged_out")).to_have_attribute("data-count", "3")
    expect(page.locator("#groups tr[data-id='g1']")).to_have_count(1)
    expect(page.locator("#sites tr[data-id='east']")).to_have_count(1)
    headers = page.locator("#queues th").all_inner_texts()
    for label in ("排队", "最长等待", "服务水平", "15秒接听率", "平均应答", "放弃率", "接通率", "坐席状态", "占用率"):
        assert any(label in h for h in headers), label
    for english in ("Service level", "Answered ≤15 s", "ASA", "Answer rate", "Occupancy"):
        assert any(english in h for h in headers), english

    # two callers wait: nobody is logged in
    enqueue(live_server, "c1")
    live_server.call_soon(lambda: clock.tick(10))
    enqueue(live_server, "c2")
    live_server.call_soon(lambda: clock.tick(20))
    expect(cell(page, "queues", "general", "waiting")).to_have_text("2")
    expect(cell(page, "queues", "general", "longest_wait")).to_have_text("30s")
    expect(cell(page, "groups", "g1", "waiting")).to_have_text("2")
    expect(page.locator("#totals [data-metric='waiting'] .tile-value")).to_have_text("2")
    # no agent: the expected wait is endless, the overflow to the east site opens and says why
    overflow = page.locator("#decisions li.current[data-mode='overflow:东区支援']")
    expect(overflow).to_contain_text("overflow to 东区支援")
    mode = live_server.call_soon(lambda: dict(router(live_server).engine.queues["general"].mode_reasons))
    assert overflow.locator(".reason").inner_text() == mode["overflow:东区支援"]

    # the agent logs in on the desktop and takes the first caller at once (30 s wait)
    agent_ctx = browser.new_context()
    try:
        desk = agent_ctx.new_page()
        login(desk, live_server, "agent", "/desktop")
        expect(desk.locator("#agent-state")).to_have_attribute("data-state", "logged_out")
        desk.click("#btn-login")
        expect(desk.locator("#agent-state")).to_have_attribute("data-state", "on_call")
        desk.screenshot(path="/tmp/web-desktop.png", full_page=True)
    finally:
        agent_ctx.close()

    expect(cell(page, "queues", "general", "waiting")).to_have_text("1")
    expect(cell(page, "queues", "general", "answered")).to_have_text("1")
    expect(cell(page, "queues", "general", "asa")).to_have_text("30s")
    expect(cell(page, "queues", "general", "service_level")).to_have_text("0.0%")  # 30 s > the 20 s target
    expect(cell(page, "queues", "general", "answer_rate_15s")).to_have_text("0.0%")
    expect(cell(page, "queues", "general", "answer_rate")).to_have_text("100.0%")
    expect(cell(page, "queues", "general", "abandon_rate")).to_have_text("0.0%")
    expect(chip(page, "queues", "general", "on_call")).to_have_attribute("data-count", "1")
    expect(chip(page, "groups", "g1", "on_call")).to_have_attribute("data-count", "1")
    expect(cell(page, "groups", "g1", "answered")).to_have_text("1")
    expect(chip(page, "sites", "centre", "logged_out")).to_have_attribute("data-count", "1")

    # an east agent comes in: the overflow gives them the second caller, and the wallboard says why
    live_server.call_soon(lambda: router(live_server).login("3"))
    expect(cell(page, "queues", "general", "waiting")).to_have_text("0")
    expect(cell(page, "sites", "east", "answered")).to_have_text("1")
    offer = page.locator("#decisions li[data-kind='offer']")
    expect(offer).to_have_count(1)
    expect(offer).to_contain_text("overflow")
    expect(offer).to_contain_text("→ 3")
    # occupancy: both answering agents have been busy since they logged in
    live_server.call_soon(lambda: clock.tick(60))
    expect(cell(page, "queues", "general", "occupancy")).to_have_text("100.0%")

    # the figures came over the WebSocket, many snapshots after the first GET
    assert int(page.get_attribute("body", "data-snapshots")) > 3
    page.screenshot(path="/tmp/web-wallboard.png", full_page=True)
    page.click("[data-period='today']")
    expect(cell(page, "queues", "general", "answered")).to_have_text("2")


def test_desktop_pause_and_ready(live_server: LiveServer, page: Any) -> None:
    def seat_state() -> str:
        return live_server.call_soon(lambda: router(live_server).engine.seats.get("1").state.value)

    login(page, live_server, "agent", "/desktop")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "logged_out")
    assert page.is_hidden("#btn-pause") and page.is_visible("#btn-login")
    page.click("#btn-login")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    assert seat_state() == "available"
    page.select_option("#pause-reason", "培训")
    page.click("#btn-pause")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "paused")
    expect(page.locator("#agent-reason")).to_have_text("培训")
    assert seat_state() == "paused"
    page.click("#btn-unpause")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    page.click("#btn-logout")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "logged_out")
    assert seat_state() == "logged_out"


def test_an_agent_cannot_open_the_wallboard_socket_without_a_token(live_server: LiveServer, page: Any) -> None:
    login(page, live_server, "supervisor", "/wallboard")
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    # a token the server no longer accepts: the page goes back to the login page
    page.evaluate("sessionStorage.setItem('hotline.token', 'expired')")
    page.reload()
    page.wait_for_url(live_server.url("/login") + "*")


def test_wallboard_reconnects_after_the_link_drops(live_server: LiveServer, page: Any) -> None:
    login(page, live_server, "supervisor", "/wallboard")
    expect(page.locator("body")).to_have_attribute("data-connects", "1")
    expect(cell(page, "queues", "general", "waiting")).to_have_text("0")
    assert live_server.drop_websockets() == 1
    expect(page.locator("#live")).to_have_attribute("data-state", "closed")
    expect(page.locator("body")).to_have_attribute("data-connects", "2")
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    # figures keep coming over the new connection
    enqueue(live_server, "c7")
    expect(cell(page, "queues", "general", "waiting")).to_have_text("1")
