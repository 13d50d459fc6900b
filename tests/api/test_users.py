"""Admin CRUD of users, the audit trail it leaves, and clear validation errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import ApiEnv


async def test_admin_creates_reads_changes_and_deletes_a_user(api: ApiEnv) -> None:
    h = await api.auth_headers("admin", "boss")
    r = await api.client.post(
        "/api/users", headers=h,
        json={"username": "agent01", "password": "first-pass-1", "display_name": "坐席一", "role": "agent"},
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["display_name"] == "坐席一" and "password_hash" not in user and "password" not in user
    assert (await api.client.get(f"/api/users/{user['id']}", headers=h)).json()["username"] == "agent01"

    r = await api.client.patch(
        f"/api/users/{user['id']}", headers=h, json={"role": "supervisor", "password": "second-pass-2"}
    )
    assert r.status_code == 200 and r.json()["role"] == "supervisor"
    login = await api.client.post("/api/auth/login", json={"username": "agent01", "password": "second-pass-2"})
    assert login.status_code == 200 and login.json()["role"] == "supervisor"

    names = [u["username"] for u in (await api.client.get("/api/users", headers=h)).json()]
    assert names == ["agent01", "boss"]
    assert (await api.client.delete(f"/api/users/{user['id']}", headers=h)).status_code == 204
    assert (await api.client.get(f"/api/users/{user['id']}", headers=h)).status_code == 404

    audit = (await api.client.get("/api/audit", headers=h, params={"action": "user."})).json()
    assert [(a["action"], a["actor"], a["target"]) for a in audit] == [
        ("user.delete", "boss", "agent01"), ("user.update", "boss", "agent01"), ("user.create", "boss", "agent01"),
    ]
    assert audit[1]["detail"] == {"role": "supervisor", "password": "changed"}


async def test_duplicate_username_is_409(api: ApiEnv) -> None:
    h = await api.auth_headers("admin")
    body = {"username": "dup", "password": "long-enough"}
    assert (await api.client.post("/api/users", headers=h, json=body)).status_code == 201
    r = await api.client.post("/api/users", headers=h, json=body)
    assert r.status_code == 409 and "already exists" in r.json()["detail"]


async def test_validation_errors_name_field_and_problem_without_echoing_input(api: ApiEnv) -> None:
    h = await api.auth_headers("admin")
    r = await api.client.post("/api/users", headers=h, json={"username": "x y", "password": "pw7xq", "role": "boss"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    msgs = sorted(e["msg"] for e in detail)
    assert msgs[0] == "password: String should have at least 8 characters"
    assert msgs[1].startswith("role: Input should be 'agent', 'supervisor' or 'admin'")
    assert msgs[2].startswith("username: String should match pattern")
    assert all("input" not in e for e in detail)
    assert "pw7xq" not in r.text


async def test_unknown_agent_is_rejected(api: ApiEnv) -> None:
    h = await api.auth_headers("admin")
    r = await api.client.post("/api/users", headers=h, json={"username": "a1", "password": "long-enough", "agent_id": 99})
    assert r.status_code == 422 and r.json()["detail"] == "agent_id: no agent with id 99"


async def test_the_last_admin_cannot_lose_admin_rights(api: ApiEnv) -> None:
    boss = await api.user("boss", "admin")
    h = {"Authorization": f"Bearer {api.token_for(boss)}"}
    r = await api.client.patch(f"/api/users/{boss.id}", headers=h, json={"role": "agent"})
    assert r.status_code == 409
    assert (await api.client.patch(f"/api/users/{boss.id}", headers=h, json={"active": False})).status_code == 409
    assert (await api.client.delete(f"/api/users/{boss.id}", headers=h)).status_code == 409
    other = await api.user("deputy", "admin")
    assert (await api.client.patch(f"/api/users/{other.id}", headers=h, json={"active": False})).status_code == 200


async def test_audit_filters_by_time(api: ApiEnv) -> None:
    h = await api.auth_headers("supervisor")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await api.client.get("/api/audit", headers=h, params={"since": future})
    assert r.status_code == 200 and r.json() == []
    r = await api.client.get("/api/audit", headers=h, params={"since": "2026-01-01T00:00:00"})
    assert r.status_code == 422 and r.json()["detail"][0]["msg"].startswith("since: ")
