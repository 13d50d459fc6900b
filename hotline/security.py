"""Password hashing (argon2id) and signed access tokens (JWT, HS256).

Hashing is deliberately slow CPU work: async callers use :func:`hash_password_async`
and :func:`verify_password_async`, which run it in a worker thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hotline.settings import Settings

ALGORITHM = "HS256"
ISSUER = "hotline12345"

# PasswordHasher holds only its (immutable) parameters.
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


class RoleRank(IntEnum):
    """agent < supervisor < admin; a higher role passes every check of a lower one."""

    agent = 1
    supervisor = 2
    admin = 3


def role_at_least(role: str, required: str) -> bool:
    try:
        return RoleRank[role] >= RoleRank[required]
    except KeyError:
        return False


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; a missing or malformed hash never matches."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    return await asyncio.to_thread(verify_password, password, password_hash)


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired or lacks a claim; the message says which."""


@dataclass(frozen=True)
class TokenClaims:
    username: str
    role: str
    user_id: int
    agent_id: int | None
    expires_at: datetime


def create_access_token(
    settings: Settings,
    *,
    username: str,
    role: str,
    user_id: int,
    agent_id: int | None = None,
    now: datetime | None = None,
    ttl: float | None = None,
) -> tuple[str, datetime]:
    """A signed token and its expiry (aware UTC); ``ttl`` defaults to settings.http.token_ttl seconds."""
    issued = (now or datetime.now(UTC)).astimezone(UTC)
    expires = issued + timedelta(seconds=settings.http.token_ttl if ttl is None else ttl)
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "sub": username,
        "role": role,
        "uid": user_id,
        "aid": agent_id,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM), expires.replace(microsecond=0)


def decode_access_token(settings: Settings, token: str) -> TokenClaims:
    try:
        data = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    try:
        return TokenClaims(
            username=str(data["sub"]),
            role=str(data["role"]),
            user_id=int(data["uid"]),
            agent_id=None if data.get("aid") is None else int(data["aid"]),
            expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidToken("invalid token: missing or malformed claims") from None
