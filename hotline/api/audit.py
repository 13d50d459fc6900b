"""The audit trail: a helper every package uses to record actions, and its read API (supervisor+)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.api.deps import DbSession, require_roles
from hotline.storage.base import utcnow
from hotline.storage.models import AuditLog

router = APIRouter(prefix="/api/audit", tags=["audit"])


async def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit entry to the session; it is written when the caller commits."""
    entry = AuditLog(ts=utcnow(), actor=actor, action=action, target=target, detail=detail)
    session.add(entry)
    return entry


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] | None


async def find_audit(
    session: AsyncSession,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditLog]:
    """Newest first, filtered by actor, action (exact, or prefix when it ends with '.') and time range."""
    q = select(AuditLog)
    if actor:
        q = q.where(AuditLog.actor == actor)
    if action:
        q = q.where(AuditLog.action.startswith(action) if action.endswith(".") else AuditLog.action == action)
    if since:
        q = q.where(AuditLog.ts >= since)
    if until:
        q = q.where(AuditLog.ts < until)
    q = q.order_by(AuditLog.ts.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(q)).all())


@router.get(
    "",
    response_model=list[AuditOut],
    dependencies=[Depends(require_roles("supervisor"))],
    summary="Audit entries, newest first",
)
async def list_audit(
    session: DbSession,
    actor: Annotated[str | None, Query(max_length=64, description="Exact actor (username)")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Exact action, or a prefix ending in '.'")] = None,
    since: Annotated[AwareDatetime | None, Query(description="From this time (inclusive, with time zone)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Before this time (with time zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditLog]:
    return await find_audit(
        session, actor=actor, action=action, since=since, until=until, limit=limit, offset=offset
    )
