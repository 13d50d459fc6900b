"""User accounts (admin only): list, create, read, change, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.api.audit import audit
from hotline.api.deps import CurrentUser, DbSession, require_roles
from hotline.security import hash_password_async
from hotline.storage.models import Agent, Role, User

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[Depends(require_roles("admin"))])

RoleName = Literal["agent", "supervisor", "admin"]
USERNAME = r"^[A-Za-z0-9_.@-]+$"


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME)
    password: str = Field(min_length=8, max_length=256)
    display_name: str = Field("", max_length=128)
    role: RoleName = "agent"
    active: bool = True
    agent_id: int | None = None


class UserUpdate(BaseModel):
    password: str | None = Field(None, min_length=8, max_length=256)
    display_name: str | None = Field(None, max_length=128)
    role: RoleName | None = None
    active: bool | None = None
    agent_id: int | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    agent_id: int | None
    created_at: datetime
    last_login_at: datetime | None


def _conflict(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail)


async def _get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user with id {user_id}")
    return user


async def _check_agent(session: AsyncSession, agent_id: int | None) -> None:
    if agent_id is not None and await session.get(Agent, agent_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"agent_id: no agent with id {agent_id}")


async def _other_active_admins(session: AsyncSession, user_id: int) -> int:
    q = select(func.count()).select_from(User).where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user_id)
    return int(await session.scalar(q) or 0)


@router.get("", response_model=list[UserOut], summary="All users")
async def list_users(session: DbSession) -> list[User]:
    return list((await session.scalars(select(User).order_by(User.username))).all())


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Create a user")
async def create_user(body: UserCreate, session: DbSession, actor: CurrentUser) -> User:
    if await session.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise _conflict(f"username {body.username!r} already exists")
    await _check_agent(session, body.agent_id)
    user = User(
        **body.model_dump(exclude={"password"}), password_hash=await hash_password_async(body.password)
    )
    session.add(user)
    await audit(session, actor.username, "user.create", body.username, {"role": body.role})
    await session.commit()
    return user


@router.get("/{user_id}", response_model=UserOut, summary="One user")
async def get_user(user_id: int, session: DbSession) -> User:
    return await _get_user(session, user_id)


@router.patch("/{user_id}", response_model=UserOut, summary="Change a user's role, name, password, seat or status")
async def update_user(user_id: int, body: UserUpdate, session: DbSession, actor: CurrentUser) -> User:
    user = await _get_user(session, user_id)
    changes = body.model_dump(exclude_unset=True)
    losing_admin = changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("active") is False
    if user.role == Role.ADMIN and losing_admin and not await _other_active_admins(session, user.id):
        raise _conflict("this is the last active admin")
    if "agent_id" in changes:
        await _check_agent(session, changes["agent_id"])
    if password := changes.pop("password", None):
        user.password_hash = await hash_password_async(password)
    for key, value in changes.items():
        setattr(user, key, value)
    detail = {k: v for k, v in changes.items()} | ({"password": "changed"} if password else {})
    await audit(session, actor.username, "user.update", user.username, detail)
    await session.commit()
    return user


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user")
async def delete_user(user_id: int, session: DbSession, actor: CurrentUser) -> Response:
    user = await _get_user(session, user_id)
    if user.id == actor.user_id:
        raise _conflict("you cannot delete your own account")
    await session.delete(user)
    await audit(session, actor.username, "user.delete", user.username)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
