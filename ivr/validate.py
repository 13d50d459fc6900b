"""Static verification of flows: schema, graph and catalogue checks.

Every problem becomes a :class:`~ivr.loader.FlowError` with file, line and
column. Checks, per flow:

- schema (pydantic): unknown node type, field, missing field, bad values;
- transitions: unknown target, event not allowed on the node type, missing
  ``next``, no way out when retries run out, ``max_visits`` without its
  transition, queue without overflow, transfer without failure;
- graph: start node, unreachable node, a node from which no path ever ends
  the call, a loop none of whose nodes caps its visits;
- menus: duplicate DTMF keys, duplicate keywords, a choice with neither;
- catalogues: unknown prompt, skill, hotline, schedule, flow (goto).

Across files: hotlines.yaml entries must name existing flows, nodes, skills.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from ivr.calendar import Calendar, load_calendar
from ivr.hotlines import HotlineRegistry, load_hotlines, load_skills
from ivr.loader import FlowError, Located, load_model
from ivr.prompts import PromptCatalog, load_prompts
from ivr.schema import (
    NAME_RE,
    AllOf,
    AnyOf,
    BusinessHours,
    CallbackRequestNode,
    CollectNode,
    ConditionNode,
    Flow,
    GotoNode,
    HotlinesFile,
    IdCardRule,
    LengthRule,
    MenuNode,
    NodeBase,
    NotOf,
    PhoneRule,
    QueueNode,
    RangeRule,
    Skill,
    TransferNode,
)

CATALOG_FILES = ("prompts.yaml", "hotlines.yaml", "skills.yaml", "holidays.yaml")
_NAME = re.compile(NAME_RE)


@dataclass(frozen=True)
class Catalog:
    prompts: PromptCatalog
    skills: Mapping[str, Skill]
    hotlines: HotlineRegistry
    calendar: Calendar
    hotlines_located: Located | None = None
    hotlines_model: HotlinesFile | None = None
    #: catalogue files that did not load (their own errors are reported; no cascade of "unknown ...")
    broken: frozenset[str] = frozenset()


def load_catalog(flows_dir: Path, prompts_dir: Path | None = None, tz: str | None = None,
                 check_audio: bool = True) -> tuple[Catalog, list[FlowError]]:
    prompts_dir = prompts_dir or flows_dir / "prompts"
    prompts, e1 = load_prompts(flows_dir / "prompts.yaml", prompts_dir, check_files=check_audio)
    skills, e2 = load_skills(flows_dir / "skills.yaml")
    hotlines, hl_loc, hl_model, e3 = load_hotlines(flows_dir / "hotlines.yaml")
    calendar, e4 = load_calendar(flows_dir / "holidays.yaml", tz)
    # a file that did not load at all: its own errors are reported, the flows' references are not
    broken = frozenset(n for n, empty, errs in (
        ("prompts", not prompts.entries, e1), ("skills", not skills, e2),
        ("hotlines", not hotlines.by_number, e3), ("holidays", not calendar.schedules, e4)) if empty and errs)
    return Catalog(prompts, skills, hotlines, calendar, hl_loc, hl_model, broken), e1 + e2 + e3 + e4


@dataclass(frozen=True)
class ParsedFlow:
    file: str
    text: str
    flow: Flow | None
    located: Located | None
    errors: list[FlowError]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def parse_flow(text: str, file: str) -> ParsedFlow:
    flow, located, errors = load_model(Flow, text, file)
    return ParsedFlow(file, text, flow, located, errors)


# --------------------------------------------------------------------------
# per-flow checks


@dataclass
class _Ctx:
    flow: Flow
    loc: Located
    catalog: Catalog
    flows: Mapping[str, Flow]
    unparsed: frozenset[str] = frozenset()
    errors: list[FlowError] = field(default_factory=list)

    def err(self, where: tuple[Any, ...], message: str, key: bool = False) -> None:
        self.errors.append(self.loc.error(where, message, key=key))


def check_flow(parsed: ParsedFlow, catalog: Catalog, flows: Mapping[str, Flow],
               unparsed: frozenset[str] = frozenset()) -> list[FlowError]:
    """All checks beyond the schema for one parsed flow (``flows``: every flow by name, for goto;
    ``unparsed``: flows that exist but did not parse, already reported on their own)."""
    if parsed.flow is None or parsed.located is None:
        return list(parsed.errors)
    flow, loc = parsed.flow, parsed.located
    c = _Ctx(flow, loc, catalog, flows, unparsed)
    stem = Path(parsed.file).stem
    if flow.name != stem:
        c.err(("name",), f"flow name '{flow.name}' does not match the file name '{stem}'")
    if flow.start not in flow.nodes:
        c.err(("start",), f"start node '{flow.start}' is not a node of this flow")
    for name, node in flow.nodes.items():
        if not _NAME.match(name):
            c.err(("nodes", name), f"node name '{name}' must be letters, digits and _", key=True)
        _check_node(c, name, node)
    if flow.start in flow.nodes:
        _check_graph(c)
    return sorted(set(c.errors))


def _check_node(c: _Ctx, name: str, node: NodeBase) -> None:
    base = ("nodes", name)
    t = node.type
    # transitions
    for where, _ev, target in node.targets():
        if target not in c.flow.nodes:
            c.err(base + where, f"node '{name}': unknown target '{target}'")
    allowed = node.EVENTS | {"max_visits"}
    for ev in node.on:
        if ev not in allowed:
            ok = ", ".join(sorted(allowed))
            c.err(base + ("on", ev), f"node '{name}': event '{ev}' is not allowed on a {t} node (allowed: {ok})", key=True)
    if node.NEEDS_NEXT and node.next is None:
        c.err(base, f"node '{name}': a {t} node needs 'next'", key=True)
    if not node.NEEDS_NEXT and node.next is not None:
        c.err(base + ("next",), f"node '{name}': a {t} node does not take 'next'", key=True)
    if node.max_visits is not None and "max_visits" not in node.on:
        c.err(base + ("max_visits",), f"node '{name}': max_visits is set but on.max_visits is missing", key=True)
    if node.max_visits is None and "max_visits" in node.on:
        c.err(base + ("on", "max_visits"), f"node '{name}': on.max_visits needs max_visits", key=True)
    # prompts
    for where, pid in node.prompt_ids():
        if pid not in c.catalog.prompts and "prompts" not in c.catalog.broken:
            c.err(base + where, f"node '{name}': unknown prompt '{pid}'")
    # per type
    if isinstance(node, (MenuNode, CollectNode)):
        if "failure" not in node.on and not ("noinput" in node.on and "nomatch" in node.on):
            c.err(base, f"node '{name}': no transition for when retries run out (on.failure, or on.noinput and on.nomatch)", key=True)
    if isinstance(node, MenuNode):
        _check_menu(c, name, node)
    if isinstance(node, CollectNode):
        _check_collect(c, name, node)
    if isinstance(node, ConditionNode):
        for i, b in enumerate(node.branches):
            _check_predicate(c, name, b.when, base + ("branches", i, "when"))
    if isinstance(node, QueueNode):
        _check_skill(c, name, node.skill, base + ("skill",))
        if "overflow" not in node.on:
            c.err(base, f"node '{name}': a queue node needs on.overflow (where callers go when no agent takes the call)", key=True)
        if node.callback_offer is not None and "callback" not in node.on:
            c.err(base + ("callback_offer",), f"node '{name}': callback_offer needs on.callback", key=True)
        if node.max_wait is not None and node.callback_offer is not None and node.callback_offer.after >= node.max_wait:
            c.err(base + ("callback_offer", "after"), f"node '{name}': the call-back offer comes after max_wait")
    if isinstance(node, CallbackRequestNode):
        _check_skill(c, name, node.skill, base + ("skill",))
    if isinstance(node, TransferNode):
        if "failure" not in node.on:
            c.err(base, f"node '{name}': a transfer node needs on.failure", key=True)
        kind, value = node.target.kind_value()
        if kind == "hotline":
            h = c.catalog.hotlines.by_number.get(value)
            if h is None and "hotlines" in c.catalog.broken:
                pass
            elif h is None:
                c.err(base + ("target", "hotline"), f"node '{name}': unknown hotline '{value}'")
            elif h.mode != "call_transfer":
                c.err(base + ("target", "hotline"),
                      f"node '{name}': hotline '{value}' is merged as {h.mode}, only call_transfer hotlines take transfers")
    if isinstance(node, GotoNode):
        other = c.flows.get(node.flow)
        if other is None and node.flow in c.unparsed:
            pass
        elif other is None:
            c.err(base + ("flow",), f"node '{name}': unknown flow '{node.flow}'")
        elif node.node is not None and node.node not in other.nodes:
            c.err(base + ("node",), f"node '{name}': flow '{node.flow}' has no node '{node.node}'")


def _check_skill(c: _Ctx, name: str, skill: str, where: tuple[Any, ...]) -> None:
    if skill not in c.catalog.skills and "skills" not in c.catalog.broken:
        c.err(where, f"node '{name}': unknown skill '{skill}'")


def _check_menu(c: _Ctx, name: str, node: MenuNode) -> None:
    base = ("nodes", name)
    keys: dict[str, int] = {}
    words: dict[str, int] = {}
    for i, ch in enumerate(node.choices):
        if ch.key is None and not ch.keywords:
            c.err(base + ("choices", i), f"node '{name}': a choice needs a key or keywords")
        if ch.key is not None:
            if ch.key in keys:
                first = c.loc.pos(base + ("choices", keys[ch.key], "key"))[0]
                c.err(base + ("choices", i, "key"), f"node '{name}': duplicate DTMF key '{ch.key}' (first used at line {first})")
            else:
                keys[ch.key] = i
        for j, w in enumerate(ch.keywords):
            if w in words and words[w] != i:
                c.err(base + ("choices", i, "keywords", j), f"node '{name}': keyword '{w}' is used by two choices")
            words.setdefault(w, i)


def _check_collect(c: _Ctx, name: str, node: CollectNode) -> None:
    base = ("nodes", name, "validate")
    r = node.validate_
    if isinstance(r, RangeRule) and r.min > r.max:
        c.err(base, f"node '{name}': range min {r.min} is above max {r.max}")
    if isinstance(r, LengthRule):
        if r.min > r.max:
            c.err(base, f"node '{name}': length min {r.min} is above max {r.max}")
        elif r.max > node.max_digits:
            c.err(base, f"node '{name}': length max {r.max} is above max_digits {node.max_digits}")
    need = {"id_card": 18, "mobile": 11, "phone": 12, "landline": 12}.get(getattr(r, "kind", ""), 0)
    if isinstance(r, (IdCardRule, PhoneRule)) and node.max_digits < need:
        c.err(("nodes", name, "max_digits"), f"node '{name}': max_digits {node.max_digits} is too short for {r.kind} ({need} digits)")


def _check_predicate(c: _Ctx, name: str, p: Any, where: tuple[Any, ...]) -> None:
    if isinstance(p, BusinessHours):
        if p.business_hours not in c.catalog.calendar.schedules and "holidays" not in c.catalog.broken:
            c.err(where + ("business_hours",), f"node '{name}': unknown schedule '{p.business_hours}'")
    elif isinstance(p, (AllOf, AnyOf)):
        items = p.all if isinstance(p, AllOf) else p.any
        k = "all" if isinstance(p, AllOf) else "any"
        for i, q in enumerate(items):
            _check_predicate(c, name, q, where + (k, i))
    elif isinstance(p, NotOf):
        _check_predicate(c, name, p.not_, where + ("not",))


def _check_graph(c: _Ctx) -> None:
    nodes = c.flow.nodes
    order = list(nodes)
    edges: dict[str, list[str]] = {n: [t for _, _, t in nodes[n].targets() if t in nodes] for n in order}
    # reachability from start
    seen = {c.flow.start}
    stack = [c.flow.start]
    while stack:
        for t in edges[stack.pop()]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    for n in order:
        if n not in seen:
            c.err(("nodes", n), f"node '{n}' is unreachable from start '{c.flow.start}'", key=True)
    # every reachable node must be able to reach an end
    rev: dict[str, list[str]] = {n: [] for n in order}
    for n in order:
        for t in edges[n]:
            rev[t].append(n)
    # a node already reported (unknown target, missing next) counts as an end: no second error for it
    ends = {n for n in order if nodes[n].TERMINAL
            or any(t not in nodes for _, _, t in nodes[n].targets())
            or (nodes[n].NEEDS_NEXT and nodes[n].next is None)}
    can_end = set(ends)
    stack = list(ends)
    while stack:
        for p in rev[stack.pop()]:
            if p not in can_end:
                can_end.add(p)
                stack.append(p)
    for n in order:
        if n in seen and n not in can_end:
            c.err(("nodes", n), f"node '{n}': no path from here ever ends the call", key=True)
    # loops must be capped
    for comp in _sccs(order, edges):
        if len(comp) == 1 and comp[0] not in edges[comp[0]]:
            continue
        if not any(nodes[n].max_visits is not None for n in comp):
            ring = sorted(comp, key=order.index)
            path = " -> ".join(ring + [ring[0]])
            c.err(("nodes", ring[0]), f"loop {path} has no retry cap (set max_visits on one of its nodes)", key=True)


def _sccs(order: list[str], edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    st: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in order:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                st.append(v)
                on.add(v)
            succ = edges[v]
            if i < len(succ):
                work.append((v, i + 1))
                w = succ[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = st.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def check_hotlines(catalog: Catalog, flows: Mapping[str, Flow], unparsed: frozenset[str] = frozenset()) -> list[FlowError]:
    """hotlines.yaml entries against the flows and skills."""
    loc, model = catalog.hotlines_located, catalog.hotlines_model
    if loc is None or model is None:
        return []
    out: list[FlowError] = []
    for i, h in enumerate(model.hotlines):
        f = flows.get(h.flow)
        if f is None and h.flow in unparsed:
            pass
        elif f is None:
            out.append(loc.error(("hotlines", i, "flow"), f"hotline {h.number}: unknown flow '{h.flow}'"))
        elif h.node is not None and h.node not in f.nodes:
            out.append(loc.error(("hotlines", i, "node"), f"hotline {h.number}: flow '{h.flow}' has no node '{h.node}'"))
        if h.skill is not None and h.skill not in catalog.skills:
            out.append(loc.error(("hotlines", i, "skill"), f"hotline {h.number}: unknown skill '{h.skill}'"))
    for ext, fname in model.reentry.items():
        if fname not in flows and fname not in unparsed:
            out.append(loc.error(("reentry", ext), f"re-entry '{ext}': unknown flow '{fname}'"))
    return out


# --------------------------------------------------------------------------
# whole directories


def flow_files(flows_dir: Path) -> list[Path]:
    return sorted(p for p in flows_dir.glob("*.yaml") if p.name not in CATALOG_FILES)


def read_flows(paths: Iterable[Path]) -> list[ParsedFlow]:
    out = []
    for p in paths:
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            out.append(ParsedFlow(str(p), "", None, None, [FlowError(str(p), 1, 1, f"cannot read: {exc.strerror}")]))
            continue
        out.append(parse_flow(text, str(p)))
    return out


def validate_set(parsed: list[ParsedFlow], catalog: Catalog, extra_flows: Mapping[str, Flow] | None = None,
                 with_hotlines: bool = False) -> list[FlowError]:
    """Check each parsed flow against the catalogue and the other flows."""
    flows: dict[str, Flow] = dict(extra_flows or {})
    for p in parsed:
        if p.flow is not None:
            flows[p.flow.name] = p.flow
    unparsed = frozenset(Path(p.file).stem for p in parsed if p.flow is None)
    errors: list[FlowError] = []
    for p in parsed:
        errors += check_flow(p, catalog, flows, unparsed)
    if with_hotlines:
        errors += check_hotlines(catalog, flows, unparsed)
    return errors


def validate_paths(paths: list[Path], flows_dir: Path, prompts_dir: Path | None = None) -> list[FlowError]:
    """What ``flow validate`` prints: every error of the given files (or of the whole flows dir)."""
    catalog, cat_errors = load_catalog(flows_dir, prompts_dir)
    whole = not paths
    files: list[Path] = []
    for p in paths or [flows_dir]:
        files += flow_files(p) if p.is_dir() else [p]
    parsed = read_flows(files)
    given = {Path(p.file).resolve() for p in parsed}
    others = [q for q in read_flows(flow_files(flows_dir)) if Path(q.file).resolve() not in given]
    extra = MappingProxyType({q.flow.name: q.flow for q in others if q.flow is not None})
    errors = validate_set(parsed, catalog, extra, with_hotlines=whole)
    if whole or any(Path(p).resolve().parent == flows_dir.resolve() for p in files):
        errors = cat_errors + errors
    return sorted(set(errors), key=lambda e: (e.file, e.line, e.col, e.message))
