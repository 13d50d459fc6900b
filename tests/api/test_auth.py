"""Login, tokens, roles."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select

from hotline.api.deps import require_roles
from hotline.logging import setup_logging
from hotline.security import decode_access_token, hash_password, verify_password
from hotline.storage.models import AuditLog, User

from tests.conftest import ApiEnv


async def test_login_with_json_returns_a_working_token(api: ApiEnv) -> None:
    await api.user("wang", "supervisor", password="correct-horse")
    before = datetime.now(UTC)
    r = await api.client.post("/api/auth/login", json={"username": "wang", "password": "correct-horse"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "supervisor"
    expires = datetime.fromisoformat(body["expires_at"])
    ttl = api.services.settings.http.token_ttl
    assert before + timedelta(seconds=ttl - 5) <= expires <= before + timedelta(seconds=ttl + 5)
    me = await api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "wang" and me.json()["role"] == "supervisor"


async def test_login_with_oauth2_password_form(api: ApiEnv) -> None:
    await api.user("li", password="form-password")
    r = await api.client.post(
        "/api/auth/login", data={"username": "li", "password": "form-password", "grant_type": "password"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "agent"


@pytest.mark.parametrize("username,password", [("zhao", "wrong-password"), ("nobody", "whatever-pass")])
async def test_bad_credentials_are_401(api: ApiEnv, username: str, password: str) -> None:
    await api.user("zhao", password="right-password")
    r = await api.client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    async with api.services.db.session() as s:
        entry = (await s.scalars(select(AuditLog).where(AuditLog.action == "auth.login_failed"))).one()
        assert entry.actor == username


async def test_disabled_user_cannot_log_in(api: ApiEnv) -> None:
    await api.user("qian", password="right-password", active=False)
    r = await api.client.post("/api/auth/login", json={"username": "qian", "password": "right-password"})
    assert r.status_code == 401


async def test_login_validation_names_the_field(api: ApiEnv) -> None:
    r = await api.client.post("/api/auth/login", json={"username": "sun"})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "password"]
    assert err["msg"] == "password: Field required"
    r = await api.client.post("/api/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"][0]["msg"]


async def test_no_token_is_401_with_challenge(api: ApiEnv) -> None:
    r = await api.client.get("/api/auth/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401(api: ApiEnv) -> None:
    user = await api.user("zhou")
    token = api.token_for(user, now=datetime.now(UTC) - timedelta(hours=9), ttl=3600)
    r = await api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "token expired"
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("secret", ["another-secret-key-another-secret-key"])
async def test_foreign_and_garbage_tokens_are_401(api: ApiEnv, secret: str) -> None:
    user = await api.user("wu")
    claims = {"iss": "hotline12345", "sub": "wu", "role": "admin", "uid": user.id, "exp": 4102444800}
    forged = jwt.encode(claims, secret, algorithm="HS256")
    for token in (forged, "garbage", ""):
        r = await api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token


async def test_token_of_a_disabled_user_stops_working(api: ApiEnv) -> None:
    user = await api.user("zheng")
    headers = {"Authorization": f"Bearer {api.token_for(user)}"}
    assert (await api.client.get("/api/auth/me", headers=headers)).status_code == 200
    async with api.services.db.session() as s:
        (await s.get(User, user.id)).active = False
        await s.commit()
    assert (await api.client.get("/api/auth/me", headers=headers)).status_code == 401


async def test_role_comes_from_the_database_not_the_token(api: ApiEnv) -> None:
    user = await api.user("feng", "agent")
    claims = decode_access_token(api.services.settings, api.token_for(user))
    assert claims.role == "agent"
    async with api.services.db.session() as s:
        (await s.get(User, user.id)).role = "supervisor"
        await s.commit()
    r = await api.client.get("/api/audit", headers={"Authorization": f"Bearer {api.token_for(user)}"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "role,audit_status,users_status",
    [("agent", 403, 403), ("supervisor", 200, 403), ("admin", 200, 200)],
)
async def test_roles_are_ordered(api: ApiEnv, role: str, audit_status: int, users_status: int) -> None:
    headers = await api.auth_headers(role)
    assert (await api.client.get("/api/audit", headers=headers)).status_code == audit_status
    assert (await api.client.get("/api/users", headers=headers)).status_code == users_status


def test_require_roles_rejects_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        require_roles("superuser")


def test_password_hashing() -> None:
    h = hash_password("密码-password")
    assert h.startswith("$argon2id$")
    assert verify_password("密码-password", h)
    assert not verify_password("password", h)
    assert not verify_password("x", None)
    assert not verify_password("x", "not-a-hash")


async def test_failed_login_log_masks_a_phone_number(api: ApiEnv) -> None:
    buf = io.StringIO()
    handler = setup_logging("INFO", stream=buf)
    try:
        r = await api.client.post("/api/auth/login", json={"username": "13812345678", "password": "nope-nope"})
        assert r.status_code == 401
    finally:
        logging.getLogger().removeHandler(handler)
    out = buf.getvalue()
    assert "login failed for user 138****5678" in out
    assert "13812345678" not in out
