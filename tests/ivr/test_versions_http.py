"""Publishing, rollback, drafts, diff and the /api/flows endpoints (SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline.storage.db import Database
from hotline.storage.models import AuditLog, FlowVersion
from ivr.bundle import FlowBundle, FlowRegistry
from ivr.validate import Catalog
from ivr.versions import FlowService, PublishRejected
from tests.conftest import ApiEnv

MAIN_V2_FROM = "vars: {request_type: 咨询}"
MAIN_V2_TO = "vars: {request_type: 政策咨询}"


def v2(service: FlowService) -> str:
    text = service.live_texts()["main"]
    assert MAIN_V2_FROM in text
    return text.replace(MAIN_V2_FROM, MAIN_V2_TO)


# --------------------------------------------------------------------------- service


async def test_publish_swaps_the_live_flow_and_audits(sqlite_db: Database, service: FlowService) -> None:
    before = service.registry.current
    async with sqlite_db.session() as s:
        info = await service.publish(s, "main", v2(service), "admin1", "更名")
    assert (info.version, info.is_active, info.published_by) == (1, True, "admin1")
    assert info.published_at.tzinfo is not None
    live = service.registry.current
    assert live is not before and live.flows["main"].version == 1
    assert MAIN_V2_TO in live.flows["main"].text
    assert before.flows["main"].version is None  # the old bundle is untouched (calls in progress)
    async with sqlite_db.session() as s:
        a = (await s.execute(select(AuditLog))).scalars().one()
        assert (a.actor, a.action, a.target) == ("admin1", "flow.publish", "main")
        assert a.detail["version"] == 1 and a.detail["comment"] == "更名"


async def test_invalid_flow_never_replaces_the_live_one(sqlite_db: Database, service: FlowService) -> None:
    before = service.registry.current
    bad = service.live_texts()["main"].replace("next: q_policy", "next: q_polcy")
    async with sqlite_db.session() as s:
        with pytest.raises(PublishRejected) as exc:
            await service.publish(s, "main", bad, "admin1")
    assert [str(e) for e in exc.value.errors] == [
        "main.yaml:48:11: node 'set_consult': unknown target 'q_polcy'",
        "main.yaml:49:3: node 'q_policy' is unreachable from start 'welcome'",
    ]
    assert service.registry.current is before
    async with sqlite_db.session() as s:
        assert (await s.execute(select(FlowVersion))).scalars().all() == []
        assert (await s.execute(select(AuditLog))).scalars().all() == []


async def test_rollback_to_an_earlier_version(sqlite_db: Database, service: FlowService) -> None:
    original = service.live_texts()["main"]
    async with sqlite_db.session() as s:
        await service.publish(s, "main", original, "a1")
        await service.publish(s, "main", v2(service), "a2")
        assert service.registry.current.flows["main"].version == 2
        info = await service.rollback(s, "main", 1, "a3", "back")
    assert info.version == 1 and info.is_active
    assert service.registry.current.flows["main"].text == original
    assert service.registry.current.flows["main"].version == 1
    async with sqlite_db.session() as s:
        versions = await service.versions(s, "main")
        assert [(v.version, v.is_active) for v in versions] == [(2, False), (1, True)]
        actions = [(a.actor, a.action, a.detail["version"]) for a in
                   (await s.execute(select(AuditLog).order_by(AuditLog.id))).scalars()]
        assert actions == [("a1", "flow.publish", 1), ("a2", "flow.publish", 2), ("a3", "flow.rollback", 1)]


async def test_active_versions_are_loaded_at_start(sqlite_db: Database, service: FlowService,
                                                   bundle: FlowBundle, catalog: Catalog, tmp_path: Path) -> None:
    async with sqlite_db.session() as s:
        await service.publish(s, "main", v2(service), "a1")
    fresh = FlowService(FlowRegistry(bundle), catalog, tmp_path / "drafts")
    async with sqlite_db.session() as s:
        b = await fresh.load_active(s)
    assert b.flows["main"].version == 1 and MAIN_V2_TO in b.flows["main"].text
    assert fresh.registry.current is b


async def test_concurrent_publishes_get_distinct_versions(sqlite_db: Database, service: FlowService) -> None:
    async def pub(who: str) -> int:
        async with sqlite_db.session() as s:
            return (await service.publish(s, "survey", service.live_texts()["survey"], who)).version

    got = await asyncio.gather(pub("a"), pub("b"), pub("c"))
    assert sorted(got) == [1, 2, 3]
    async with sqlite_db.session() as s:
        rows = (await s.execute(select(FlowVersion).where(FlowVersion.is_active.is_(True)))).scalars().all()
        assert len(rows) == 1


async def test_draft_and_diff(sqlite_db: Database, service: FlowService) -> None:
    errors = await service.save_draft("main", v2(service))
    assert errors == []
    async with sqlite_db.session() as s:
        d = await service.diff(s, "main", "live", "draft")
    assert f"-    {MAIN_V2_FROM}" in d and f"+    {MAIN_V2_TO}" in d


# --------------------------------------------------------------------------- HTTP


async def test_http_roles(env: ApiEnv) -> None:
    agent = await env.auth_headers("agent")
    sup = await env.auth_headers("supervisor")
    assert (await env.client.get("/api/flows", headers=agent)).status_code == 403
    assert (await env.client.get("/api/flows")).status_code == 401
    r = await env.client.get("/api/flows", headers=sup)
    assert r.status_code == 200
    assert {f["name"] for f in r.json()} == {"main", "after_hours", "survey", "transfer_failed"}
    r = await env.client.put("/api/flows/main/draft", json={"yaml": "name: main"}, headers=sup)
    assert r.status_code == 403


async def test_http_get_flow_with_graph(env: ApiEnv) -> None:
    sup = await env.auth_headers("supervisor")
    r = await env.client.get("/api/flows/survey", headers=sup)
    assert r.status_code == 200
    body = r.json()
    assert body["start"] == "rate"
    assert body["nodes"] == [{"id": "rate", "type": "survey", "title": "", "line": 5},
                             {"id": "bye", "type": "hangup", "title": "", "line": 14}]
    assert body["edges"] == [{"source": "rate", "target": "bye", "event": "next"}]
    assert (await env.client.get("/api/flows/nope", headers=sup)).status_code == 404
    assert (await env.client.get("/api/flows/prompts", headers=sup)).status_code == 404


async def test_http_validate_shows_errors_at_their_line(env: ApiEnv, service: FlowService) -> None:
    sup = await env.auth_headers("supervisor")
    bad = service.live_texts()["survey"].replace("prompt: survey_prompt", "prompt: survey_promt")
    r = await env.client.post("/api/flows/survey/validate", json={"yaml": bad}, headers=sup)
    assert r.status_code == 200
    body = r.json()
    assert (body["ok"], body["errors"]) == (False, [
        {"file": "survey.yaml", "line": 7, "col": 13, "message": "node 'rate': unknown prompt 'survey_promt'"}])
    assert body["start"] == "rate" and [n["id"] for n in body["nodes"]] == ["rate", "bye"]


async def test_http_validate_returns_the_graph_of_the_text(env: ApiEnv, service: FlowService) -> None:
    sup = await env.auth_headers("supervisor")
    text = service.live_texts()["survey"].replace("next: bye", "next: thanks") + (
        "  thanks:\n    type: play\n    title: 致谢\n    prompt: survey_thanks\n    next: bye\n")
    r = await env.client.post("/api/flows/survey/validate", json={"yaml": text}, headers=sup)
    body = r.json()
    assert (body["ok"], body["errors"]) == (True, [])
    # the same shape as GET /api/flows/{name}, for the text sent (nothing saved)
    assert body["start"] == "rate"
    assert body["nodes"] == [{"id": "rate", "type": "survey", "title": "", "line": 5},
                             {"id": "bye", "type": "hangup", "title": "", "line": 14},
                             {"id": "thanks", "type": "play", "title": "致谢", "line": 17}]
    assert body["edges"] == [{"source": "rate", "target": "thanks", "event": "next"},
                             {"source": "thanks", "target": "bye", "event": "next"}]
    got = (await env.client.get("/api/flows/survey", headers=sup)).json()
    assert [n["id"] for n in got["nodes"]] == ["rate", "bye"]
    # a wrong target still draws (the edge points at the missing node); text that does not parse draws nothing
    r = await env.client.post("/api/flows/survey/validate", json={"yaml": text.replace("next: bye", "next: by")},
                              headers=sup)
    assert r.json()["ok"] is False and {"source": "thanks", "target": "by", "event": "next"} in r.json()["edges"]
    r = await env.client.post("/api/flows/survey/validate", json={"yaml": "name: survey\nnodes: [\n"}, headers=sup)
    body = r.json()
    assert body["ok"] is False and body["errors"]
    assert (body["start"], body["nodes"], body["edges"]) == (None, [], [])


async def test_http_draft_publish_diff_rollback(env: ApiEnv, service: FlowService) -> None:
    adm = await env.auth_headers("admin", "chief")
    new = v2(service)
    r = await env.client.put("/api/flows/main/draft", json={"yaml": new}, headers=adm)
    assert r.json() == {"ok": True, "errors": []}
    r = await env.client.get("/api/flows/main/diff", params={"a": "live", "b": "draft"}, headers=adm)
    assert MAIN_V2_TO in r.json()["diff"]
    r = await env.client.post("/api/flows/main/publish", json={"comment": "draft"}, headers=adm)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["published_by"]) == (1, "chief")
    assert MAIN_V2_TO in service.registry.current.flows["main"].text
    bad = new.replace("type: hangup", "type: hang_up", 1)
    r = await env.client.post("/api/flows/main/publish", json={"yaml": bad}, headers=adm)
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"].startswith("node 'callback_done': unknown node type 'hang_up'")
    assert service.registry.current.flows["main"].version == 1
    r = await env.client.post("/api/flows/main/publish", json={"yaml": service.live_texts()["main"].replace(
        MAIN_V2_TO, MAIN_V2_FROM)}, headers=adm)
    assert r.json()["version"] == 2
    r = await env.client.get("/api/flows/main/diff", params={"a": "1", "b": "2"}, headers=adm)
    assert f"-    {MAIN_V2_TO}" in r.json()["diff"]
    r = await env.client.post("/api/flows/main/rollback", json={"version": 1}, headers=adm)
    assert r.status_code == 200 and r.json()["version"] == 1
    assert MAIN_V2_TO in service.registry.current.flows["main"].text
    r = await env.client.get("/api/flows/main/versions", headers=adm)
    assert [(v["version"], v["is_active"]) for v in r.json()] == [(2, False), (1, True)]
    r = await env.client.post("/api/flows/main/rollback", json={"version": 9}, headers=adm)
    assert r.status_code == 404
    r = await env.client.get("/api/flows/main", params={"version": "1"}, headers=adm)
    assert MAIN_V2_TO in r.json()["yaml"]


async def test_http_publish_without_draft_is_404(env: ApiEnv) -> None:
    adm = await env.auth_headers("admin")
    r = await env.client.post("/api/flows/survey/publish", json={}, headers=adm)
    assert r.status_code == 404
    assert "no draft" in r.json()["detail"]




async def test_publish_a_new_flow_and_link_to_it(sqlite_db: Database, service: FlowService) -> None:
    new = "name: tax\nstart: bye\nnodes:\n  bye:\n    type: hangup\n    prompt: goodbye\n"
    async with sqlite_db.session() as s:
        info = await service.publish(s, "tax", new, "a1")
        assert info.version == 1
        linked = service.live_texts()["after_hours"].replace("    flow: main\n    node: callback_number_menu",
                                                            "    flow: tax")
        assert linked != service.live_texts()["after_hours"]
        assert (await service.publish(s, "after_hours", linked, "a1")).version == 1
    assert set(service.registry.current.flows) == {"main", "after_hours", "survey", "transfer_failed", "tax"}


async def test_http_draft_listing_and_view(env: ApiEnv, service: FlowService) -> None:
    adm = await env.auth_headers("admin")
    bad = service.live_texts()["survey"].replace("next: bye", "next: by")
    r = await env.client.put("/api/flows/survey/draft", json={"yaml": bad}, headers=adm)
    assert r.json()["ok"] is False  # an invalid draft is kept, with its errors
    assert r.json()["errors"][0]["message"] == "node 'rate': unknown target 'by'"
    listing = {f["name"]: f for f in (await env.client.get("/api/flows", headers=adm)).json()}
    assert listing["survey"]["has_draft"] and not listing["main"]["has_draft"]
    r = await env.client.get("/api/flows/survey", params={"version": "draft"}, headers=adm)
    assert r.json()["yaml"] == bad
    assert {"source": "rate", "target": "by", "event": "next"} in r.json()["edges"]
    r = await env.client.post("/api/flows/survey/publish", json={}, headers=adm)
    assert r.status_code == 422
    assert service.registry.current.flows["survey"].version is None
