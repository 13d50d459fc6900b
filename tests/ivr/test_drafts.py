"""Drafts: publishing or rolling back a flow removes its draft; an admin can discard one."""

from __future__ import annotations

from hotline.storage.db import Database
from ivr.versions import FlowService, PublishRejected
from tests.conftest import ApiEnv

FROM = "vars: {request_type: 咨询}"
TO = "vars: {request_type: 政策咨询}"


def edited(service: FlowService) -> str:
    text = service.live_texts()["main"]
    assert FROM in text
    return text.replace(FROM, TO)


async def test_publishing_removes_the_draft(sqlite_db: Database, service: FlowService) -> None:
    await service.save_draft("main", edited(service))
    await service.save_draft("survey", service.live_texts()["survey"])
    async with sqlite_db.session() as s:
        await service.publish(s, "main", edited(service), "a1")
    assert await service.get_draft("main") is None
    assert await service.get_draft("survey") is not None  # other flows' drafts stay


async def test_publishing_other_text_removes_the_draft_too(sqlite_db: Database, service: FlowService) -> None:
    await service.save_draft("main", edited(service))
    async with sqlite_db.session() as s:
        await service.publish(s, "main", service.live_texts()["main"], "a1")
    assert await service.get_draft("main") is None


async def test_a_refused_publish_keeps_the_draft(sqlite_db: Database, service: FlowService) -> None:
    bad = edited(service).replace("next: q_policy", "next: q_polcy")
    await service.save_draft("main", bad)
    async with sqlite_db.session() as s:
        try:
            await service.publish(s, "main", bad, "a1")
        except PublishRejected:
            pass
        else:
            raise AssertionError("a flow that does not validate was published")
    assert await service.get_draft("main") == bad


async def test_rolling_back_removes_the_draft(sqlite_db: Database, service: FlowService) -> None:
    original = service.live_texts()["main"]
    v2 = edited(service)
    async with sqlite_db.session() as s:
        await service.publish(s, "main", original, "a1")
        await service.publish(s, "main", v2, "a1")
        await service.save_draft("main", v2 + "\n# more\n")
        await service.rollback(s, "main", 1, "a1")
    assert await service.get_draft("main") is None


async def test_http_discard_draft(env: ApiEnv, service: FlowService) -> None:
    adm = await env.auth_headers("admin")
    sup = await env.auth_headers("supervisor")
    await env.client.put("/api/flows/main/draft", json={"yaml": edited(service)}, headers=adm)
    listing = {f["name"]: f["has_draft"] for f in (await env.client.get("/api/flows", headers=adm)).json()}
    assert listing == {"main": True, "after_hours": False, "survey": False, "transfer_failed": False}
    assert (await env.client.delete("/api/flows/main/draft", headers=sup)).status_code == 403
    r = await env.client.delete("/api/flows/main/draft", headers=adm)
    assert r.status_code == 204 and r.content == b""
    assert await service.get_draft("main") is None
    listing = {f["name"]: f["has_draft"] for f in (await env.client.get("/api/flows", headers=adm)).json()}
    assert not any(listing.values())
    r = await env.client.delete("/api/flows/main/draft", headers=adm)
    assert r.status_code == 404 and "no draft" in r.json()["detail"]
    assert (await env.client.get("/api/flows/main", params={"version": "draft"}, headers=adm)).status_code == 404
    assert (await env.client.delete("/api/flows/skills/draft", headers=adm)).status_code == 404
    assert service.live_texts()["main"] != edited(service)  # the live flow is untouched


async def test_http_publish_from_the_draft_clears_it(env: ApiEnv, service: FlowService) -> None:
    adm = await env.auth_headers("admin")
    await env.client.put("/api/flows/main/draft", json={"yaml": edited(service)}, headers=adm)
    r = await env.client.post("/api/flows/main/publish", json={"comment": "from the draft"}, headers=adm)
    assert r.status_code == 200, r.text
    assert TO in service.live_texts()["main"]
    listing = {f["name"]: f["has_draft"] for f in (await env.client.get("/api/flows", headers=adm)).json()}
    assert listing["main"] is False
    r = await env.client.post("/api/flows/main/publish", json={}, headers=adm)
    assert r.status_code == 404  # nothing left to publish from
