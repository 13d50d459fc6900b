"""The call journal on SQLite and PostgreSQL, including a database that goes away."""

import contextlib
import dataclasses
import datetime as dt

from sqlalchemy import select

from cti.events import CallRecord, CallStarted, LegRecord
from hotline.journal import CallJournal
from hotline.storage.models import Call, CallLeg, IvrEvent as IvrEventRow
from ivr.ports import IvrEvent, SessionSummary

T0 = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.timezone.utc)


def _leg(uid: str, role: str, num: str, start: dt.datetime, end: dt.datetime) -> LegRecord:
    return LegRecord(
        leg_id=uid, channel=f"PJSIP/{num}-0001", role=role, caller_num=num, caller_name="张三", connected_num="",
        connected_name="", context="hotline-inbound", exten="12345", created_at=start, answered_at=start,
        hungup_at=end, hangup_cause=16, hangup_cause_txt="Normal Clearing", dial_status="ANSWER",
    )


def _cdr(call_id: str) -> CallRecord:
    end = T0 + dt.timedelta(minutes=4)
    return CallRecord(
        call_id=call_id, dnis="12345", direction="inbound", caller_num="13812345678", caller_name="张三",
        started_at=T0, answered_at=T0, ended_at=end, duration=240.0, talk_time=180.0, disposition="ANSWERED",
        hangup_cause=16, hangup_cause_txt="Normal Clearing",
        legs=(_leg(call_id, "caller", "13812345678", T0, end), _leg(call_id + "-agent", "agent", "8001", T0, end)),
        agent="8001", connected_at=T0 + dt.timedelta(seconds=30),
    )


def _summary(call_id: str) -> SessionSummary:
    return SessionSummary(
        call_id=call_id, channel="PJSIP/trunk-0001", caller="13812345678", dnis="12319", hotline="12319",
        merge_mode="direct_merge", flow="main", flow_version=3, outcome="connected", ivr_path=("main.welcome",),
        variables={"queue": "urban"}, survey_score=5, recordings=(), started_at=T0, ended_at=T0,
    )


async def test_ivr_events_summary_and_cdr_make_one_call(db):
    j = CallJournal(db)
    await j.start()
    j.on_call_started(CallStarted("c1", T0, "PJSIP/trunk-0001", "c1", "13812345678", "张三", "12319", "hotline-inbound", "12319"))
    for seq, ev in enumerate(["enter", "prompt", "input"], 1):
        j.record(IvrEvent("c1", seq, "main.menu", ev, {"digits": "1"}, T0 + dt.timedelta(seconds=seq)))
    j.record(IvrEvent("c1", 1, "main.q_policy", "enqueue", {"skill": "urban", "priority": 5}, T0))
    j.record(IvrEvent("c1", 2, "main.q_policy", "queue_outcome", {"outcome": "connected", "agent": "8001"}, T0))
    # the post-call survey is a second IVR session of the same call, numbering its steps from 1 again
    j.record(IvrEvent("c1", 1, "survey.rate", "input", {"digits": "5"}, T0 + dt.timedelta(minutes=5)))
    await j.finish(_summary("c1"))
    await j.write(_cdr("c1"))
    await j.flush()
    async with db.session() as s:
        call = await s.get(Call, "c1")
        assert (call.dnis, call.caller_name, call.flow_name, call.flow_version) == ("12319", "张三", "main", 3)
        assert (call.survey_score, call.agent, call.disposition, call.queue) == (5, "8001", "answered", "urban")
        assert call.answered_at == T0 + dt.timedelta(seconds=30)
        events = (await s.scalars(select(IvrEventRow).where(IvrEventRow.call_id == "c1").order_by(IvrEventRow.seq))).all()
        assert [e.event for e in events] == ["enter", "prompt", "input", "enqueue", "queue_outcome", "input"]
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
        assert events[-1].node_id == "survey.rate"
        legs = (await s.scalars(select(CallLeg).where(CallLeg.call_id == "c1"))).all()
        assert sorted(leg.role for leg in legs) == ["agent", "caller"]
    assert await j.recent_calls("13812345678", 3600, T0 + dt.timedelta(minutes=5)) == 1
    assert await j.recent_calls("13812345678", 3600, T0) == 0
    await j.stop()


async def test_event_before_call_row_creates_it(db):
    j = CallJournal(db)
    await j.start()
    j.record(IvrEvent("c2", 0, "main.welcome", "enter", None, T0))
    await j.flush()
    async with db.session() as s:
        assert (await s.get(Call, "c2")) is not None
    await j.stop()


async def test_an_invalid_operation_is_set_aside_and_the_rest_written(db):
    j = CallJournal(db)
    await j.start()
    await j.write(_cdr("ok-1"))
    bad = _cdr("ok-2")
    # two legs with one Uniqueid violate the unique constraint
    await j.write(dataclasses.replace(bad, legs=(_leg("dup", "caller", "1", T0, T0), _leg("dup", "agent", "8001", T0, T0))))
    await j.write(_cdr("ok-3"))
    await j.flush()
    async with db.session() as s:
        ids = set((await s.scalars(select(Call.id).where(Call.id.like("ok-%")))).all())
    assert {"ok-1", "ok-3"} <= ids
    assert [op.call_id for op in j.rejected] == ["ok-2"]
    await j.stop()


class _FlakyDatabase:
    """The real database behind a switch that makes every transaction fail, like a lost server."""

    def __init__(self, db):
        self._db = db
        self.down = True

    @contextlib.asynccontextmanager
    async def transaction(self):
        if self.down:
            raise ConnectionRefusedError("database unreachable")
        async with self._db.transaction() as s:
            yield s

    def session(self):
        return self._db.session()


async def test_nothing_is_lost_while_the_database_is_away(db):
    flaky = _FlakyDatabase(db)
    sleeps = []

    async def fake_sleep(d):
        sleeps.append(d)
        if len(sleeps) == 4:
            flaky.down = False  # the database comes back after four failed attempts

    j = CallJournal(flaky, sleep=fake_sleep, retry_initial=0.5, retry_max=2.0)
    await j.start()
    for i in range(20):
        await j.write(_cdr(f"lost-{i}"))
    await j.flush()
    assert sleeps == [0.5, 1.0, 2.0, 2.0]  # capped exponential back-off
    assert j.failures == 4 and j.pending == 0
    async with db.session() as s:
        ids = (await s.scalars(select(Call.id).where(Call.id.like("lost-%")))).all()
    assert len(ids) == 20
    await j.stop()


async def test_server_originated_legs_get_no_row_of_their_own(db):
    j = CallJournal(db)
    await j.start()
    j.on_call_started(CallStarted("agent-leg", T0, "PJSIP/8001-0002", "agent-leg", "8001", "", "", "hotline-agent", "connect"))
    j.on_call_started(CallStarted("c9", T0, "PJSIP/trunk-0009", "c9", "13812345678", "", "12345", "hotline-inbound", "12345"))
    await j.flush()
    async with db.session() as s:
        assert set((await s.scalars(select(Call.id))).all()) == {"c9"}
    await j.stop()


async def test_queued_caller_who_hangs_up_is_abandoned_and_odd_legs_are_external(db):
    j = CallJournal(db)
    await j.start()
    j.record(IvrEvent("c5", 1, "main.q_general", "enqueue", {"skill": "general", "priority": 5}, T0))
    j.record(IvrEvent("c5", 2, "main.q_general", "hangup", {"by": "caller"}, T0))
    base = _cdr("c5")
    local = dataclasses.replace(_leg("c5-local", "caller", "12333", T0, T0), role="local")
    await j.write(dataclasses.replace(base, agent="", legs=(base.legs[0], local)))
    j.record(IvrEvent("c6", 1, "main.q_general", "enqueue", {"skill": "general"}, T0))
    j.record(IvrEvent("c6", 2, "main.q_general", "queue_outcome", {"outcome": "callback"}, T0))
    await j.write(dataclasses.replace(_cdr("c6"), agent=""))
    await j.flush()
    async with db.session() as s:
        c5 = await s.get(Call, "c5")
        assert (c5.queue, c5.disposition) == ("general", "abandoned")
        roles = sorted((await s.scalars(select(CallLeg.role).where(CallLeg.call_id == "c5"))).all())
        assert roles == ["caller", "external"]
        assert (await s.get(Call, "c6")).disposition == "callback"
    assert not j.rejected
    await j.stop()


async def test_a_leg_answered_after_its_caller_left_joins_that_calls_record(db):
    """An agent answers just as the citizen hangs up: the agent leg's call could not be merged into
    the ended call, so its record is ``part_of`` it; the legs join the citizen's row, no new row."""
    j = CallJournal(db)
    await j.start()
    j.on_call_started(CallStarted("c7", T0, "PJSIP/trunk-0001", "c7", "13812345678", "张三", "12345", "hotline-inbound", "12345"))
    caller_only = dataclasses.replace(_cdr("c7"), legs=_cdr("c7").legs[:1], agent="", connected_at=None)
    await j.write(caller_only)
    end = T0 + dt.timedelta(minutes=5)
    late = dataclasses.replace(
        _cdr("c7-agentcall"), dnis="", direction="outbound", part_of="c7", agent="8002",
        legs=(_leg("c7-agentcall", "agent", "8002", T0 + dt.timedelta(minutes=4), end),))
    await j.write(late)
    # the same in a later batch (the citizen's row already written): still no row of its own
    await j.flush()
    late2 = dataclasses.replace(late, call_id="c7-second", legs=(_leg("c7-second", "agent", "8003", end, end),), agent="")
    await j.write(late2)
    # a record naming a call the journal never had keeps its own row (nothing to join)
    stray = dataclasses.replace(late, call_id="c8-agentcall", part_of="no-such-call",
                                legs=(_leg("c8-agentcall", "agent", "8004", end, end),))
    await j.write(stray)
    await j.flush()
    async with db.session() as s:
        ids = sorted((await s.scalars(select(Call.id))).all())
        assert ids == ["c7", "c8-agentcall"]
        call = await s.get(Call, "c7")
        assert call.agent == "8002"  # who picked up, though the citizen had gone
        assert call.caller_number == "13812345678" and call.ended_at == T0 + dt.timedelta(minutes=4)
        legs = (await s.scalars(select(CallLeg).where(CallLeg.call_id == "c7").order_by(CallLeg.id))).all()
        assert [(leg.uniqueid, leg.role) for leg in legs] == [
            ("c7", "caller"), ("c7-agentcall", "agent"), ("c7-second", "agent")]
    await j.stop()


async def test_survey_score_is_the_satisfaction_of_the_calls_work_orders(db):
    """The caller's 1-5 survey score lands on the call and on every work order opened on it; an order
    opened after the survey takes the score from its call."""
    from hotline.storage.models import WorkOrder

    j = CallJournal(db)
    await j.start()
    j.on_call_started(CallStarted("c9", T0, "PJSIP/trunk-0001", "c9", "13812345678", "张三", "12345", "hotline-inbound", "12345"))
    await j.flush()
    async with db.session() as s:  # the agent opens a ticket during the call
        s.add(WorkOrder(ticket_no="20261121-0009", call_id="c9", type="投诉"))
        s.add(WorkOrder(ticket_no="20261121-0010", call_id="other", type="咨询"))
        await s.commit()
    await j.finish(dataclasses.replace(_summary("c9"), survey_score=2))
    await j.flush()
    async with db.session() as s:
        orders = {w.ticket_no: w.satisfaction for w in (await s.scalars(select(WorkOrder))).all()}
        assert orders == {"20261121-0009": 2, "20261121-0010": None}
        assert (await s.get(Call, "c9")).survey_score == 2
        s.add(WorkOrder(ticket_no="20261121-0011", call_id="c9", type="建议"))  # opened after the survey
        s.add(WorkOrder(ticket_no="20261121-0012", call_id="c9", type="建议", satisfaction=5))  # given: kept
        await s.commit()
    async with db.session() as s:
        late = {w.ticket_no: w.satisfaction for w in (await s.scalars(select(WorkOrder))).all()}
        assert late["20261121-0011"] == 2 and late["20261121-0012"] == 5
    await j.stop()
