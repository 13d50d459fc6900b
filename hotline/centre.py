"""The centre's seats and queues as validated YAML, loaded into the database.

``hotline centre load deploy/centre.yaml`` (and the demo at start) upserts
sites, groups, skills, seats with their proficiencies and queues with their
routing rules. Errors name the file, the line and what is wrong; nothing is
written unless the whole file is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hotline.storage.db import Database
from hotline.storage import models as m


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteIn(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""


class GroupIn(_Strict):
    name: str = Field(min_length=1, max_length=64)
    site: str


class AgentIn(_Strict):
    extension: str = Field(pattern=r"^\d{2,8}$")
    name: str = Field(min_length=1, max_length=64)
    group: str
    skills: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _prof(self) -> "AgentIn":
        for skill, p in self.skills.items():
            if not 1 <= p <= 10:
                raise ValueError(f"proficiency of {skill} must be 1..10, not {p}")
        return self


class QueueIn(_Strict):
    name: str = Field(min_length=1, max_length=64)
    skill: str
    wrapup: float = Field(10.0, ge=0)
    service_level: float = Field(20.0, gt=0)
    priority_classes: list[dict[str, Any]] = Field(default_factory=list)
    targets: list[dict[str, Any]] = Field(default_factory=list)
    overflow: list[dict[str, Any]] = Field(default_factory=list)
    surge: dict[str, Any] | None = None
    site_caps: dict[str, int] = Field(default_factory=dict)
    callback_offer_wait: float = Field(120.0, ge=0)
    max_wait: float | None = None
    exit_destination: str | None = None
    strategy: str | None = None


class Centre(_Strict):
    sites: list[SiteIn]
    groups: list[GroupIn]
    agents: list[AgentIn]
    queues: list[QueueIn]

    @model_validator(mode="after")
    def _refs(self) -> "Centre":
        sites = {s.name for s in self.sites}
        groups = {g.name for g in self.groups}
        for i, g in enumerate(self.groups):
            if g.site not in sites:
                raise ValueError(f"groups[{i}] ({g.name}): unknown site {g.site!r}")
        seen: set[str] = set()
        for i, a in enumerate(self.agents):
            if a.group not in groups:
                raise ValueError(f"agents[{i}] ({a.extension}): unknown group {a.group!r}")
            if a.extension in seen:
                raise ValueError(f"agents[{i}]: extension {a.extension} appears twice")
            seen.add(a.extension)
        for i, q in enumerate(self.queues):
            for t in [*q.targets, *q.overflow]:
                for g in t.get("groups", []):
                    if g not in groups:
                        raise ValueError(f"queues[{i}] ({q.name}): unknown group {g!r}")
                for s in t.get("sites", []):
                    if s not in sites:
                        raise ValueError(f"queues[{i}] ({q.name}): unknown site {s!r}")
        return self


class CentreError(ValueError):
    pass


def parse_centre(path: Path) -> Centre:
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CentreError(f"{path}: {exc.strerror}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise CentreError(f"{where}: {getattr(exc, 'problem', exc)}") from None
    try:
        return Centre.model_validate(_plain(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err["loc"]
            line = _line_of(data, loc)
            dotted = ".".join(str(p) for p in loc) or "(top level)"
            lines.append(f"{path}:{line}: {dotted}: {err['msg'].removeprefix('Value error, ')}")
        raise CentreError("\n".join(lines)) from None


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line_of(data: Any, loc: tuple[Any, ...]) -> int:
    line, node = 1, data
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
    return line


def _queue_rules(q: QueueIn) -> dict[str, Any]:
    rules: dict[str, Any] = {"targets": q.targets, "overflow": q.overflow, "site_caps": q.site_caps,
                             "callback_offer_wait": q.callback_offer_wait}
    for key in ("surge", "max_wait", "exit_destination", "strategy"):
        v = getattr(q, key)
        if v is not None:
            rules[key] = v
    return rules


async def load_centre(db: Database, centre: Centre) -> dict[str, int]:
    """Upsert the centre into the database (one transaction); returns counts."""
    async with db.transaction() as s:
        sites = {x.name: x for x in (await s.scalars(select(m.Site))).all()}
        for si in centre.sites:
            row = sites.get(si.name) or m.Site(name=si.name)
            row.description = si.description or None
            s.add(row)
            sites[si.name] = row
        await s.flush()
        groups = {x.name: x for x in (await s.scalars(select(m.Group))).all()}
        for gi in centre.groups:
            row = groups.get(gi.name) or m.Group(name=gi.name)
            row.site_id = sites[gi.site].id
            s.add(row)
            groups[gi.name] = row
        skill_names = {k for a in centre.agents for k in a.skills} | {q.skill for q in centre.queues}
        skills = {x.name: x for x in (await s.scalars(select(m.Skill))).all()}
        for name in sorted(skill_names - skills.keys()):
            skills[name] = m.Skill(name=name)
            s.add(skills[name])
        await s.flush()
        agents = {x.extension: x for x in (await s.scalars(select(m.Agent).options(selectinload(m.Agent.skills)))).all()}
        for ai in centre.agents:
            row = agents.get(ai.extension)
            if row is None:
                row = m.Agent(extension=ai.extension, name=ai.name)
                s.add(row)
                await s.flush()
                await s.refresh(row, ["skills"])
            row.name = ai.name
            row.group_id = groups[ai.group].id
            row.site_id = groups[ai.group].site_id
            row.skills = [m.AgentSkill(skill_id=skills[k].id, proficiency=v) for k, v in ai.skills.items()]
        queues = {x.name: x for x in (await s.scalars(select(m.Queue))).all()}
        for qi in centre.queues:
            row = queues.get(qi.name) or m.Queue(name=qi.name)
            row.skill_id = skills[qi.skill].id
            row.wrapup_seconds = qi.wrapup
            row.service_level_seconds = qi.service_level
            row.priority_classes = qi.priority_classes
            row.overflow = _queue_rules(qi)
            s.add(row)
    return {"sites": len(centre.sites), "groups": len(centre.groups), "agents": len(centre.agents), "queues": len(centre.queues)}
