"""The flow editor over /api/flows: list, diagram, errors at their line, publish, diff, roll back."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import LiveServer, login

pytestmark = pytest.mark.browser

pytest.importorskip("ivr.http")

MAIN_FROM = "vars: {request_type: 咨询}"
V1_TO = "vars: {request_type: 政策咨询}"
V2_TO = "vars: {request_type: 政策法规咨询}"
BROKEN_FROM = "next: q_policy"
BROKEN_TO = "next: q_polcy"


def flows(server: LiveServer) -> Any:
    return server.services.extra["flows"]


def live_main(server: LiveServer) -> Any:
    return server.call_soon(lambda: flows(server).registry.current.flows["main"])


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def open_editor(page: Any, server: LiveServer) -> str:
    login(page, server, "admin", "/flows")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#flow-list li[data-flow='main'].active")
    return page.input_value("#yaml")


def set_text(page: Any, text: str) -> None:
    page.fill("#yaml", text)


def test_lists_flows_and_draws_the_diagram(live_server: LiveServer, page: Any) -> None:
    text = open_editor(page, live_server)
    names = page.eval_on_selector_all("#flow-list li", "lis => lis.map(li => li.dataset.flow)")
    assert names == sorted(live_server.call_soon(lambda: list(flows(live_server).registry.current.flows)))
    assert {"main", "after_hours", "survey"} <= set(names)
    main = live_main(live_server)
    assert text == main.text
    assert page.get_attribute("#flow-state", "data-live") == ""  # from the file, never published

    page.click("[data-tab='diagram']")
    page.wait_for_selector("#diagram svg.flow-diagram")
    drawn = page.eval_on_selector_all("#diagram g.node", "gs => gs.map(g => g.dataset.node)")
    assert sorted(drawn) == sorted(main.flow.nodes)
    # the start node is alone on the top layer
    ys = dict(page.eval_on_selector_all(
        "#diagram g.node",
        "gs => gs.map(g => [g.dataset.node, g.transform.baseVal.consolidate().matrix.f])",
    ))
    assert main.flow.start == "welcome" and "start" in page.get_attribute("g.node[data-node='welcome']", "class")
    assert ys["welcome"] < min(y for n, y in ys.items() if n != "welcome")
    # one path per transition (parallel ones merged), menu keys on the edges
    pairs = {(n, t) for n, node in main.flow.nodes.items() for _, _, t in node.targets()}
    drawn_edges = page.eval_on_selector_all("#diagram path.edge", "ps => ps.map(p => [p.dataset.from, p.dataset.to])")
    assert {tuple(e) for e in drawn_edges} == pairs and len(drawn_edges) == len(pairs)
    label = page.text_content("text.edge-label[data-from='main_menu'][data-to='set_consult']")
    assert label == "1"
    page.screenshot(path="/tmp/web-flows-diagram.png", full_page=True)
    page.check("#diagram-fit")
    page.locator("#diagram svg").screenshot(path="/tmp/web-flows-diagram-whole.png")

    # clicking a node takes the editor to its line
    page.click("g.node[data-node='q_policy']")
    page.wait_for_selector("#tab-edit:not([hidden])")
    assert page.get_attribute("#cursor-pos", "data-line") == str(line_of(text, "  q_policy:"))


def test_a_broken_edit_is_marked_at_its_line_and_not_published(live_server: LiveServer, page: Any) -> None:
    text = open_editor(page, live_server)
    before = live_main(live_server)
    broken = text.replace(BROKEN_FROM, BROKEN_TO, 1)
    bad_line = line_of(broken, BROKEN_TO)
    set_text(page, broken)
    page.click("#btn-validate")
    problem = page.wait_for_selector(f"#errors li.problem[data-line='{bad_line}']")
    assert "q_polcy" in problem.inner_text()
    gutter = page.locator(f"#gutter .ln[data-line='{bad_line}']")
    assert "has-error" in gutter.get_attribute("class") and "q_polcy" in gutter.get_attribute("title")
    assert page.locator(f"#marks .mark-line[data-line='{bad_line}']").count() == 1
    # marked lines are exactly the lines of the reported problems
    problem_lines = page.eval_on_selector_all("#errors li.problem", "lis => lis.map(li => +li.dataset.line)")
    marked = page.eval_on_selector_all("#gutter .ln.has-error", "ls => ls.map(l => +l.dataset.line)")
    assert sorted(set(problem_lines)) == marked
    # clicking the error puts the cursor on its line and column
    page.click(f"#errors li.problem[data-line='{bad_line}'] button")
    assert page.get_attribute("#cursor-pos", "data-line") == str(bad_line)
    col = int(problem.get_attribute("data-col"))
    caret = page.evaluate("document.getElementById('yaml').selectionStart")
    assert caret == len("\n".join(broken.split("\n")[: bad_line - 1])) + 1 + col - 1
    page.screenshot(path="/tmp/web-flows-error.png", full_page=True)

    # publishing is refused; the live version stays
    page.fill("#publish-comment", "broken")
    page.click("#btn-publish")
    expect(page.locator("#status")).to_contain_text("Cannot publish")
    assert not page.evaluate("document.getElementById('confirm').open")
    after = live_main(live_server)
    assert after is before and after.text == text
    assert page.eval_on_selector_all("#versions tbody tr[data-version]", "rs => rs.length") == 0


def publish(page: Any, comment: str, confirm: bool = True) -> None:
    page.fill("#publish-comment", comment)
    page.click("#btn-publish")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-ok" if confirm else "#confirm-cancel")


def test_publish_diff_and_roll_back(live_server: LiveServer, page: Any) -> None:
    text = open_editor(page, live_server)
    v1 = text.replace(MAIN_FROM, V1_TO, 1)
    set_text(page, v1)

    # cancelling the confirmation publishes nothing
    publish(page, "政策咨询改名", confirm=False)
    expect(page.locator("#status")).to_contain_text("cancelled")
    assert live_main(live_server).version is None

    publish(page, "政策咨询改名")
    expect(page.locator("#status")).to_contain_text("Published version 1")
    main = live_main(live_server)
    assert main.version == 1 and main.text == v1
    assert page.get_attribute("#flow-state", "data-live") == "1"
    assert page.get_attribute("#versions tr[data-version='1']", "class") == "live"
    assert "政策咨询改名" in page.inner_text("#versions tr[data-version='1']")
    assert page.input_value("#yaml") == v1
    # the draft saved on the way is gone once it is live
    expect(page.locator("#flow-list li[data-flow='main'] .badge.draft")).to_have_count(0)
    expect(page.locator("#btn-discard")).to_be_hidden()
    assert live_server.call(flows(live_server).get_draft("main")) is None

    v2 = v1.replace(V1_TO, V2_TO, 1)
    set_text(page, v2)
    publish(page, "second")
    expect(page.locator("#status")).to_contain_text("Published version 2")
    assert live_main(live_server).version == 2
    assert page.get_attribute("#versions tr[data-version='2']", "class") == "live"
    assert page.get_attribute("#versions tr[data-version='1']", "class") is None

    # diff between the two published versions, computed by the server
    page.click("[data-tab='diff']")
    page.select_option("#diff-from", "1")
    page.select_option("#diff-to", "2")
    page.click("#btn-diff")
    page.wait_for_selector("#diff table.diff-table")
    added = page.eval_on_selector_all("#diff tr.add td.code", "tds => tds.map(td => td.textContent)")
    removed = page.eval_on_selector_all("#diff tr.del td.code", "tds => tds.map(td => td.textContent)")
    assert [a.strip() for a in added] == [V2_TO] and [r.strip() for r in removed] == [V1_TO]
    page.screenshot(path="/tmp/web-flows-diff.png", full_page=True)

    # diff of the editor against a version, computed in the page
    page.click("[data-tab='edit']")
    set_text(page, v2.replace(V2_TO, "vars: {request_type: 咨询类}", 1))
    page.click("#versions tr[data-version='1'] button:not(.rollback)")
    expect(page.locator("#diff tr.add td.code")).to_have_text(["    vars: {request_type: 咨询类}"])
    expect(page.locator("#diff tr.del td.code")).to_have_text(["    " + V1_TO])
    page.click("[data-tab='edit']")
    page.click("#btn-revert")

    # roll back to version 1, after confirming
    page.click("#versions tr[data-version='1'] button.rollback")
    page.wait_for_selector("#confirm[open]")
    assert "v1" in page.inner_text("#confirm-text")
    page.click("#confirm-ok")
    expect(page.locator("#status")).to_contain_text("Rolled back to version 1")
    main = live_main(live_server)
    assert main.version == 1 and main.text == v1
    assert page.get_attribute("#versions tr[data-version='1']", "class") == "live"
    assert page.get_attribute("#flow-state", "data-live") == "1"
    page.screenshot(path="/tmp/web-flows-rolled-back.png", full_page=True)


def test_a_supervisor_can_read_but_not_change(live_server: LiveServer, page: Any) -> None:
    login(page, live_server, "supervisor", "/flows")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_disabled("#btn-publish") and page.is_disabled("#btn-save")
    page.click("#btn-validate")
    expect(page.locator("#status")).to_contain_text("Valid")
    expect(page.locator("#errors li.ok")).to_have_count(1)


def test_switching_flows_asks_before_dropping_edits(live_server: LiveServer, page: Any) -> None:
    text = open_editor(page, live_server)
    edited = text.replace(MAIN_FROM, V1_TO, 1)
    set_text(page, edited)
    page.click("#flow-list li[data-flow='survey'] a")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-cancel")
    assert page.input_value("#yaml") == edited and page.inner_text("#flow-name") == "main"
    # Ctrl+S keeps the edit as the draft; the live flow is untouched
    page.focus("#yaml")
    page.keyboard.press("Control+s")
    expect(page.locator("#status")).to_contain_text("Draft saved")
    assert live_main(live_server).text == text
    expect(page.locator("#flow-list li[data-flow='main'] .badge.draft")).to_have_count(1)
    page.click("#flow-list li[data-flow='survey'] a")  # saved: no question
    expect(page.locator("#flow-name")).to_have_text("survey")
    survey = live_server.call_soon(lambda: flows(live_server).registry.current.flows["survey"].text)
    assert page.input_value("#yaml") == survey
    # back to main: the saved draft is what the editor shows
    page.click("#flow-list li[data-flow='main'] a")
    expect(page.locator("#flow-name")).to_have_text("main")
    expect(page.locator("#draft-note")).to_be_visible()
    assert page.input_value("#yaml") == edited


POLICY_PATH = ["welcome", "hours_check", "main_menu", "set_consult", "q_policy"]


def test_dry_run_shows_and_highlights_the_path(live_server: LiveServer, page: Any) -> None:
    text = open_editor(page, live_server)
    before = live_main(live_server)
    # unsaved editor text is what runs
    set_text(page, text.replace(MAIN_FROM, V1_TO, 1))
    page.click("[data-tab='simulate']")
    page.fill("#sim-keys", "1")
    page.fill("#sim-at", "2026-11-23T10:00")
    page.click("#btn-simulate")
    expect(page.locator("#status")).to_contain_text("Dry run finished: connected")
    assert page.get_attribute("#sim-outcome", "data-outcome") == "connected"
    shown = page.eval_on_selector_all("#sim-path li", "lis => lis.map(li => li.dataset.node)")
    assert shown == [f"main.{n}" for n in POLICY_PATH]
    assert "政策咨询" in page.text_content("#sim-detail")
    assert live_main(live_server) is before  # nothing published, nothing saved

    page.click("#btn-sim-diagram")
    page.wait_for_selector("#diagram svg.flow-diagram")
    visited = page.eval_on_selector_all("#diagram g.node.visited", "gs => gs.map(g => g.dataset.node)")
    assert sorted(visited) == sorted(POLICY_PATH)
    hot = page.eval_on_selector_all("#diagram path.edge.hot", "ps => ps.map(p => [p.dataset.from, p.dataset.to])")
    assert sorted(map(tuple, hot)) == sorted(zip(POLICY_PATH, POLICY_PATH[1:]))
    page.screenshot(path="/tmp/web-flows-dry-run.png", full_page=True)

    # a broken text is not run: its problems are listed at their line
    broken = text.replace(BROKEN_FROM, BROKEN_TO, 1)
    page.click("[data-tab='edit']")
    set_text(page, broken)
    page.click("[data-tab='simulate']")
    page.click("#btn-simulate")
    expect(page.locator("#status")).to_contain_text("fix them to run it")
    page.wait_for_selector("#tab-edit:not([hidden])")
    page.wait_for_selector(f"#errors li.problem[data-line='{line_of(broken, BROKEN_TO)}']")


def test_discarding_the_draft_goes_back_to_the_live_text(live_server: LiveServer, page: Any) -> None:
    text = open_editor(page, live_server)
    expect(page.locator("#btn-discard")).to_be_hidden()
    edited = text.replace(MAIN_FROM, V1_TO, 1)
    set_text(page, edited)
    page.click("#btn-save")
    expect(page.locator("#status")).to_contain_text("Draft saved")
    expect(page.locator("#flow-list li[data-flow='main'] .badge.draft")).to_have_count(1)

    page.click("#btn-discard")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-cancel")
    expect(page.locator("#status")).to_contain_text("Cancelled")
    assert live_server.call(flows(live_server).get_draft("main")) == edited

    page.click("#btn-discard")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-ok")
    expect(page.locator("#status")).to_contain_text("Draft discarded")
    assert page.input_value("#yaml") == text
    expect(page.locator("#flow-list li[data-flow='main'] .badge.draft")).to_have_count(0)
    expect(page.locator("#btn-discard")).to_be_hidden()
    expect(page.locator("#draft-note")).to_be_hidden()
    assert live_server.call(flows(live_server).get_draft("main")) is None
    assert live_main(live_server).text == text


def test_validate_redraws_the_diagram_from_the_editor(live_server: LiveServer, page: Any) -> None:
    text = open_editor(page, live_server)
    page.click("[data-tab='diagram']")
    page.wait_for_selector("#diagram g.node[data-node='set_consult']")
    expect(page.locator("#diagram-stale")).to_be_hidden()
    # a new node between the main menu's key 1 and set_consult, not saved
    edited = text.replace("next: set_consult", "next: consult_notice", 1).replace(
        "\n  set_consult:", "\n  consult_notice:\n    type: play\n    prompt: scope_notice\n    next: set_consult\n"
        "  set_consult:", 1)
    assert edited.count("consult_notice") == 2
    page.click("[data-tab='edit']")
    set_text(page, edited)
    page.click("[data-tab='diagram']")
    expect(page.locator("#diagram-stale")).to_be_visible()
    expect(page.locator("#diagram g.node[data-node='consult_notice']")).to_have_count(0)
    page.click("[data-tab='edit']")
    page.click("#btn-validate")
    expect(page.locator("#status")).to_contain_text("Valid")
    page.click("[data-tab='diagram']")
    expect(page.locator("#diagram g.node[data-node='consult_notice']")).to_have_count(1)
    expect(page.locator("#diagram-stale")).to_be_hidden()
    assert page.text_content("text.edge-label[data-from='main_menu'][data-to='consult_notice']") == "1"
    assert page.locator("path.edge[data-from='consult_notice'][data-to='set_consult']").count() == 1
    assert live_main(live_server).text == text  # nothing saved

    # text that does not parse keeps the last diagram, marked as behind the editor
    page.click("[data-tab='edit']")
    set_text(page, edited + "\n  broken: [\n")
    page.click("#btn-validate")
    expect(page.locator("#status")).to_contain_text("problem")
    page.click("[data-tab='diagram']")
    expect(page.locator("#diagram g.node[data-node='consult_notice']")).to_have_count(1)
    expect(page.locator("#diagram-stale")).to_be_visible()
