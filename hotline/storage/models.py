"""The persistent model of the hotline: calls, seats, queues, work orders, flows, users.

Conventions: every timestamp is an aware UTC datetime (:class:`UTCDateTime`);
enumerated values are plain strings checked by the database (the ``StrEnum``
classes below list them); call history refers to agents and queues by name or
extension, not by foreign key, so reconfiguring seats never rewrites history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.storage.base import Base, UTCDateTime, utcnow

__all__ = [
    "AccessLevel",
    "Agent",
    "AgentSkill",
    "AgentState",
    "AgentStateEvent",
    "AuditLog",
    "Base",
    "Call",
    "CallLeg",
    "Callback",
    "CallbackStatus",
    "FlowVersion",
    "Group",
    "Hotline",
    "HotlineMode",
    "IntervalStat",
    "IvrEvent",
    "LegRole",
    "Queue",
    "Recording",
    "Role",
    "ScopeKind",
    "Site",
    "Skill",
    "Transcript",
    "TranscriptSegment",
    "Urgency",
    "User",
    "WorkOrder",
    "WorkOrderHistory",
    "WorkOrderStatus",
    "WorkOrderType",
]


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v.value}'" for v in values) + ")"


class LegRole(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    EXTERNAL = "external"
    CONFERENCE = "conference"


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    WRAPUP = "wrapup"
    BREAK = "break"


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DIALLING = "dialling"
    DONE = "done"
    FAILED = "failed"


class WorkOrderType(StrEnum):
    CONSULTATION = "咨询"
    HELP = "求助"
    COMPLAINT = "投诉"
    SUGGESTION = "建议"
    REPORT = "举报"


class Urgency(StrEnum):
    SUDDEN = "突发"
    URGENT = "紧急"
    ORDINARY = "一般"


class WorkOrderStatus(StrEnum):
    """The closed loop: intake -> dispatch -> sign-for -> handling -> reply -> rating -> call-back -> closed."""

    DRAFT = "draft"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    REPLIED = "replied"
    RATED = "rated"
    REVISITED = "revisited"
    CLOSED = "closed"
    RETURNED = "returned"


class HotlineMode(StrEnum):
    DIRECT_MERGE = "direct_merge"
    CALL_TRANSFER = "call_transfer"
    INTERCONNECTION = "interconnection"


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class AccessLevel(StrEnum):
    NORMAL = "normal"
    RESTRICTED = "restricted"
    CONFIDENTIAL = "confidential"


class ScopeKind(StrEnum):
    QUEUE = "queue"
    GROUP = "group"
    SITE = "site"


# --------------------------------------------------------------------------- calls


class Call(Base):
    """One citizen call, keyed by the Asterisk Linkedid shared by all its legs."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_caller_number", "caller_number"),
        Index("ix_calls_queue_started_at", "queue", "started_at"),
        Index("ix_calls_agent_started_at", "agent", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # Linkedid
    dnis: Mapped[str | None] = mapped_column(String(32))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    caller_name: Mapped[str | None] = mapped_column(String(128))
    hotline: Mapped[str | None] = mapped_column(String(32))  # entry hotline number (12345 or a merged legacy line)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disposition: Mapped[str | None] = mapped_column(String(32))  # answered, abandoned, ivr, transferred, callback, ...
    hangup_cause: Mapped[int | None] = mapped_column(Integer)  # Q.850 cause code
    queue: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(32))  # extension of the agent who answered
    survey_score: Mapped[int | None] = mapped_column(Integer)
    flow_name: Mapped[str | None] = mapped_column(String(128))
    flow_version: Mapped[int | None] = mapped_column(Integer)

    legs: Mapped[list[CallLeg]] = relationship(
        back_populates="call", cascade="all, delete-orphan", passive_deletes=True, order_by="CallLeg.id"
    )
    ivr_events: Mapped[list[IvrEvent]] = relationship(
        back_populates="call", cascade="all, delete-orphan", passive_deletes=True, order_by="IvrEvent.seq"
    )


class CallLeg(Base):
    """One channel of a call (CDR): the caller, an agent, an external party or a conference."""

    __tablename__ = "call_legs"
    __table_args__ = (
        Index("ix_call_legs_call_id", "call_id"),
        CheckConstraint(_in("role", LegRole), name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), ForeignKey("calls.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(128))
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    number: Mapped[str | None] = mapped_column(String(32))  # the other end: caller number, seat extension, dialled number
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)

    call: Mapped[Call] = relationship(back_populates="legs")


class IvrEvent(Base):
    """One step of a caller's path through the IVR flow."""

    __tablename__ = "ivr_events"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(64))  # enter, input, noinput, nomatch, exit, ...
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    call: Mapped[Call] = relationship(back_populates="ivr_events")


# --------------------------------------------------------------------------- seats and queues


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))


class Group(Base):
    """A team of agents (班组), optionally tied to a site."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)

    site: Mapped[Site | None] = relationship()


class Agent(Base):
    """A seat: an extension an agent logs in at."""

    __tablename__ = "agents"
    __table_args__ = (CheckConstraint(_in("state", AgentState), name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    extension: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=AgentState.OFFLINE.value)
    state_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site | None] = relationship()
    group: Mapped[Group | None] = relationship()
    skills: Mapped[list[AgentSkill]] = relationship(
        back_populates="agent", cascade="all, delete-orphan", passive_deletes=True
    )


class Skill(Base):
    __tablename__ = "skills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))


class AgentSkill(Base):
    __tablename__ = "agent_skills"
    __table_args__ = (
        CheckConstraint("proficiency BETWEEN 1 AND 10", name="proficiency"),
        Index("ix_agent_skills_skill_id", "skill_id"),
    )

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    proficiency: Mapped[int] = mapped_column(Integer, default=5)

    agent: Mapped[Agent] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship()


class Queue(Base):
    """A queue the router serves; callers wait in the IVR's hold, not in app_queue."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skills.id", ondelete="SET NULL"), index=True)
    priority_classes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # e.g. [{"name": "enterprise", "priority": 10}]
    wrapup_seconds: Mapped[float] = mapped_column(Float, default=10.0)
    service_level_seconds: Mapped[float] = mapped_column(Float, default=20.0)
    overflow: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    skill: Mapped[Skill | None] = relationship()


class AgentStateEvent(Base):
    __tablename__ = "agent_state_events"
    __table_args__ = (Index("ix_agent_state_events_agent_id_ts", "agent_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(128))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Callback(Base):
    """A call-back the caller asked for instead of waiting; persisted so a restart loses none."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_status_due_at", "status", "due_at"),
        Index("ix_callbacks_call_id", "call_id"),
        CheckConstraint(_in("status", CallbackStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str | None] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(255))


# --------------------------------------------------------------------------- work orders


class WorkOrder(Base):
    """A ticket (工单) and its deadlines along the closed loop."""

    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_call_id", "call_id"),
        Index("ix_work_orders_status_created_at", "status", "created_at"),
        Index("ix_work_orders_department_status", "department", "status"),
        CheckConstraint(_in("type", WorkOrderType), name="type"),
        CheckConstraint(_in("urgency", Urgency), name="urgency"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(32), unique=True)
    call_id: Mapped[str | None] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    caller_name: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(255))
    urgency: Mapped[str] = mapped_column(String(8), default=Urgency.ORDINARY.value)
    department: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=WorkOrderStatus.DRAFT.value)
    sign_for_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reply_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # the caller's post-call survey score (1-5) of the call it came from (the journal writes it when the
    # survey ends; a work order opened after the survey takes the score from its call's row)
    satisfaction: Mapped[int | None] = mapped_column(Integer)

    history: Mapped[list[WorkOrderHistory]] = relationship(
        back_populates="work_order", cascade="all, delete-orphan", passive_deletes=True, order_by="WorkOrderHistory.id"
    )


class WorkOrderHistory(Base):
    __tablename__ = "work_order_history"
    __table_args__ = (Index("ix_work_order_history_work_order_id", "work_order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)

    work_order: Mapped[WorkOrder] = relationship(back_populates="history")


# --------------------------------------------------------------------------- speech and recordings


class Transcript(Base):
    __tablename__ = "transcripts"
    __table_args__ = (Index("ix_transcripts_call_id", "call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(128))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="SET NULL"), index=True)
    language: Mapped[str] = mapped_column(String(16), default="zh-CN")
    model: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    segments: Mapped[list[TranscriptSegment]] = relationship(
        back_populates="transcript", cascade="all, delete-orphan", passive_deletes=True, order_by="TranscriptSegment.seq"
    )


class TranscriptSegment(Base):
    __tablename__ = "transcript_segments"
    __table_args__ = (UniqueConstraint("transcript_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str | None] = mapped_column(String(16))  # caller / agent
    start_sec: Mapped[float] = mapped_column(Float)  # offset from the start of the stream
    end_sec: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)

    transcript: Mapped[Transcript] = relationship(back_populates="segments")


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_call_id", "call_id"),
        Index("ix_recordings_started_at", "started_at"),
        CheckConstraint(_in("access_level", AccessLevel), name="access_level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="SET NULL"), index=True)
    path: Mapped[str] = mapped_column(String(512), unique=True)
    format: Mapped[str] = mapped_column(String(8), default="wav")
    duration: Mapped[float | None] = mapped_column(Float)  # seconds
    size: Mapped[int | None] = mapped_column(Integer)  # bytes
    sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    access_level: Mapped[str] = mapped_column(String(16), default=AccessLevel.NORMAL.value)


# --------------------------------------------------------------------------- flows and hotlines


class FlowVersion(Base):
    """A published version of an IVR flow; the IVR keeps at most one version per flow active."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    yaml_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str | None] = mapped_column(String(255))


class Hotline(Base):
    """A legacy department hotline merged into 12345 and how calls to it are handled."""

    __tablename__ = "hotlines"
    __table_args__ = (CheckConstraint(_in("mode", HotlineMode), name="mode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    department: Mapped[str] = mapped_column(String(128))
    mode: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(64))  # transfer number or interconnection endpoint
    skill: Mapped[str | None] = mapped_column(String(64))  # skill for direct-merge calls


# --------------------------------------------------------------------------- users and audit


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.AGENT.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agent: Mapped[Agent | None] = relationship()


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_ts", "ts"),
        Index("ix_audit_log_actor_ts", "actor", "ts"),
        Index("ix_audit_log_action_ts", "action", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --------------------------------------------------------------------------- statistics


class IntervalStat(Base):
    """15-minute wallboard history for a queue, group or site."""

    __tablename__ = "interval_stats"
    __table_args__ = (
        UniqueConstraint("interval_start", "scope_kind", "scope_name"),
        Index("ix_interval_stats_scope_kind_scope_name_interval_start", "scope_kind", "scope_name", "interval_start"),
        CheckConstraint(_in("scope_kind", ScopeKind), name="scope_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interval_start: Mapped[datetime] = mapped_column(UTCDateTime)
    scope_kind: Mapped[str] = mapped_column(String(8))
    scope_name: Mapped[str] = mapped_column(String(64))
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    answered_within_sl: Mapped[int] = mapped_column(Integer, default=0)
    sum_wait: Mapped[float] = mapped_column(Float, default=0.0)  # seconds
    sum_handle: Mapped[float] = mapped_column(Float, default=0.0)  # seconds
    max_wait: Mapped[float] = mapped_column(Float, default=0.0)  # seconds


@event.listens_for(WorkOrder, "before_insert")
def _satisfaction_from_call(_mapper: Any, connection: Any, order: WorkOrder) -> None:
    """A work order opened after its call's survey ended takes the score the caller gave."""
    if order.satisfaction is None and order.call_id:
        order.satisfaction = connection.scalar(select(Call.survey_score).where(Call.id == order.call_id))
