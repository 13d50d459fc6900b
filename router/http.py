"""HTTP and WebSocket edge of the router.

    POST /api/agents/{id}/login | logout | pause | unpause | ready   (an agent may change only itself)
    GET  /api/agents, /api/agents/{id}/state, /api/queues, /api/wallboard, /api/erlang
    WS   /ws/wallboard (token in ?token=), pushing a snapshot every second
         (the wall page itself is hotline/web's /wallboard)

The RouterService is found at ``app.state.services.extra["router"]`` (set by the composition root).
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel, Field

from hotline.api.deps import AppState, CurrentUser, Principal, require_roles, websocket_principal
from router.cli import advise
from router.engine import RoutingError
from router.service import RouterService

router = APIRouter(tags=["router"])

PUSH_EVERY = 1.0


def get_router_service(services: AppState) -> RouterService:
    svc = getattr(services, "router", None) or services.extra.get("router")
    if svc is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="router not running")
    return svc


Router = Annotated[RouterService, Depends(get_router_service)]


class PauseIn(BaseModel):
    reason: str = Field(..., min_length=1, max_length=120)


class LoginIn(BaseModel):
    paused_reason: Optional[str] = Field(None, max_length=120)


class AgentOut(BaseModel):
    id: str
    seat: str
    group: str
    site: str
    state: str
    reason: str
    since: float
    call_id: Optional[str] = None
    pending: Optional[str] = None
    skills: dict[str, int]


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def _agent_out(svc: RouterService, agent_id: str) -> AgentOut:
    try:
        seat = svc.engine.seats.get(agent_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown agent {agent_id}") from None
    a = seat.agent
    return AgentOut(id=a.id, seat=a.seat, group=a.group_id, site=a.site_id, state=seat.state.value,
                    reason=seat.reason, since=seat.since, call_id=seat.call_id,
                    pending=f"{seat.pending[0]}: {seat.pending[1]}" if seat.pending else None, skills=dict(a.skills))


def _may_change(user: Principal, agent_id: str) -> None:
    if user.has_role("supervisor"):
        return
    if user.agent_id is None or str(user.agent_id) != agent_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="agents may only change their own state")


def _do(fn: Any, *args: Any) -> None:
    svc: RouterService = fn.__self__
    if args[0] not in svc.engine.seats.by_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown agent {args[0]}")
    try:
        fn(*args)
    except RoutingError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.get("/api/agents", response_model=list[AgentOut])
async def list_agents(svc: Router, user: CurrentUser) -> list[AgentOut]:
    return [_agent_out(svc, aid) for aid in svc.engine.seats.by_id]


@router.get("/api/agents/{agent_id}/state", response_model=AgentOut)
async def agent_state(agent_id: str, svc: Router, user: CurrentUser) -> AgentOut:
    return _agent_out(svc, agent_id)


@router.post("/api/agents/{agent_id}/login", response_model=AgentOut)
async def login(agent_id: str, svc: Router, user: CurrentUser, body: Optional[LoginIn] = None) -> AgentOut:
    _may_change(user, agent_id)
    _do(svc.login, agent_id, body.paused_reason if body else None)
    return _agent_out(svc, agent_id)


@router.post("/api/agents/{agent_id}/logout", response_model=AgentOut)
async def logout(agent_id: str, svc: Router, user: CurrentUser) -> AgentOut:
    _may_change(user, agent_id)
    _do(svc.logout, agent_id)
    return _agent_out(svc, agent_id)


@router.post("/api/agents/{agent_id}/pause", response_model=AgentOut)
async def pause(agent_id: str, body: PauseIn, svc: Router, user: CurrentUser) -> AgentOut:
    _may_change(user, agent_id)
    _do(svc.pause, agent_id, body.reason)
    return _agent_out(svc, agent_id)


@router.post("/api/agents/{agent_id}/unpause", response_model=AgentOut)
async def unpause(agent_id: str, svc: Router, user: CurrentUser) -> AgentOut:
    _may_change(user, agent_id)
    _do(svc.unpause, agent_id)
    return _agent_out(svc, agent_id)


@router.post("/api/agents/{agent_id}/ready", response_model=AgentOut)
async def ready(agent_id: str, svc: Router, user: CurrentUser) -> AgentOut:
    _may_change(user, agent_id)
    _do(svc.ready, agent_id)
    return _agent_out(svc, agent_id)


@router.get("/api/queues")
async def queues(svc: Router, user: CurrentUser) -> list[dict[str, Any]]:
    snap = svc.wallboard.snapshot()
    return _json_safe([{k: q[k] for k in ("id", "name", "waiting", "waiting_by_class", "callbacks_pending",
                                          "longest_wait", "ewt", "staffed", "surge", "modes")} for q in snap["queues"]])


@router.get("/api/wallboard", dependencies=[Depends(require_roles("agent"))])
async def wallboard(svc: Router) -> dict[str, Any]:
    return _json_safe(svc.wallboard.snapshot())


@router.get("/api/erlang", dependencies=[Depends(require_roles("agent"))])
async def erlang(
    calls: Annotated[float, Query(ge=0)],
    aht: Annotated[float, Query(gt=0, description="seconds")],
    interval: Annotated[float, Query(gt=0, description="seconds")] = 1800.0,
    target: Annotated[float, Query(gt=0)] = 20.0,
    goal: Annotated[float, Query(gt=0, lt=1)] = 0.8,
    patience: Annotated[Optional[float], Query(gt=0)] = None,
    agents: Annotated[Optional[int], Query(ge=1, le=100_000)] = None,
    max_asa: Annotated[Optional[float], Query(gt=0)] = None,
    max_abandon: Annotated[Optional[float], Query(gt=0, lt=1)] = None,
) -> dict[str, Any]:
    try:
        res = await asyncio.to_thread(advise, calls, interval, aht, target, goal, patience, agents, max_asa, max_abandon)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=str(exc)) from None
    return _json_safe(res)


@router.websocket("/ws/wallboard")
async def wallboard_ws(websocket: WebSocket) -> None:
    await websocket_principal(websocket)
    await websocket.accept()
    services = websocket.app.state.services
    svc = getattr(services, "router", None) or services.extra.get("router")
    if svc is None:
        await websocket.close(code=1013, reason="router not running")
        return
    try:
        while True:
            await websocket.send_text(json.dumps(_json_safe(svc.wallboard.snapshot()), ensure_ascii=False))
            await asyncio.sleep(PUSH_EVERY)
    except (WebSocketDisconnect, RuntimeError):
        return
