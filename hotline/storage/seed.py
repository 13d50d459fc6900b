"""Initial data: the first administrator account."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.security import hash_password_async
from hotline.storage.base import utcnow
from hotline.storage.models import AuditLog, Role, User


async def seed_admin(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    only_if_no_admin: bool = False,
    actor: str = "system",
) -> bool:
    """Create ``username`` as an active admin, or reset its password and role; commits.

    With ``only_if_no_admin`` nothing happens when any admin account exists.
    Returns True when something was written.
    """
    if only_if_no_admin:
        if await session.scalar(select(User.id).where(User.role == Role.ADMIN.value).limit(1)) is not None:
            return False
    password_hash = await hash_password_async(password)
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=username, password_hash=password_hash, role=Role.ADMIN.value)
        session.add(user)
        action = "user.create"
    else:
        user.password_hash = password_hash
        user.role = Role.ADMIN.value
        user.active = True
        action = "user.reset_admin"
    session.add(AuditLog(ts=utcnow(), actor=actor, action=action, target=username, detail={"role": "admin"}))
    await session.commit()
    return True
