"""Compiled flows and the live registry.

A :class:`FlowBundle` is an immutable snapshot: every flow (validated), the
catalogues, and the published version of each flow. The
:class:`FlowRegistry` holds the live bundle; publishing swaps it in one
assignment, so a new call takes the new bundle while calls in progress keep
the one they started with (a session holds a reference to its bundle).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ivr.loader import FlowError
from ivr.schema import Flow, MenuNode
from ivr.validate import Catalog, flow_files, load_catalog, parse_flow, validate_set


@dataclass(frozen=True)
class CompiledMenu:
    keys: Mapping[str, str]  # DTMF key -> target
    keywords: tuple[tuple[str, str], ...]  # (normalised keyword, target), longest first
    escape: str  # keys for STREAM FILE / GET DATA barge-in


@dataclass(frozen=True)
class CompiledFlow:
    name: str
    flow: Flow
    text: str
    sha256: str
    version: int | None
    menus: Mapping[str, CompiledMenu]


@dataclass(frozen=True)
class FlowBundle:
    flows: Mapping[str, CompiledFlow]
    catalog: Catalog

    def version_of(self, name: str) -> int | None:
        f = self.flows.get(name)
        return f.version if f else None


_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """For keyword matching: NFKC, lower case, no spaces or punctuation."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def _compile_menu(node: MenuNode) -> CompiledMenu:
    keys = {c.key: c.next for c in node.choices if c.key is not None}
    kws = [(normalise_text(k), c.next) for c in node.choices for k in c.keywords]
    kws.sort(key=lambda kv: -len(kv[0]))
    return CompiledMenu(MappingProxyType(keys), tuple(kws), "".join(keys))


def compile_flow(flow: Flow, text: str, version: int | None) -> CompiledFlow:
    menus = {n: _compile_menu(node) for n, node in flow.nodes.items() if isinstance(node, MenuNode)}
    return CompiledFlow(flow.name, flow, text, hashlib.sha256(text.encode("utf-8")).hexdigest(), version,
                        MappingProxyType(menus))


def build_bundle(texts: Mapping[str, str], catalog: Catalog, versions: Mapping[str, int | None] | None = None,
                 file_of: Mapping[str, str] | None = None) -> tuple[FlowBundle | None, list[FlowError]]:
    """Validate every flow text together (goto targets, hotlines) and compile them."""
    file_of = file_of or {}
    parsed = [parse_flow(t, file_of.get(n, f"{n}.yaml")) for n, t in texts.items()]
    errors = validate_set(parsed, catalog, with_hotlines=True)
    if errors:
        return None, errors
    versions = versions or {}
    flows = {}
    for p in parsed:
        assert p.flow is not None
        flows[p.flow.name] = compile_flow(p.flow, p.text, versions.get(p.flow.name))
    return FlowBundle(MappingProxyType(flows), catalog), []


def load_dir_bundle(flows_dir: Path, prompts_dir: Path | None = None, tz: str | None = None,
                    check_audio: bool = True) -> tuple[FlowBundle | None, list[FlowError]]:
    """The bundle of the flow files on disk (first start, CLI, simulator)."""
    catalog, errors = load_catalog(flows_dir, prompts_dir, tz, check_audio=check_audio)
    texts: dict[str, str] = {}
    files: dict[str, str] = {}
    for p in flow_files(flows_dir):
        texts[p.stem] = p.read_text(encoding="utf-8")
        files[p.stem] = str(p)
    bundle, e2 = build_bundle(texts, catalog, file_of=files)
    errors = errors + e2
    return (bundle if not errors else None), errors


class FlowRegistry:
    """The live bundle. ``current`` is read by each new call; ``swap`` replaces it atomically."""

    def __init__(self, bundle: FlowBundle) -> None:
        self._bundle = bundle

    @property
    def current(self) -> FlowBundle:
        return self._bundle

    def swap(self, bundle: FlowBundle) -> FlowBundle:
        old, self._bundle = self._bundle, bundle
        return old
