"""/api/flows: list, view, edit drafts, validate, dry-run, diff, publish and roll back flows.

Reading needs a supervisor, changing needs an admin. Validation errors come
back with line and column so the editor can mark them. The service is the
:class:`~ivr.versions.FlowService` the composition root puts at
``app.state.services.extra["flows"]``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hotline.api.deps import CurrentUser, DbSession, require_roles
from ivr.loader import FlowError
from ivr.simulate import SimulationResult
from ivr.validate import parse_flow
from ivr.versions import FlowNotFound, FlowService, PublishRejected, VersionInfo

router = APIRouter(prefix="/api/flows", tags=["flows"])

Reader = Depends(require_roles("supervisor"))
Admin = Depends(require_roles("admin"))


def get_flow_service(request: Request) -> FlowService:
    svc = request.app.state.services.extra.get("flows")
    if svc is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="flow service not configured")
    return svc


Flows = Annotated[FlowService, Depends(get_flow_service)]


class ErrorOut(BaseModel):
    file: str
    line: int
    col: int
    message: str


class VersionOut(BaseModel):
    flow_name: str
    version: int
    sha256: str
    published_by: str
    published_at: datetime
    is_active: bool
    comment: str | None


class FlowSummary(BaseModel):
    name: str
    description: str
    version: int | None
    sha256: str
    nodes: int
    has_draft: bool


class GraphNode(BaseModel):
    id: str
    type: str
    title: str
    line: int


class GraphEdge(BaseModel):
    source: str
    target: str
    event: str


class FlowOut(BaseModel):
    name: str
    version: str
    yaml: str
    start: str | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    errors: list[ErrorOut]


class YamlIn(BaseModel):
    yaml: str = Field(max_length=1_000_000)


class ValidateOut(BaseModel):
    ok: bool
    errors: list[ErrorOut]


class CheckOut(ValidateOut):
    """Validation with the graph of the text, when it parses (start None and no nodes otherwise)."""

    start: str | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class PublishIn(BaseModel):
    yaml: str | None = Field(None, max_length=1_000_000, description="default: the saved draft")
    comment: str | None = Field(None, max_length=255)


class RollbackIn(BaseModel):
    version: int = Field(ge=1)
    comment: str | None = Field(None, max_length=255)


Key = Annotated[str, Field(max_length=64)]
Utterance = Annotated[str, Field(max_length=500)]


class SimulateIn(BaseModel):
    dnis: str = Field("12345", min_length=1, max_length=32, description="the dialled number")
    keys: list[Key] = Field(default_factory=list, max_length=200,
                            description='one entry per prompt that takes keys: "1", "13800138000"; '
                                        '"" is silence, "hangup" hangs up there')
    say: list[Utterance] = Field(default_factory=list, max_length=50, description="recognised speech, in order")
    yaml: str | None = Field(None, max_length=1_000_000,
                             description="unsaved text of this flow, used instead of the live one")
    at: datetime | None = Field(None, description="time of the call; without a zone, the centre's local time; "
                                                  "default: now")
    caller: str = Field("13800138000", min_length=1, max_length=32)
    queue: list[Literal["connected", "overflow", "callback", "hangup", "wait"]] = Field(
        default_factory=list, max_length=20, description="how each queue wait ends, in order (default: connected)")
    transfer: list[Literal["answered", "busy", "noanswer", "failed", "caller_hangup"]] = Field(
        default_factory=list, max_length=20, description="how each transfer ends, in order (default: answered)")


class SimEventOut(BaseModel):
    seq: int
    node: str
    event: str
    data: dict[str, Any] | None


class SimulateOut(BaseModel):
    outcome: str
    flow: str
    flow_version: int | None
    path: list[str]
    events: list[SimEventOut]
    variables: dict[str, Any]
    agi: list[str] = Field(description="the AGI commands sent to the caller's channel, in order")


class DiffOut(BaseModel):
    a: str
    b: str
    diff: str


def _errors(errors: list[FlowError]) -> list[ErrorOut]:
    return [ErrorOut(**e.as_dict()) for e in errors]


def _version(v: VersionInfo) -> VersionOut:
    return VersionOut(**v.__dict__)


def _rejected(exc: PublishRejected) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": "the flow does not validate",
                                                  "errors": [e.as_dict() for e in exc.errors]})


def _simulation(r: SimulationResult) -> SimulateOut:
    s = r.summary
    return SimulateOut(outcome=s.outcome, flow=s.flow, flow_version=s.flow_version, path=list(s.ivr_path),
                       events=[SimEventOut(seq=e.seq, node=e.node_id, event=e.event,
                                           data=dict(e.data) if e.data is not None else None)
                               for e in r.recorder.events],
                       variables=dict(s.variables), agi=list(r.agi.commands))


def graph(name: str, text: str) -> tuple[str | None, list[GraphNode], list[GraphEdge], list[FlowError]]:
    """Nodes (with their line) and edges of a flow text, for drawing it."""
    parsed = parse_flow(text, f"{name}.yaml")
    if parsed.flow is None or parsed.located is None:
        return None, [], [], parsed.errors
    loc = parsed.located
    nodes = [GraphNode(id=n, type=node.type, title=node.title, line=loc.pos(("nodes", n), key=True)[0])
             for n, node in parsed.flow.nodes.items()]
    edges = [GraphEdge(source=n, target=t, event=ev) for n, node in parsed.flow.nodes.items()
             for _, ev, t in node.targets()]
    return parsed.flow.start, nodes, edges, []


@router.get("", response_model=list[FlowSummary], dependencies=[Reader])
async def list_flows(flows: Flows) -> list[FlowSummary]:
    out = []
    for name, f in sorted(flows.registry.current.flows.items()):
        out.append(FlowSummary(name=name, description=f.flow.description, version=f.version, sha256=f.sha256,
                               nodes=len(f.flow.nodes), has_draft=await flows.get_draft(name) is not None))
    return out


@router.get("/{name}", response_model=FlowOut, dependencies=[Reader])
async def get_flow(name: str, flows: Flows, session: DbSession,
                   version: Annotated[str, Query(description="a version number, live or draft")] = "live") -> FlowOut:
    try:
        text = await flows.text(session, name, version)
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    start, nodes, edges, errors = await asyncio.to_thread(graph, name, text)  # parsing is CPU work
    return FlowOut(name=name, version=version, yaml=text, start=start, nodes=nodes, edges=edges,
                   errors=_errors(errors))


@router.get("/{name}/versions", response_model=list[VersionOut], dependencies=[Reader])
async def list_versions(name: str, flows: Flows, session: DbSession) -> list[VersionOut]:
    try:
        return [_version(v) for v in await flows.versions(session, name)]
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None


@router.put("/{name}/draft", response_model=ValidateOut, dependencies=[Admin])
async def save_draft(name: str, body: YamlIn, flows: Flows) -> ValidateOut:
    try:
        errors = await flows.save_draft(name, body.yaml)
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    return ValidateOut(ok=not errors, errors=_errors(errors))


@router.delete("/{name}/draft", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Admin],
               responses={404: {"description": "the flow has no draft"}})
async def discard_draft(name: str, flows: Flows) -> None:
    try:
        if not await flows.discard_draft(name):
            raise FlowNotFound(f"no draft of {name!r}")
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None


@router.post("/{name}/validate", response_model=CheckOut, dependencies=[Reader])
async def validate_flow(name: str, body: YamlIn, flows: Flows) -> CheckOut:
    try:
        errors = await flows.validate(name, body.yaml)
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    start, nodes, edges, _ = await asyncio.to_thread(graph, name, body.yaml)  # parsing is CPU work
    return CheckOut(ok=not errors, errors=_errors(errors), start=start, nodes=nodes, edges=edges)


@router.post("/{name}/simulate", response_model=SimulateOut, dependencies=[Reader],
             responses={422: {"description": "the given text does not validate; errors with line and column"}})
async def simulate_flow(name: str, body: SimulateIn, flows: Flows) -> Any:
    """Dry run of one call; nothing is dialled, queued or stored."""
    try:
        result = await flows.simulate(name, body.yaml, dnis=body.dnis, keys=body.keys, say=body.say, at=body.at,
                                      caller=body.caller, queue=list(body.queue), transfer=list(body.transfer))
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except PublishRejected as exc:
        return _rejected(exc)
    return _simulation(result)


@router.get("/{name}/diff", response_model=DiffOut, dependencies=[Reader])
async def diff_flow(name: str, flows: Flows, session: DbSession,
                    a: Annotated[str, Query(description="version number, live or draft")] = "live",
                    b: Annotated[str, Query(description="version number, live or draft")] = "draft") -> DiffOut:
    try:
        return DiffOut(a=a, b=b, diff=await flows.diff(session, name, a, b))
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None


@router.post("/{name}/publish", response_model=VersionOut, dependencies=[Admin],
             responses={422: {"description": "the flow does not validate; errors with line and column"}})
async def publish_flow(name: str, body: PublishIn, flows: Flows, session: DbSession, user: CurrentUser) -> Any:
    try:
        text = body.yaml if body.yaml is not None else await flows.text(session, name, "draft")
        return _version(await flows.publish(session, name, text, user.username, body.comment))
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except PublishRejected as exc:
        return _rejected(exc)


@router.post("/{name}/rollback", response_model=VersionOut, dependencies=[Admin],
             responses={422: {"description": "that version no longer validates"}})
async def rollback_flow(name: str, body: RollbackIn, flows: Flows, session: DbSession, user: CurrentUser) -> Any:
    try:
        return _version(await flows.rollback(session, name, body.version, user.username, body.comment))
    except FlowNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except PublishRejected as exc:
        return _rejected(exc)

