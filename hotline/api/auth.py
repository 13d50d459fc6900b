"""Log in (username + password -> bearer token) and who-am-I."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.api.audit import audit
from hotline.api.deps import AppState, CurrentUser, DbSession
from hotline.security import create_access_token, verify_password_async
from hotline.storage.base import utcnow
from hotline.storage.models import User

log = logging.getLogger("hotline.api.auth")

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    role: str


class MeOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: str
    agent_id: int | None


_LOGIN_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": LoginRequest.model_json_schema()},
        "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
    },
}


def _invalid(errors: list[dict]) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e.get("loc", ()))} for e in errors])


async def login_request(request: Request) -> LoginRequest:
    """The credentials, from a JSON body or an OAuth2 password form (application/x-www-form-urlencoded)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if media_type == "application/x-www-form-urlencoded":
        data: object = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
    else:
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise _invalid([{"type": "json_invalid", "loc": (), "msg": "not valid JSON"}]) from None
        if data is None:
            raise _invalid([{"type": "missing", "loc": (), "msg": "send username and password as JSON or a form"}])
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc.errors(include_input=False, include_url=False)) from None


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The active user with this password, or None (same cost whether or not the user exists)."""
    user = await session.scalar(select(User).where(User.username == username))
    ok = await verify_password_async(password, user.password_hash if user else None)
    return user if ok and user is not None and user.active else None


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Exchange username and password for a bearer token",
    openapi_extra={"requestBody": _LOGIN_BODY},
    responses={401: {"description": "Wrong username or password, or account disabled"}},
)
async def login(
    services: AppState, session: DbSession, creds: Annotated[LoginRequest, Depends(login_request)]
) -> TokenOut:
    user = await authenticate(session, creds.username, creds.password)
    if user is None:
        log.warning("login failed for user %s", creds.username)
        await audit(session, creds.username, "auth.login_failed")
        await session.commit()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    token, expires_at = create_access_token(
        services.settings, username=user.username, role=user.role, user_id=user.id, agent_id=user.agent_id
    )
    user.last_login_at = utcnow()
    await audit(session, user.username, "auth.login")
    await session.commit()
    return TokenOut(access_token=token, expires_at=expires_at, role=user.role)


@router.get("/me", response_model=MeOut, summary="The authenticated user")
async def me(user: CurrentUser, session: DbSession) -> MeOut:
    row = await session.get(User, user.user_id)
    assert row is not None  # CurrentUser has just loaded it
    return MeOut(
        user_id=row.id, username=row.username, display_name=row.display_name, role=row.role, agent_id=row.agent_id
    )
