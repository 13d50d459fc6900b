"""The flow engine driven by a scripted AsyncAGI stand-in."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from ivr.bundle import FlowBundle, FlowRegistry
from ivr.engine import EngineConfig, IvrEngine
from ivr.ports import FixedClock, MemoryRecorder, QueueOutcome, QueueOutcomeKind, SessionSummary, TextSpeech
from ivr.simulate import FixedHistory, ScriptedActions, ScriptedAgi, ScriptedQueue
from ivr.validate import Catalog
from tests.ivr.conftest import SATURDAY_8PM, WORKDAY_10AM, bundle_with


class Call:
    """One scripted call and everything the engine produced."""

    def __init__(self, bundle: FlowBundle, keys: list[str] | None = None, *, say: list[str] | None = None,
                 at: dt.datetime = WORKDAY_10AM, dnis: str = "12345", queue: list[str] | None = None,
                 transfer: list[str] | None = None, hangup_after: int | None = 5000, repeat_calls: int = 0,
                 context: str = "hotline-inbound", extension: str | None = None, pending_queue: bool = False,
                 registry: FlowRegistry | None = None) -> None:
        self.clock = FixedClock(at)
        self.agi = ScriptedAgi(keys, dnis=dnis, clock=self.clock, hangup_after=hangup_after, context=context,
                               extension=extension)
        self.queue = ScriptedQueue(queue, pending=pending_queue)
        self.actions = ScriptedActions(transfer)
        self.recorder = MemoryRecorder()
        self.speech = TextSpeech(say)
        self.registry = registry or FlowRegistry(bundle)
        self.engine = IvrEngine(self.registry, self.queue, self.actions, self.recorder, clock=self.clock,
                                history=FixedHistory(repeat_calls), speech=lambda call: self.speech,
                                config=EngineConfig(hangup_grace=0.01))

    async def run(self) -> SessionSummary:
        self.summary = await self.engine.handle(self.agi)
        return self.summary

    def events(self, kind: str | None = None) -> list[tuple[str, str, Any]]:
        return [(e.node_id, e.event, e.data) for e in self.recorder.events if kind is None or e.event == kind]

    def nodes(self) -> list[str]:
        return list(self.summary.ivr_path)


async def run(bundle: FlowBundle, keys: list[str] | None = None, **kw: Any) -> Call:
    c = Call(bundle, keys, **kw)
    await c.run()
    return c


# --------------------------------------------------------------------------- main paths


async def test_policy_consultation_reaches_the_policy_queue(bundle: FlowBundle) -> None:
    c = await run(bundle, ["1"])
    assert c.summary.outcome == "connected"
    assert c.nodes() == ["main.welcome", "main.hours_check", "main.main_menu", "main.set_consult", "main.q_policy"]
    assert c.queue.requests[0].skill == "policy"
    assert c.summary.variables["request_type"] == "咨询"
    assert c.summary.variables["agent"] == "8001"
    assert c.agi.variables["HOTLINE_AFTER"] == "survey"
    assert c.agi.variables["HOTLINE_IVR_PATH"] == "welcome>hours_check>main_menu>set_consult>q_policy"


async def test_enterprise_lane_is_queued_with_priority(bundle: FlowBundle) -> None:
    c = await run(bundle, ["3"])
    req = c.queue.requests[0]
    assert (req.skill, req.priority) == ("enterprise", 1)
    assert c.summary.variables["lane"] == "政企直通车"


async def test_enterprise_lane_outside_its_hours_goes_to_general(bundle: FlowBundle) -> None:
    c = await run(bundle, ["3"], at=WORKDAY_10AM.replace(hour=19))
    assert "main.enterprise_closed" in c.nodes()
    assert c.queue.requests[0].skill == "general"


async def test_zero_goes_to_an_agent(bundle: FlowBundle) -> None:
    c = await run(bundle, ["0"])
    assert c.queue.requests[0].skill == "general"


async def test_complaint_records_the_problem_then_queues(bundle: FlowBundle) -> None:
    c = await run(bundle, ["2", "2"])
    assert c.summary.variables["request_type"] == "举报"
    rec = c.summary.variables["problem_recording"]
    assert rec.endswith(".wav") and rec in c.summary.recordings
    assert c.queue.requests[0].skill == "complaint"
    cmd = next(x for x in c.agi.commands if x.startswith("RECORD FILE"))
    assert cmd.endswith('wav "#" 90000 0 BEEP s=4')


# --------------------------------------------------------------------------- VoiceXML retry semantics


async def test_noinput_handlers_chosen_by_count_then_failure(bundle: FlowBundle) -> None:
    c = await run(bundle, ["", "", ""])
    assert [d["count"] for _, _, d in c.events("noinput")] == [1, 2, 3]
    gets = [x for x in c.agi.commands if x.startswith(("GET DATA", "STREAM FILE")) and ("main_menu" in x or "noinput" in x)]
    prefix = bundle.catalog.prompts.prompts_dir.resolve()
    assert gets == [g.format(p=prefix) for g in [
        "GET DATA {p}/main_menu 6000 1",
        "STREAM FILE {p}/noinput_1 \"123490\"",
        "GET DATA {p}/main_menu 6000 1",
        "STREAM FILE {p}/noinput_2 \"123490\"",
        "GET DATA {p}/main_menu 6000 1",
    ]]
    assert ("main.main_menu", "exit", {"event": "failure", "to": "q_general"}) in c.events()


async def test_nomatch_and_noinput_counted_separately(bundle: FlowBundle) -> None:
    c = await run(bundle, ["7", "", "8"])
    evs = [(e, d["count"]) for _, e, d in c.events() if e in ("noinput", "nomatch")]
    assert evs == [("nomatch", 1), ("noinput", 1), ("nomatch", 2)]
    played = [x.split("/")[-1] for x in c.agi.commands
              if x.startswith("STREAM FILE") and ("nomatch" in x or "noinput" in x)]
    # VoiceXML: each re-prompt is preceded by the handler of the last event, chosen by its own count
    assert played == ['nomatch_1 "123490"', 'noinput_1 "123490"']


async def test_retry_then_success(bundle: FlowBundle) -> None:
    c = await run(bundle, ["", "1"])
    assert "main.set_consult" in c.nodes()


async def test_barge_in_during_reprompt_is_the_answer(catalog: Catalog) -> None:
    flow = """
name: t
start: m
nodes:
  m:
    type: menu
    prompt: main_menu
    noinput: [{prompt: noinput_1}]
    choices:
      - {key: "1", next: bye}
    on: {failure: bye}
  bye:
    type: hangup
"""
    b = bundle_with(catalog, t=flow)
    c = Call(b, ["", "1"])
    # the scripted PBX answers STREAM FILE with a key when one is waiting and the escape digits allow it
    orig = c.agi._answer

    def answer(cmd: str) -> str:
        if cmd.startswith("STREAM FILE") and c.agi.keys and c.agi.keys[0] == "1":
            c.agi.keys.pop(0)
            return "200 result=49 endpos=100"
        return orig(cmd)

    c.agi._answer = answer  # type: ignore[method-assign]
    c.agi.env["agi_extension"] = "t"
    s = await _run_flow(c, b, "t")
    assert s.outcome == "completed"
    assert ("t.m", "input", {"digits": "1"}) in c.events()


async def _run_flow(c: Call, b: FlowBundle, flow: str) -> SessionSummary:
    from ivr.engine import FlowSession

    sess = FlowSession(c.engine, c.agi, b)
    sess._entry = lambda: (flow, None)  # type: ignore[method-assign]
    c.summary = await sess.run()
    return c.summary


async def test_max_visits_caps_the_main_menu_loop(bundle: FlowBundle) -> None:
    # 4 -> department menu, 9 -> back to the main menu, four times: the fifth visit goes to an agent
    c = await run(bundle, ["4", "9"] * 4)
    assert c.nodes().count("main.main_menu") == 5
    assert ("main.main_menu", "exit", {"event": "max_visits", "to": "q_general"}) in c.events()
    assert c.queue.requests[0].skill == "general"


# --------------------------------------------------------------------------- speech keywords


async def test_spoken_keyword_selects_a_choice(bundle: FlowBundle) -> None:
    c = await run(bundle, [], say=["我想咨询一下公积金政策"])
    assert "main.set_consult" in c.nodes()
    assert ("main.main_menu", "match", {"keyword": "政策"}) in c.events()


async def test_spoken_emergency_goes_straight_to_119(bundle: FlowBundle) -> None:
    c = await run(bundle, [], say=["我家楼下着火了！"])
    assert c.summary.outcome == "emergency"
    req = c.actions.requests[0]
    assert (req.kind, req.destination, req.context, req.mode) == ("emergency", "119", "hotline-outbound", "blind")
    assert not c.queue.requests  # never queued


async def test_keys_win_over_speech(bundle: FlowBundle) -> None:
    c = await run(bundle, ["0"], say=["政策"])
    assert c.queue.requests[0].skill == "general"


async def test_unmatched_speech_is_a_nomatch(bundle: FlowBundle) -> None:
    c = await run(bundle, ["", "1"], say=["今天天气不错"])
    assert c.events("nomatch") == [("main.main_menu", "nomatch", {"count": 1})]
    assert "main.set_consult" in c.nodes()


# --------------------------------------------------------------------------- emergency


@pytest.mark.parametrize("key,service", [("1", "110"), ("2", "119"), ("3", "120")])
async def test_emergency_menu_transfers_at_once(bundle: FlowBundle, key: str, service: str) -> None:
    c = await run(bundle, ["9", key])
    assert c.summary.outcome == "emergency"
    assert c.actions.requests[0].destination == service
    assert c.summary.variables["emergency"] == service


async def test_failed_emergency_transfer_tells_the_caller_to_dial_directly(bundle: FlowBundle) -> None:
    c = await run(bundle, ["9", "1"], transfer=["failed"])
    assert c.summary.outcome == "emergency_failed"
    assert c.agi.commands[-2].split("/")[-1] == 'emergency_dial_direct ""'
    assert c.agi.commands[-1] == "HANGUP"


async def test_emergency_is_reachable_after_hours(office_bundle: FlowBundle) -> None:
    c = await run(office_bundle, ["9", "3"], at=SATURDAY_8PM)
    assert "main.to_after_hours" in c.nodes()
    assert c.nodes()[-1] == "main.em_120"
    assert c.summary.outcome == "emergency"


# --------------------------------------------------------------------------- DNIS entry per merge mode


async def test_direct_merge_enters_at_the_department_branch(bundle: FlowBundle) -> None:
    c = await run(bundle, [], dnis="12319")
    assert c.nodes()[0] == "main.entry_12319"
    assert c.queue.requests[0].skill == "urban_construction"
    v = c.summary.variables
    assert (v["hotline"], v["merge_mode"], v["department"]) == ("12319", "direct_merge", "市住房和城乡建设局")
    assert c.summary.hotline == "12319"


async def test_call_transfer_passes_context_to_the_department(bundle: FlowBundle) -> None:
    c = await run(bundle, [], dnis="12333")
    assert c.summary.outcome == "transferred"
    req = c.actions.requests[0]
    assert (req.kind, req.destination, req.context, req.mode) == ("hotline", "12333", "hotline-outbound", "attended")
    assert req.variables["HOTLINE_CALL"] == c.agi.linkedid
    assert req.variables["HOTLINE_IVR_PATH"] == "entry_12333>xfer_12333"
    assert "hotline=12333" in req.variables["HOTLINE_SUMMARY"]
    assert c.agi.variables["HOTLINE_IVR_PATH"] == "entry_12333>xfer_12333"  # on the caller's channel too


@pytest.mark.parametrize("outcome", ["busy", "noanswer", "failed"])
async def test_call_transfer_failure_falls_back_to_a_12345_queue(bundle: FlowBundle, outcome: str) -> None:
    c = await run(bundle, [], dnis="12348", transfer=[outcome])
    assert c.nodes() == ["main.entry_12348", "main.xfer_12348", "main.xfer_failed_12348", "main.q_legal"]
    assert c.queue.requests[0].skill == "legal_aid"
    assert c.summary.outcome == "connected"


async def test_interconnection_marks_the_work_order_for_forwarding(bundle: FlowBundle) -> None:
    c = await run(bundle, [], dnis="12315")
    assert c.summary.variables["forward_to"] == "national-12315"
    assert c.summary.merge_mode == "interconnection"
    assert c.queue.requests[0].skill == "market_regulation"


async def test_unknown_dnis_enters_as_12345(bundle: FlowBundle) -> None:
    c = await run(bundle, ["0"], dnis="88886666")
    assert c.nodes()[0] == "main.welcome"
    assert c.summary.hotline == "12345"


async def test_survey_reentry_stores_the_score(bundle: FlowBundle) -> None:
    c = await run(bundle, ["5"], context="hotline-ivr", extension="survey")
    assert c.summary.flow == "survey"
    assert c.summary.survey_score == 5
    assert ("survey.rate", "survey", {"score": 5}) in c.events()
    assert c.summary.call_id == c.agi.linkedid


async def test_survey_out_of_range_then_no_answer_stores_nothing(bundle: FlowBundle) -> None:
    c = await run(bundle, ["7", ""], context="hotline-ivr", extension="survey")
    assert c.summary.survey_score is None
    assert ("survey.rate", "survey", {"score": None}) in c.events()
    assert c.summary.outcome == "completed"


# --------------------------------------------------------------------------- business hours


@pytest.mark.parametrize("at", [
    SATURDAY_8PM, SATURDAY_8PM.replace(hour=3), WORKDAY_10AM.replace(hour=0, minute=0),
    WORKDAY_10AM.replace(hour=23, minute=59), dt.datetime(2026, 10, 2, 19, 0, tzinfo=WORKDAY_10AM.tzinfo),
    dt.datetime(2026, 2, 16, 23, 59, 59, tzinfo=WORKDAY_10AM.tzinfo),
])
async def test_the_shipped_intake_seats_answer_around_the_clock(bundle: FlowBundle, at: dt.datetime) -> None:
    # nights, weekends, the National Day and Spring Festival holidays: 24 hours a day, 365 days
    c = await run(bundle, ["0"], at=at)
    assert c.nodes()[:3] == ["main.welcome", "main.hours_check", "main.main_menu"]
    assert c.queue.requests[0].skill == "general"


async def test_after_hours_branch_on_saturday_evening(office_bundle: FlowBundle) -> None:
    c = await run(office_bundle, ["2", "1"], at=SATURDAY_8PM)
    assert c.nodes()[:4] == ["main.welcome", "main.hours_check", "main.to_after_hours", "after_hours.notice"]
    assert c.nodes()[-1] == "main.callback_done"
    assert c.queue.callbacks == [("general", "13800138000")]
    assert c.summary.outcome == "callback"


async def test_make_up_working_day_is_staffed_like_a_weekday(office_bundle: FlowBundle) -> None:
    # 2026-10-10 is a Saturday and a make-up working day: 19:00 is inside 08:00-20:00
    c = await run(office_bundle, ["0"], at=dt.datetime(2026, 10, 10, 19, 0, tzinfo=WORKDAY_10AM.tzinfo))
    assert "main.main_menu" in c.nodes()
    # an ordinary Saturday keeps rest-day hours (09:00-17:00)
    c = await run(office_bundle, ["0"], at=dt.datetime(2026, 10, 17, 19, 0, tzinfo=WORKDAY_10AM.tzinfo))
    assert "main.to_after_hours" in c.nodes()


async def test_national_day_is_a_rest_day(office_bundle: FlowBundle) -> None:
    c = await run(office_bundle, [""], at=dt.datetime(2026, 10, 2, 19, 0, tzinfo=WORKDAY_10AM.tzinfo))
    assert "after_hours.notice" in c.nodes()


async def test_after_hours_callback_to_another_number(office_bundle: FlowBundle) -> None:
    c = await run(office_bundle, ["2", "2", "12345", "02088886666"], at=SATURDAY_8PM)
    assert c.events("nomatch")  # 12345 is not a phone number
    assert c.summary.variables["callback_number"] == "02088886666"
    assert c.queue.callbacks == [("general", "02088886666")]


# --------------------------------------------------------------------------- queue waits


async def test_queue_overflow_goes_to_the_overflow_menu(bundle: FlowBundle) -> None:
    c = await run(bundle, ["0", "1"], queue=["overflow"])
    assert c.nodes()[-3:] == ["main.overflow_menu", "main.leave_message", "main.message_thanks"]
    assert "message_recording" in c.summary.variables


async def test_callback_offer_accepted_while_waiting(bundle: FlowBundle) -> None:
    # the wait stays open; at 90 s the offer is played and the caller presses 1
    c = Call(bundle, ["0"], queue=["wait"])
    orig = c.agi._answer

    def answer(cmd: str) -> str:
        if "callback_offer" in cmd and cmd.startswith("GET DATA"):
            return "200 result=1"
        return orig(cmd)

    c.agi._answer = answer  # type: ignore[method-assign]
    await c.run()
    assert c.queue.handles[0].callbacks == ["13800138000"]
    assert c.summary.outcome == "callback"
    assert c.nodes()[-1] == "main.callback_done"
    assert 90 <= c.clock.monotonic() < 120


async def test_queue_plays_announcements_and_estimated_wait(bundle: FlowBundle) -> None:
    c = await run(bundle, ["0", ""], queue=["wait"])
    cmds = c.agi.commands
    assert any(x.endswith('queue_wait ""') for x in cmds)
    assert 'SAY NUMBER 1 ""' in cmds
    assert ("main.q_general", "queue_outcome", {"outcome": "overflow", "reason": "max_wait"}) in c.events()


async def test_caller_hangs_up_in_queue_leaves_the_queue(bundle: FlowBundle) -> None:
    c = await run(bundle, ["1"], queue=["wait"], hangup_after=12)
    assert c.summary.outcome == "caller_hangup"
    res = c.queue.handles[0].outcome.result()
    assert res.kind is QueueOutcomeKind.HANGUP
    assert c.summary.variables["request_type"] == "咨询"


async def test_bridge_to_agent_while_music_plays_counts_as_connected(bundle: FlowBundle) -> None:
    c = Call(bundle, ["1"], pending_queue=True)
    orig = c.agi._answer

    def answer(cmd: str) -> str:
        if "hold_music" in cmd:
            # the router connects an agent: the bridge takes the channel out of AGI
            c.queue.handles[0].outcome.set_result(QueueOutcome(QueueOutcomeKind.CONNECTED, agent="8005"))
            return c.agi._hangup_now("STREAM FILE")
        return orig(cmd)

    c.agi._answer = answer  # type: ignore[method-assign]
    await c.run()
    assert c.summary.outcome == "connected"
    assert c.summary.variables["agent"] == "8005"


# --------------------------------------------------------------------------- hang-up anywhere


@pytest.mark.parametrize("keys,kw", [
    (["2", "1"], {}),                      # complaint: menu, record, queue
    (["0", "2", "2", "13912345678"], {"queue": ["overflow"]}),  # overflow, collect, call-back
    ([], {"dnis": "12333", "transfer": ["busy"]}),
    (["2", "2"], {"at": SATURDAY_8PM, "office_hours": True}),  # after hours: call-back request
])
async def test_hangup_at_every_command_ends_cleanly_and_keeps_data(bundle: FlowBundle, office_bundle: FlowBundle,
                                                                   keys: list[str], kw: dict[str, Any]) -> None:
    kw = dict(kw)
    if kw.pop("office_hours", False):
        bundle = office_bundle
    full = await run(bundle, list(keys), **kw)
    if bundle is office_bundle:
        assert "after_hours.menu" in full.nodes() and full.summary.outcome == "callback"
    n = len(full.agi.commands)
    assert n > 3
    for cut in range(1, n + 1):
        c = await run(bundle, list(keys), hangup_after=cut, **kw)
        s = c.summary
        assert s.outcome in ("caller_hangup", "connected", "transferred", "callback", "completed"), (cut, s.outcome)
        if cut < n:  # a call-back registered before the hang-up stays registered
            assert s.outcome in ("caller_hangup", "callback"), cut
        # whatever was collected before the hang-up is kept
        done = {k: v for k, v in full.summary.variables.items() if k in s.variables}
        assert done == {k: s.variables[k] for k in done}
        assert list(s.ivr_path) == list(full.summary.ivr_path[: len(s.ivr_path)])
        assert c.recorder.summaries == [s]
        if cut < n:
            assert c.events()[-1][1] == "hangup"


async def test_hangup_during_recording_keeps_the_recording(bundle: FlowBundle) -> None:
    c = await run(bundle, ["2", "1", "hangup"])
    assert c.summary.outcome == "caller_hangup"
    assert c.summary.variables["problem_recording"].endswith(".wav")
    assert c.summary.recordings


# --------------------------------------------------------------------------- versions


async def test_calls_in_progress_finish_on_their_version(catalog: Catalog, bundle: FlowBundle) -> None:
    v1 = bundle_with(catalog, versions={"main": 1})
    v2_text = bundle.flows["main"].text.replace("vars: {request_type: 咨询}", "vars: {request_type: 政策咨询}")
    assert v2_text != bundle.flows["main"].text
    v2 = bundle_with(catalog, versions={"main": 2}, main=v2_text)
    registry = FlowRegistry(v1)
    c = Call(v1, ["1"], registry=registry, pending_queue=True)
    task = asyncio.create_task(c.run())
    while not c.queue.handles:
        await asyncio.sleep(0)
    registry.swap(v2)  # published while the first caller waits in the policy queue
    c.queue.handles[0].outcome.set_result(QueueOutcome(QueueOutcomeKind.CONNECTED, agent="8001"))
    s1 = await task
    assert (s1.flow_version, s1.outcome, s1.variables["request_type"]) == (1, "connected", "咨询")
    c2 = Call(v2, ["1"], registry=registry)
    s2 = await c2.run()
    assert (s2.flow_version, s2.variables["request_type"]) == (2, "政策咨询")


# --------------------------------------------------------------------------- conditions


async def test_repeat_caller_and_variables(catalog: Catalog) -> None:
    flow = """
name: t
start: s
nodes:
  s:
    type: set
    vars: {lane: 政企直通车, tries: 3}
    next: c
  c:
    type: condition
    branches:
      - when: {all: [{repeat_caller: {within: 24h, min_calls: 2}}, {var: {name: tries, op: gt, value: 2}}]}
        next: repeat
      - when: {any: [{dnis: ["12319"]}, {not: {var: {name: lane, op: set}}}]}
        next: other
    else: plain
  repeat:
    type: hangup
  other:
    type: hangup
  plain:
    type: hangup
"""
    b = bundle_with(catalog, t=flow)
    c = Call(b, [], repeat_calls=2)
    await _run_flow(c, b, "t")
    assert c.summary.ivr_path[-1] == "t.repeat"
    c = Call(b, [], repeat_calls=1)
    await _run_flow(c, b, "t")
    assert c.summary.ivr_path[-1] == "t.plain"
    c = Call(b, [], repeat_calls=0, dnis="12319")
    await _run_flow(c, b, "t")
    assert c.summary.ivr_path[-1] == "t.other"


async def test_collect_id_card_with_checksum(catalog: Catalog) -> None:
    flow = """
name: t
start: id
nodes:
  id:
    type: collect
    prompt: enter_phone
    var: id_number
    validate: {kind: id_card}
    retries: 2
    nomatch: [{prompt: invalid_number}]
    on: {failure: bye}
    next: bye
  bye:
    type: hangup
"""
    b = bundle_with(catalog, t=flow)
    c = Call(b, ["11010519491231002A", "110105194912310021", "11010519491231002*"])
    await _run_flow(c, b, "t")
    # a wrong check digit is refused; * stands for X on the keypad
    assert [d["valid"] for _, _, d in c.events("input")] == [False, False, True]
    assert c.summary.variables["id_number"] == "11010519491231002X"


async def test_key_pressed_during_the_welcome_answers_the_main_menu(bundle: FlowBundle) -> None:
    c = Call(bundle, [])
    orig = c.agi._answer

    def answer(cmd: str) -> str:
        if cmd.startswith("STREAM FILE") and cmd.endswith('/welcome "0123456789*#"'):
            return "200 result=51 endpos=4000"  # the caller presses 3 during the welcome
        return orig(cmd)

    c.agi._answer = answer  # type: ignore[method-assign]
    await c.run()
    assert ("main.welcome", "barge_in", {"digit": "3"}) in c.events()
    assert ("main.main_menu", "input", {"digits": "3"}) in c.events()
    assert not any(x.startswith("GET DATA") and "main_menu" in x for x in c.agi.commands)  # never prompted
    assert c.queue.requests[0].skill == "enterprise"


async def test_lost_ami_link_ends_the_session_with_one_line_and_keeps_the_path(bundle: FlowBundle, caplog) -> None:
    from cti.ami.errors import AmiNotConnected

    c = Call(bundle, ["1"])
    real = c.agi.command

    async def command(cmd: str, timeout: float | None = None):
        if len(c.agi.commands) >= 2:
            raise AmiNotConnected("AMI link lost while the AGI command was pending")
        return await real(cmd, timeout)

    c.agi.command = command  # the link drops under the third command
    with caplog.at_level("WARNING", "ivr.engine"):
        await c.run()
    assert c.summary.outcome == "link_lost"
    assert c.nodes()[0] == "main.welcome"
    assert c.recorder.summaries == [c.summary]
    assert "interrupted at" in caplog.text and "Traceback" not in caplog.text


async def test_caller_back_from_a_failed_blind_transfer_is_queued_to_general(bundle: FlowBundle) -> None:
    c = await run(bundle, [], context="hotline-ivr", extension="transfer-failed")
    assert c.nodes()[:3] == ["transfer_failed.sorry", "transfer_failed.set_back", "transfer_failed.to_general"]
    assert "main.q_general" in c.nodes()
    assert c.queue.requests[0].skill == "general"
    assert c.summary.variables["returned_from_transfer"] == "yes"


async def test_prompts_play_from_asterisks_sounds_dir_when_configured(bundle: FlowBundle) -> None:
    c = Call(bundle, ["1"])
    c.engine.config = EngineConfig(hangup_grace=0.01, prompt_base="hotline")
    await c.run()
    streams = [cmd for cmd in c.agi.commands if cmd.startswith("STREAM FILE")]
    assert streams and streams[0].startswith("STREAM FILE hotline/welcome ")
