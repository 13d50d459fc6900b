"""POST /api/flows/{name}/simulate: a dry run of one call over HTTP."""

from __future__ import annotations

from ivr.versions import FlowService
from tests.conftest import ApiEnv

POLICY_PATH = ["main.welcome", "main.hours_check", "main.main_menu", "main.set_consult", "main.q_policy"]
CONSULT_FROM = "vars: {request_type: 咨询}"
CONSULT_TO = "vars: {request_type: 政策咨询}"


async def test_dry_run_of_the_live_flows(env: ApiEnv, service: FlowService) -> None:
    sup = await env.auth_headers("supervisor")
    r = await env.client.post("/api/flows/main/simulate", json={"keys": ["1"], "at": "2026-11-23T10:00:00"},
                              headers=sup)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"outcome", "flow", "flow_version", "path", "events", "variables", "agi"}
    assert (body["outcome"], body["flow"], body["flow_version"]) == ("connected", "main", None)
    assert body["path"] == POLICY_PATH
    assert body["variables"]["request_type"] == "咨询" and body["variables"]["agent"] == "8001"
    ev = body["events"]
    assert [e["seq"] for e in ev] == list(range(1, len(ev) + 1))
    assert ev[0] == {"seq": 1, "node": "main.welcome", "event": "enter", "data": {"type": "play"}}
    assert {"seq": ev[-1]["seq"], "node": "main.q_policy", "event": "queue_outcome",
            "data": {"outcome": "connected", "agent": "8001", "reason": ""}} == ev[-1]
    prompts = service.catalog.prompts.prompts_dir.resolve()
    assert body["agi"][0] == f'STREAM FILE {prompts}/welcome "0123456789*#"'
    assert f"GET DATA {prompts}/main_menu 6000 1" in body["agi"]
    assert 'SET VARIABLE HOTLINE_AFTER "survey"' in body["agi"]


async def test_dry_run_of_unsaved_text_leaves_the_live_flow_alone(env: ApiEnv, service: FlowService) -> None:
    sup = await env.auth_headers("supervisor")
    before = service.registry.current
    text = before.flows["main"].text.replace(CONSULT_FROM, CONSULT_TO)
    r = await env.client.post("/api/flows/main/simulate", json={"keys": ["1"], "yaml": text}, headers=sup)
    assert r.status_code == 200, r.text
    assert r.json()["variables"]["request_type"] == "政策咨询"
    assert r.json()["path"] == POLICY_PATH
    assert service.registry.current is before
    # the other flows stay live: a new flow's text can be tried before it is published
    new = "name: tax\nstart: bye\nnodes:\n  bye:\n    type: hangup\n    prompt: goodbye\n"
    r = await env.client.post("/api/flows/tax/simulate", json={"yaml": new}, headers=sup)
    assert r.status_code == 200 and r.json()["path"] == POLICY_PATH[:3] + ["main.q_general"]
    assert "tax" not in service.registry.current.flows


async def test_text_that_does_not_validate_is_refused_like_a_publish(env: ApiEnv, service: FlowService) -> None:
    sup = await env.auth_headers("supervisor")
    adm = await env.auth_headers("admin")
    bad = service.live_texts()["main"].replace("next: q_policy", "next: q_polcy")
    r = await env.client.post("/api/flows/main/simulate", json={"keys": ["1"], "yaml": bad}, headers=sup)
    assert r.status_code == 422
    published = await env.client.post("/api/flows/main/publish", json={"yaml": bad}, headers=adm)
    assert published.status_code == 422
    assert r.json() == published.json()
    assert r.json()["errors"][0] == {"file": "main.yaml", "line": 48, "col": 11,
                                     "message": "node 'set_consult': unknown target 'q_polcy'"}


async def test_a_naive_time_is_the_centres_local_time(env: ApiEnv) -> None:
    sup = await env.auth_headers("supervisor")

    async def path(at: str) -> list[str]:
        r = await env.client.post("/api/flows/main/simulate", json={"keys": ["3"], "at": at}, headers=sup)
        assert r.status_code == 200, r.text
        return r.json()["path"]

    # the enterprise desk is staffed 08:30-17:30 on working days (Asia/Shanghai)
    assert "main.q_enterprise" in await path("2026-11-23T10:00:00")
    assert "main.enterprise_closed" in await path("2026-11-23T19:00:00")
    assert "main.enterprise_closed" in await path("2026-11-23T11:00:00Z")  # 19:00 in Shanghai
    assert "main.q_enterprise" in await path("2026-11-23T10:00:00+08:00")


async def test_without_a_time_the_call_is_placed_now(env: ApiEnv) -> None:
    sup = await env.auth_headers("supervisor")
    # the service's clock stands on a working-day morning: the enterprise desk is open
    r = await env.client.post("/api/flows/main/simulate", json={"keys": ["3"]}, headers=sup)
    assert "main.q_enterprise" in r.json()["path"]


async def test_merged_hotline_speech_and_planned_outcomes(env: ApiEnv) -> None:
    sup = await env.auth_headers("supervisor")
    r = await env.client.post("/api/flows/main/simulate", json={"dnis": "12348", "transfer": ["busy"]}, headers=sup)
    assert r.json()["path"] == ["main.entry_12348", "main.xfer_12348", "main.xfer_failed_12348", "main.q_legal"]
    assert r.json()["variables"]["hotline"] == "12348"
    r = await env.client.post("/api/flows/main/simulate", json={"say": ["我家楼下着火了"]}, headers=sup)
    assert (r.json()["outcome"], r.json()["path"][-1]) == ("emergency", "main.em_119")
    r = await env.client.post("/api/flows/main/simulate",
                              json={"keys": ["0", "1", "hangup"], "queue": ["overflow"]}, headers=sup)
    body = r.json()
    assert body["outcome"] == "caller_hangup"
    assert body["path"][-2:] == ["main.overflow_menu", "main.leave_message"]
    assert body["events"][-1]["event"] == "hangup"
    r = await env.client.post("/api/flows/main/simulate", json={"queue": ["queued"]}, headers=sup)
    assert r.status_code == 422  # not an outcome the queue can have


async def test_the_survey_runs_as_the_dialplans_re_entry(env: ApiEnv) -> None:
    sup = await env.auth_headers("supervisor")
    r = await env.client.post("/api/flows/survey/simulate", json={"keys": ["5"]}, headers=sup)
    body = r.json()
    assert (body["flow"], body["path"]) == ("survey", ["survey.rate", "survey.bye"])
    assert body["variables"]["survey_score"] == 5


async def test_roles_and_unknown_flows(env: ApiEnv) -> None:
    agent = await env.auth_headers("agent")
    sup = await env.auth_headers("supervisor")
    assert (await env.client.post("/api/flows/main/simulate", json={}, headers=agent)).status_code == 403
    assert (await env.client.post("/api/flows/main/simulate", json={})).status_code == 401
    assert (await env.client.post("/api/flows/nope/simulate", json={}, headers=sup)).status_code == 404
    assert (await env.client.post("/api/flows/hotlines/simulate", json={}, headers=sup)).status_code == 404
