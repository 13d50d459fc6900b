"""The registry of merged hotlines (flows/hotlines.yaml): DNIS -> entry point.

Each dialled number names its department and merge mode:

- ``primary``: 12345 itself;
- ``direct_merge`` (直接合并): the call enters the 12345 flow at the
  department's branch (``flow``/``node``) and its ``skill``;
- ``call_transfer`` (呼叫转接): the entry node transfers the caller to the
  department's own seats (``transfer_number``) with context in channel
  variables, and back to a 12345 queue if that fails;
- ``interconnection`` (互联互通): 12345 takes the call; the work order is
  forwarded to the unit's system (``partner_system``).

``reentry`` maps the extension of the ``hotline-ivr`` context (the dialplan's
way back into the IVR, e.g. ``survey`` after an agent leaves) to a flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ivr.loader import FlowError, Located, load_model
from ivr.schema import Hotline, HotlinesFile, Skill, SkillsFile

PRIMARY = "12345"


@dataclass(frozen=True)
class HotlineRegistry:
    by_number: Mapping[str, Hotline]
    reentry: Mapping[str, str]

    def __contains__(self, number: object) -> bool:
        return number in self.by_number

    def entry_for(self, dnis: str | None) -> Hotline | None:
        """The hotline dialled; an unknown DNIS enters as the primary 12345 line."""
        if dnis and dnis in self.by_number:
            return self.by_number[dnis]
        for h in self.by_number.values():
            if h.mode == "primary":
                return h
        return None

    @classmethod
    def empty(cls) -> "HotlineRegistry":
        return cls(MappingProxyType({}), MappingProxyType({}))


def load_hotlines(path: Path) -> tuple[HotlineRegistry, Located | None, HotlinesFile | None, list[FlowError]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return HotlineRegistry.empty(), None, None, [FlowError(file, 1, 1, f"cannot read: {exc.strerror}")]
    model, located, errors = load_model(HotlinesFile, text, file)
    if model is None:
        return HotlineRegistry.empty(), located, None, errors
    assert located is not None
    seen: dict[str, int] = {}
    for i, h in enumerate(model.hotlines):
        if h.number in seen:
            line = located.pos(("hotlines", seen[h.number]))[0]
            errors.append(located.error(("hotlines", i, "number"), f"hotline {h.number} is listed twice (first at line {line})"))
            continue
        seen[h.number] = i
        need = {"direct_merge": ("node", "skill"), "call_transfer": ("node", "transfer_number", "skill"),
                "interconnection": ("partner_system",)}.get(h.mode, ())
        for field in need:
            if getattr(h, field) is None:
                errors.append(located.error(("hotlines", i), f"hotline {h.number} ({h.mode}) needs '{field}'"))
    first: dict[str, Hotline] = {}
    for h in model.hotlines:
        first.setdefault(h.number, h)  # a duplicate is reported above; the first entry stays in force
    reg = HotlineRegistry(MappingProxyType(first), MappingProxyType(dict(model.reentry)))
    return reg, located, model, errors


def load_skills(path: Path) -> tuple[Mapping[str, Skill], list[FlowError]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return MappingProxyType({}), [FlowError(file, 1, 1, f"cannot read: {exc.strerror}")]
    model, _, errors = load_model(SkillsFile, text, file)
    return MappingProxyType(dict(model.skills) if model else {}), errors
