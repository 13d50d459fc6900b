import pytest

from router.callbacks import CallbackDesk, MemoryCallbackRepository
from router.engine import Engine
from router.http import router as router_api
from router.models import RoutingConfig
from router.service import RouterService
from router.wallboard import Wallboard

from tests.router.helpers import GROUPS, SITES, FakeClock, agent, standard_queue
from tests.router.test_service import FakeConnector


@pytest.fixture
async def env(api):
    clock = FakeClock()
    holder = {}
    cfg = RoutingConfig(SITES, GROUPS, (agent("1"), agent("2")), (standard_queue(),))
    eng = Engine(cfg, clock, listener=lambda ev: holder["svc"].on_event(ev))
    svc = RouterService(eng, FakeConnector(), CallbackDesk(eng, MemoryCallbackRepository(), clock),
                        Wallboard(eng, clock), clock)
    holder["svc"] = svc
    api.services.extra["router"] = svc
    api.app.include_router(router_api)
    return api, svc


async def test_agent_changes_only_itself(env):
    api, svc = env
    user = await api.user("zhang", "agent", agent_id=None)
    h = {"Authorization": f"Bearer {api.token_for(user)}"}
    r = await api.client.post("/api/agents/1/login", headers=h)
    assert r.status_code == 403
    sup = await api.auth_headers("supervisor")
    r = await api.client.post("/api/agents/1/login", headers=sup)
    assert r.status_code == 200 and r.json()["state"] == "available"
    r = await api.client.post("/api/agents/1/pause", headers=sup, json={"reason": "培训"})
    assert r.json()["state"] == "paused" and r.json()["reason"] == "培训"
    r = await api.client.post("/api/agents/1/pause", headers=sup, json={"reason": ""})
    assert r.status_code == 422
    r = await api.client.post("/api/agents/2/unpause", headers=sup)
    assert r.status_code == 409
    r = await api.client.post("/api/agents/9/login", headers=sup)
    assert r.status_code == 404


async def test_queues_wallboard_erlang(env):
    api, svc = env
    h = await api.auth_headers("agent")
    assert (await api.client.get("/api/queues")).status_code == 401
    r = await api.client.get("/api/queues", headers=h)
    assert r.json()[0]["id"] == "general"
    r = await api.client.get("/api/wallboard", headers=h)
    assert {"queues", "groups", "sites"} <= set(r.json())
    r = await api.client.get("/api/erlang", headers=h,
                             params={"calls": 360, "interval": 1800, "aht": 240, "target": 15, "agents": 55})
    doc = r.json()
    assert round(doc["at_agents"]["p_wait"], 4) == 0.2387 and round(doc["at_agents"]["service_level"], 4) == 0.8459


@pytest.mark.filterwarnings("ignore:Using .httpx. with .starlette.testclient.")
async def test_wallboard_websocket_pushes_snapshots(env):
    import asyncio
    import json

    from starlette.testclient import TestClient

    api, svc = env
    tok = api.token_for(await api.user("wall", "supervisor"))

    def talk():
        with TestClient(api.app) as client:
            with client.websocket_connect(f"/ws/wallboard?token={tok}") as ws:
                first = json.loads(ws.receive_text())
            bad = None
            try:
                with client.websocket_connect("/ws/wallboard?token=nope") as ws:
                    ws.receive_text()
            except Exception as exc:  # closed with 4401
                bad = exc
            return first, bad

    first, bad = await asyncio.to_thread(talk)
    assert first["queues"][0]["id"] == "general"
    assert bad is not None and getattr(bad, "code", None) == 4401
