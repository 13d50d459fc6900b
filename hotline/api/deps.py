"""Dependencies shared by every router: database session, caller identity, roles, services.

    @router.get("/things", response_model=list[ThingOut])
    async def list_things(session: DbSession, user: CurrentUser) -> list[ThingOut]: ...

    @router.post("/things", dependencies=[Depends(require_roles("supervisor"))])

Roles are ordered agent < supervisor < admin: ``require_roles("supervisor")``
admits supervisors and admins; ``require_roles("agent")`` admits every user.
WebSockets authenticate with :func:`websocket_principal` (``?token=`` query or
bearer header) *before* accepting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, WebSocket, WebSocketException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.api.app import AppServices
from hotline.security import InvalidToken, RoleRank, decode_access_token, role_at_least
from hotline.storage.models import User

WS_UNAUTHORIZED = 4401

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the authenticated user, as the token and the users table say."""

    username: str
    role: str
    user_id: int
    agent_id: int | None = None

    def has_role(self, *roles: str) -> bool:
        return any(role_at_least(self.role, r) for r in roles)


def get_services(conn: HTTPConnection) -> AppServices:
    return conn.app.state.services


async def get_session(conn: HTTPConnection) -> AsyncIterator[AsyncSession]:
    """One session per request (or WebSocket); handlers commit what they change."""
    async with conn.app.state.services.db.session() as session:
        yield session


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticate_token(services: Any, session: AsyncSession, token: str | None) -> Principal:
    """Check a token and that its user still exists and is active; raises ValueError with the reason."""
    if not token:
        raise ValueError("not authenticated")
    try:
        claims = decode_access_token(services.settings, token)
    except InvalidToken as exc:
        raise ValueError(str(exc)) from None
    user = await session.get(User, claims.user_id)
    if user is None or not user.active or user.username != claims.username:
        raise ValueError("user unknown or disabled")
    return Principal(username=user.username, role=user.role, user_id=user.id, agent_id=user.agent_id)


async def get_current_principal(
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        return await authenticate_token(
            request.app.state.services, session, credentials.credentials if credentials else None
        )
    except ValueError as exc:
        raise _unauthorized(str(exc)) from None


DbSession = Annotated[AsyncSession, Depends(get_session)]
CurrentUser = Annotated[Principal, Depends(get_current_principal)]
AppState = Annotated[AppServices, Depends(get_services)]


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting users whose role is at least one of ``roles`` (admin passes every check)."""
    unknown = [r for r in roles if r not in RoleRank.__members__]
    if unknown or not roles:
        raise ValueError(f"unknown roles {unknown or roles!r}; use agent, supervisor or admin")

    async def check(user: CurrentUser) -> Principal:
        if not user.has_role(*roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"requires role {' or '.join(roles)}")
        return user

    return check


async def websocket_principal(websocket: WebSocket) -> Principal:
    """Authenticate a WebSocket before accepting it; an invalid token closes it with code 4401."""
    token = websocket.query_params.get("token")
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    services = websocket.app.state.services
    try:
        async with services.db.session() as session:
            return await authenticate_token(services, session, token)
    except ValueError as exc:
        # Accept first so the client sees the 4401 close code rather than a failed handshake.
        await websocket.accept()
        raise WebSocketException(code=WS_UNAUTHORIZED, reason=str(exc)) from None
