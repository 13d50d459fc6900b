"""Sessions adopted after an AMI reconnect (``resumed``), and prompts the PBX cannot play."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cti.agi import AgiResult
from cti.ami.errors import AmiNotConnected
from ivr.bundle import FlowBundle
from tests.ivr.test_engine import Call


class LinkLossAgi:
    """Wraps a ScriptedAgi: the ``n``-th command fails as the AMI link drops under it."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.n = inner, n
        self.channel, self.uniqueid, self.linkedid, self.env = inner.channel, inner.uniqueid, inner.linkedid, inner.env

    async def command(self, cmd: str, timeout: float | None = None) -> AgiResult:
        if len(self.inner.commands) + 1 >= self.n:
            self.inner.commands.append(cmd)
            raise AmiNotConnected("AMI link lost while the AGI command was pending")
        return await self.inner.command(cmd, timeout)


def resumed(c: Call, mark: str | None = None) -> Call:
    c.agi.resumed = True  # type: ignore[attr-defined]
    if mark is not None:
        c.agi.variables["HOTLINE_QUEUE_STATE"] = mark
    return c


def streamed(c: Call) -> list[str]:
    return [x.split(" ")[2].rsplit("/", 1)[-1] for x in c.agi.commands if x.startswith(("STREAM FILE", "GET DATA"))]


async def test_resumed_caller_marked_waiting_goes_straight_back_to_its_queue(bundle: FlowBundle) -> None:
    c = resumed(Call(bundle, []), "waiting|policy|normal|1795266440.123")
    await c.run()
    assert c.agi.commands[0] == "GET VARIABLE HOTLINE_QUEUE_STATE"
    assert "welcome" not in streamed(c)  # no welcome again
    assert c.nodes() == ["main.q_policy"]
    assert c.queue.requests[0].call.call_id == c.agi.linkedid  # the same call id: the router keeps its place
    assert c.summary.outcome == "connected"
    assert ("", "resume", {"queue": "policy", "at": "main.q_policy"}) in c.events()


async def test_resumed_caller_without_a_mark_restarts_with_an_apology(bundle: FlowBundle) -> None:
    assert "resume_apology" in bundle.catalog.prompts.names
    c = resumed(Call(bundle, ["0"]))
    await c.run()
    assert streamed(c)[:2] == ["resume_apology", "welcome"]
    assert c.nodes()[0] == "main.welcome" and c.queue.requests[0].skill == "general"


async def test_resumed_caller_marked_connected_is_not_queued_again_from_the_mark(bundle: FlowBundle) -> None:
    c = resumed(Call(bundle, ["0"]), "connected|general|normal|1795266440.123")
    await c.run()
    assert streamed(c)[0] == "resume_apology"


async def test_fresh_session_never_reads_the_mark(bundle: FlowBundle) -> None:
    c = Call(bundle, ["0"])
    c.agi.variables["HOTLINE_QUEUE_STATE"] = "waiting|policy|normal|1.0"
    await c.run()
    assert "GET VARIABLE HOTLINE_QUEUE_STATE" not in c.agi.commands
    assert c.nodes()[0] == "main.welcome"


async def test_session_cut_by_the_link_loss_goes_on_at_the_interrupted_node(bundle: FlowBundle) -> None:
    c = Call(bundle, ["", "1"])
    first = LinkLossAgi(c.agi, n=4)  # welcome, emergency notice, menu GET DATA (no key), noinput_1 <- cut
    s1 = await c.engine.handle(first)  # type: ignore[arg-type]
    assert s1.outcome == "link_lost" and s1.ivr_path[-1] == "main.main_menu"
    resumed(c)
    before = len(c.agi.commands)
    s2 = await c.engine.handle(c.agi)
    after = [x.split(" ")[2].rsplit("/", 1)[-1] for x in c.agi.commands[before:] if x.startswith(("STREAM", "GET DATA"))]
    assert after[0] == "main_menu"  # the menu again, not the welcome nor an apology
    assert "main.set_consult" in s2.ivr_path and s2.outcome == "connected"
    assert not c.engine.interrupted


class MissingPromptAgi:
    """A real AgiSession's view: Asterisk answers a missing file with ``result=-1 endpos=0``."""

    def __init__(self, inner: Any, missing: str, hangup_requested: bool) -> None:
        self.inner, self.missing = inner, missing
        self.channel, self.uniqueid, self.linkedid, self.env = inner.channel, inner.uniqueid, inner.linkedid, inner.env
        self.hangup_requested = hangup_requested

    async def command(self, cmd: str, timeout: float | None = None) -> AgiResult:
        if cmd.startswith("STREAM FILE") and self.missing in cmd:
            self.inner.commands.append(cmd)
            return AgiResult(200, "-1", None, 0, False, "200 result=-1 endpos=0")
        return await self.inner.command(cmd, timeout)


async def test_missing_prompt_is_logged_and_not_taken_for_the_caller_hanging_up(
        bundle: FlowBundle, caplog: pytest.LogCaptureFixture) -> None:
    c = Call(bundle, ["1"])
    with caplog.at_level(logging.ERROR, logger="ivr.engine"):
        s = await c.engine.handle(MissingPromptAgi(c.agi, "welcome", hangup_requested=False))  # type: ignore[arg-type]
    assert s.outcome == "error"
    errs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errs) == 1 and "'welcome'" in errs[0].getMessage() and "missing" in errs[0].getMessage()
    assert ("main.welcome", "error", {"error": "prompt_missing", "prompt": "welcome"}) in c.events()
    assert not c.events("hangup")


async def test_minus_one_after_a_hangup_request_is_the_caller(bundle: FlowBundle) -> None:
    c = Call(bundle, ["1"])
    s = await c.engine.handle(MissingPromptAgi(c.agi, "welcome", hangup_requested=True))  # type: ignore[arg-type]
    assert s.outcome == "caller_hangup"
    assert c.events("hangup")
