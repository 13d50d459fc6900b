"""Models on SQLite and PostgreSQL: UTC round trips, constraints, cascades, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from hotline.settings import DatabaseSettings
from hotline.storage.db import Database
from hotline.storage.models import (
    Agent,
    AgentSkill,
    AuditLog,
    Call,
    Callback,
    CallLeg,
    FlowVersion,
    IntervalStat,
    IvrEvent,
    Recording,
    Skill,
    User,
    WorkOrder,
    WorkOrderHistory,
)

SHANGHAI = timezone(timedelta(hours=8))


def flow(version: int = 1, name: str = "main") -> FlowVersion:
    return FlowVersion(
        flow_name=name, version=version, yaml_text="start: hello\n", sha256="a" * 64,
        published_by="admin", published_at=datetime.now(UTC), is_active=False,
    )


async def test_aware_utc_round_trip(db: Database) -> None:
    local = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=SHANGHAI)
    async with db.session() as s:
        s.add(Call(id="1700000000.1", caller_number="13812345678", started_at=local))
        await s.commit()
    async with db.session() as s:
        call = await s.get(Call, "1700000000.1")
        assert call is not None
        assert call.started_at.tzinfo is UTC
        assert call.started_at == local
        assert call.started_at.hour == 1  # 09:30 in Shanghai is 01:30 UTC
        assert call.answered_at is None


async def test_utc_comparison_in_queries(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as s:
        s.add_all([
            Callback(number="13800000001", queue="general", due_at=now - timedelta(minutes=5)),
            Callback(number="13800000002", queue="general", due_at=now + timedelta(minutes=5)),
        ])
        await s.commit()
        due = (await s.scalars(select(Callback).where(Callback.due_at <= now.astimezone(SHANGHAI)))).all()
        assert [c.number for c in due] == ["13800000001"]


async def test_naive_datetime_refused(db: Database) -> None:
    async with db.session() as s:
        s.add(Call(id="naive", started_at=datetime(2026, 1, 1, 8, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            await s.flush()


async def test_json_round_trip_keeps_chinese_text(db: Database) -> None:
    async with db.session() as s:
        s.add(Call(id="c1"))
        s.add(IvrEvent(call_id="c1", seq=1, node_id="menu", event="input", data={"digits": "1", "说明": "社保查询"}))
        s.add(AuditLog(actor="张三", action="flow.publish", target="main", detail={"版本": 3}))
        await s.commit()
    async with db.session() as s:
        ev = (await s.scalars(select(IvrEvent))).one()
        assert ev.data == {"digits": "1", "说明": "社保查询"}
        assert (await s.scalars(select(AuditLog))).one().detail == {"版本": 3}


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(lambda: [User(username="li", password_hash="x"), User(username="li", password_hash="y")], id="username"),
        pytest.param(lambda: [flow(1), flow(1)], id="flow-version"),
        pytest.param(lambda: [Agent(extension="8001", name="a"), Agent(extension="8001", name="b")], id="extension"),
        pytest.param(lambda: [WorkOrder(ticket_no="T1", type="咨询"), WorkOrder(ticket_no="T1", type="投诉")], id="ticket"),
    ],
)
async def test_unique_constraints(db: Database, rows) -> None:
    first, second = rows()
    async with db.session() as s:
        s.add(first)
        await s.commit()
        s.add(second)
        with pytest.raises(IntegrityError):
            await s.commit()


async def test_same_version_number_in_two_flows_is_fine(db: Database) -> None:
    async with db.session() as s:
        s.add_all([flow(1, "main"), flow(1, "12319"), flow(2, "main")])
        await s.commit()
        assert len((await s.scalars(select(FlowVersion))).all()) == 3


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Callback(number="1", queue="q", status="lost"), id="callback-status"),
        pytest.param(lambda: WorkOrder(ticket_no="T9", type="闲聊"), id="work-order-type"),
        pytest.param(lambda: WorkOrder(ticket_no="T9", type="咨询", urgency="很急"), id="urgency"),
        pytest.param(lambda: User(username="u", password_hash="x", role="root"), id="role"),
        pytest.param(
            lambda: IntervalStat(interval_start=datetime.now(UTC), scope_kind="city", scope_name="x"), id="scope"
        ),
    ],
)
async def test_check_constraints(db: Database, make) -> None:
    async with db.session() as s:
        s.add(make())
        with pytest.raises(IntegrityError):
            await s.commit()


async def test_proficiency_between_1_and_10(db: Database) -> None:
    async with db.session() as s:
        s.add_all([Agent(id=1, extension="8001", name="王"), Skill(id=1, name="社保")])
        await s.commit()
        s.add(AgentSkill(agent_id=1, skill_id=1, proficiency=11))
        with pytest.raises(IntegrityError):
            await s.commit()
        await s.rollback()
        s.add(AgentSkill(agent_id=1, skill_id=1, proficiency=10))
        await s.commit()


async def test_deleting_a_call_cascades_to_legs_and_ivr_path(db: Database) -> None:
    async with db.session() as s:
        s.add(Call(id="c1", legs=[CallLeg(channel="PJSIP/trunk-1", uniqueid="c1", role="caller")]))
        s.add(IvrEvent(call_id="c1", seq=1, node_id="welcome", event="enter"))
        await s.commit()
        await s.execute(delete(Call).where(Call.id == "c1"))  # the database's ON DELETE CASCADE, not the ORM
        await s.commit()
        assert (await s.scalars(select(CallLeg))).all() == []
        assert (await s.scalars(select(IvrEvent))).all() == []


async def test_foreign_keys_enforced(db: Database) -> None:
    async with db.session() as s:
        s.add(CallLeg(call_id="missing", channel="PJSIP/x", uniqueid="u1", role="agent"))
        with pytest.raises(IntegrityError):
            await s.commit()


async def test_work_order_delete_keeps_recordings_and_drops_history(db: Database) -> None:
    async with db.session() as s:
        wo = WorkOrder(ticket_no="20260301-0001", type="投诉", urgency="紧急", department="市住建局")
        s.add(wo)
        await s.flush()
        s.add(WorkOrderHistory(work_order_id=wo.id, from_status=None, to_status="accepted", actor="agent1"))
        s.add(Recording(call_id="c1", work_order_id=wo.id, path="2026/03/01/c1.wav", sha256="b" * 64))
        await s.commit()
        await s.execute(delete(WorkOrder))
        await s.commit()
        assert (await s.scalars(select(WorkOrderHistory))).all() == []
        rec = (await s.scalars(select(Recording))).one()
        await s.refresh(rec)
        assert rec.work_order_id is None


async def test_deleting_an_agent_unlinks_user_and_drops_skills(db: Database) -> None:
    async with db.session() as s:
        s.add_all([Agent(id=7, extension="8007", name="赵"), Skill(id=3, name="12319")])
        await s.flush()
        s.add_all([AgentSkill(agent_id=7, skill_id=3, proficiency=8), User(username="zhao", password_hash="x", agent_id=7)])
        await s.commit()
        await s.execute(delete(Agent).where(Agent.id == 7))
        await s.commit()
        assert (await s.scalars(select(AgentSkill))).all() == []
        user = (await s.scalars(select(User))).one()
        await s.refresh(user)
        assert user.agent_id is None


async def test_callbacks_survive_a_restart(db: Database) -> None:
    due = datetime.now(UTC) + timedelta(minutes=10)
    async with db.session() as s:
        s.add(Callback(call_id="c9", number="13912345678", queue="general", priority=5, due_at=due))
        await s.commit()
    await db.dispose()  # the process goes away ...
    again = Database(db.settings, schema=db.schema)  # ... and a new one starts
    try:
        async with again.session() as s:
            cb = (await s.scalars(select(Callback).where(Callback.status == "pending"))).one()
            assert (cb.number, cb.priority, cb.attempts, cb.due_at) == ("13912345678", 5, 0, due)
    finally:
        await again.dispose()


async def test_work_order_updated_at_moves(db: Database) -> None:
    async with db.session() as s:
        wo = WorkOrder(ticket_no="T2", type="求助", created_at=datetime(2026, 1, 1, tzinfo=UTC),
                       updated_at=datetime(2026, 1, 1, tzinfo=UTC))
        s.add(wo)
        await s.commit()
        wo.status = "dispatched"
        await s.commit()
        assert wo.updated_at > datetime(2026, 1, 2, tzinfo=UTC)


def test_flow_versions_columns_are_the_contract() -> None:
    cols = {c.name: c for c in FlowVersion.__table__.columns}
    assert list(cols) == [
        "id", "flow_name", "version", "yaml_text", "sha256", "published_by", "published_at", "is_active", "comment",
    ]
    assert cols["comment"].nullable and not cols["flow_name"].nullable
    assert cols["flow_name"].index


async def test_check_reports_readiness(db: Database) -> None:
    assert await db.check() is True


async def test_check_false_when_unreachable() -> None:
    bad = Database(DatabaseSettings(url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    try:
        assert await bad.check(timeout=2) is False
    finally:
        await bad.dispose()


async def test_sqlite_runs_with_wal_and_foreign_keys(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_every_model_table_exists(db: Database) -> None:
    from hotline.storage.base import Base

    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= names
