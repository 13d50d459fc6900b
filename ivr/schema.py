"""The flow format: data with a schema, never a new language.

A flow file (``flows/<name>.yaml``) names a ``start`` node and a mapping of
named ``nodes``. Every node has a ``type`` that selects one pydantic model
(discriminated union, one model per node type, :data:`NODE_TYPES` is the
factory from type to class). Transitions are keyed by event: ``next`` is the
ordinary continuation, ``on: {event: node}`` covers everything else
(``failure``, ``noinput``, ``nomatch``, ``overflow``, ``callback``,
``busy``, ``noanswer``, ``max_visits``). Menus and collects follow
VoiceXML: ``noinput``/``nomatch`` handlers are chosen by attempt count, the
node re-prompts until ``retries`` are used up, then the matching ``on`` event
(or ``on.failure``) is taken.

Shapes borrowed from Twilio Studio (states + event transitions), Amazon
Connect (start action, actions, transitions; layout apart from semantics) and
jambonz (one schema per verb).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hotline.settings import Duration

NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
DTMF_KEYS = set("0123456789*#")
VAR_RE = NAME_RE


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------
# VoiceXML-style handlers


class Handler(_Model):
    """A noinput/nomatch handler: played on the ``count``-th such event.

    The handler with the highest ``count`` not above the current count is
    chosen (VoiceXML ``<noinput count="n">``); the node then re-prompts.
    """

    count: int = Field(1, ge=1)
    prompt: str


# --------------------------------------------------------------------------
# node types


class NodeBase(_Model):
    type: str
    title: str = ""
    max_visits: int | None = Field(None, ge=1, description="retry cap: after this many visits take on.max_visits")
    next: str | None = None
    on: dict[str, str] = {}

    #: events allowed in ``on`` for this node type (``max_visits`` is always allowed)
    EVENTS: ClassVar[frozenset[str]] = frozenset()
    #: whether ``next`` is required
    NEEDS_NEXT: ClassVar[bool] = False
    #: the node may end the IVR part of the call (hangup, hand-over to a person or system)
    TERMINAL: ClassVar[bool] = False

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        """(location under the node, prompt id) for every prompt the node references."""
        return []

    def targets(self) -> list[tuple[tuple[Any, ...], str, str]]:
        """(location under the node, event, target node) for every outgoing transition."""
        out: list[tuple[tuple[Any, ...], str, str]] = []
        if self.next is not None:
            out.append((("next",), "next", self.next))
        for ev, tgt in self.on.items():
            out.append((("on", ev), ev, tgt))
        return out


def _prompt_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


PromptRef = Annotated[list[str], Field(min_length=1)]


class PlayNode(NodeBase):
    """Play one or more prompts, then go on."""

    type: Literal["play"]
    prompt: PromptRef
    barge_in: bool = False
    NEEDS_NEXT: ClassVar[bool] = True

    _p = field_validator("prompt", mode="before")(_prompt_list)

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        return [(("prompt", i) if len(self.prompt) > 1 else ("prompt",), p) for i, p in enumerate(self.prompt)]


class Choice(_Model):
    key: str | None = None
    keywords: list[str] = []
    label: str = ""
    next: str

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if v is not None and (not isinstance(v, str) or len(v) != 1 or v not in DTMF_KEYS):
            raise ValueError(f"DTMF key must be one of 0-9, * or #, got {v!r}")
        return v

    @field_validator("keywords")
    @classmethod
    def _kw(cls, v: list[str]) -> list[str]:
        for k in v:
            if not k.strip():
                raise ValueError("keywords must not be empty")
        return v


class _Asks(NodeBase):
    """Shared by nodes that wait for the caller (VoiceXML field semantics)."""

    prompt: PromptRef
    timeout: Duration = 5.0
    retries: int = Field(2, ge=0, le=9, description="re-prompts after the first attempt")
    noinput: list[Handler] = []
    nomatch: list[Handler] = []

    _p = field_validator("prompt", mode="before")(_prompt_list)

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        out: list[tuple[tuple[Any, ...], str]] = [
            (("prompt", i) if len(self.prompt) > 1 else ("prompt",), p) for i, p in enumerate(self.prompt)
        ]
        for i, h in enumerate(self.noinput):
            out.append((("noinput", i, "prompt"), h.prompt))
        for i, h in enumerate(self.nomatch):
            out.append((("nomatch", i, "prompt"), h.prompt))
        return out


class MenuNode(_Asks):
    """DTMF choices and optional spoken keywords."""

    type: Literal["menu"]
    choices: list[Choice] = Field(min_length=1)
    EVENTS: ClassVar[frozenset[str]] = frozenset({"noinput", "nomatch", "failure"})

    def targets(self) -> list[tuple[tuple[Any, ...], str, str]]:
        out = [(("choices", i, "next"), f"choice:{c.key or c.label or i}", c.next) for i, c in enumerate(self.choices)]
        return out + super().targets()


# ---- collect validation rules (discriminated by ``kind``)


class PhoneRule(_Model):
    kind: Literal["phone", "mobile", "landline"]


class IdCardRule(_Model):
    kind: Literal["id_card"]


class RangeRule(_Model):
    kind: Literal["range"]
    min: int
    max: int


class LengthRule(_Model):
    kind: Literal["length"]
    min: int = Field(1, ge=1)
    max: int = Field(32, ge=1)


Rule = Annotated[Union[PhoneRule, IdCardRule, RangeRule, LengthRule], Field(discriminator="kind")]


class CollectNode(_Asks):
    """Digits into a variable, validated; ``#`` ends the entry early."""

    type: Literal["collect"]
    var: str = Field(pattern=VAR_RE)
    validate_: Rule = Field(alias="validate")
    max_digits: int = Field(20, ge=1, le=32)
    terminator: Literal["#"] | None = "#"
    EVENTS: ClassVar[frozenset[str]] = frozenset({"noinput", "nomatch", "failure"})
    NEEDS_NEXT: ClassVar[bool] = True
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RecordSpeechNode(NodeBase):
    """Free speech describing the problem, kept for the work order."""

    type: Literal["record_speech"]
    prompt: PromptRef
    var: str = Field("problem_recording", pattern=VAR_RE)
    max_duration: Duration = 120.0
    silence: Duration = 3.0
    beep: bool = True
    EVENTS: ClassVar[frozenset[str]] = frozenset({"noinput"})
    NEEDS_NEXT: ClassVar[bool] = True

    _p = field_validator("prompt", mode="before")(_prompt_list)

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        return [(("prompt", i) if len(self.prompt) > 1 else ("prompt",), p) for i, p in enumerate(self.prompt)]


# ---- condition predicates (each a one-key mapping; combined with all/any/not)


class BusinessHours(_Model):
    business_hours: str = Field(description="schedule name in flows/holidays.yaml")


class RepeatCaller(_Model):
    class Spec(_Model):
        within: Duration = 86400.0
        min_calls: int = Field(1, ge=1)

    repeat_caller: Spec


class VarTest(_Model):
    class Spec(_Model):
        name: str = Field(pattern=VAR_RE)
        op: Literal["eq", "ne", "in", "set", "unset", "gt", "lt"] = "eq"
        value: Any = None

    var: Spec


class DnisTest(_Model):
    dnis: list[str] = Field(min_length=1)

    @field_validator("dnis", mode="before")
    @classmethod
    def _one(cls, v: Any) -> Any:
        return [v] if isinstance(v, (str, int)) else v

    @field_validator("dnis")
    @classmethod
    def _str(cls, v: list[Any]) -> list[str]:
        return [str(x) for x in v]


class AllOf(_Model):
    all: list["Predicate"] = Field(min_length=1)


class AnyOf(_Model):
    any: list["Predicate"] = Field(min_length=1)


class NotOf(_Model):
    not_: "Predicate" = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Predicate = Union[BusinessHours, RepeatCaller, VarTest, DnisTest, AllOf, AnyOf, NotOf]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()

PREDICATE_KEYS = {"business_hours": BusinessHours, "repeat_caller": RepeatCaller, "var": VarTest,
                  "dnis": DnisTest, "all": AllOf, "any": AnyOf, "not": NotOf}


class Branch(_Model):
    when: Predicate
    next: str

    @field_validator("when", mode="before")
    @classmethod
    def _pick(cls, v: Any) -> Any:
        return _parse_predicate(v)


def _parse_predicate(v: Any) -> Any:
    """Pick the predicate model from its single key, so errors name that key only."""
    if isinstance(v, BaseModel):
        return v
    if not isinstance(v, dict) or len(v) != 1:
        raise ValueError(f"a condition is a mapping with exactly one of: {', '.join(PREDICATE_KEYS)}")
    key = next(iter(v))
    model = PREDICATE_KEYS.get(key)
    if model is None:
        raise ValueError(f"unknown condition {key!r} (expected one of: {', '.join(PREDICATE_KEYS)})")
    if key in ("all", "any"):
        items = v[key]
        if not isinstance(items, list) or not items:
            raise ValueError(f"{key!r} takes a list of conditions")
        return model.model_validate({key: [_parse_predicate(x) for x in items]})
    if key == "not":
        return model.model_validate({"not": _parse_predicate(v[key])})
    try:
        return model.model_validate(v)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "missing required field"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        raise ValueError(f"{where}: {msg}") from None


class ConditionNode(NodeBase):
    """First branch whose condition holds, else ``else``."""

    type: Literal["condition"]
    branches: list[Branch] = Field(min_length=1)
    else_: str = Field(alias="else")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def targets(self) -> list[tuple[tuple[Any, ...], str, str]]:
        out = [(("branches", i, "next"), f"branch:{i}", b.next) for i, b in enumerate(self.branches)]
        out.append((("else",), "else", self.else_))
        return out + super().targets()


Scalar = Union[str, int, float, bool]


class SetNode(NodeBase):
    """Set call variables (request type, department, priority ...)."""

    type: Literal["set"]
    vars: dict[str, Scalar] = Field(min_length=1)
    NEEDS_NEXT: ClassVar[bool] = True

    @field_validator("vars")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k in v:
            if not re.match(VAR_RE, k):
                raise ValueError(f"variable name {k!r} must be letters, digits and _")
        return v


class Announcement(_Model):
    prompt: str
    every: Duration = 30.0
    say_wait: bool = False


class CallbackOffer(_Model):
    after: Duration = 120.0
    prompt: str
    key: str = "1"

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, v: Any) -> Any:
        v = str(v) if isinstance(v, int) and not isinstance(v, bool) else v
        if not isinstance(v, str) or len(v) != 1 or v not in DTMF_KEYS:
            raise ValueError(f"DTMF key must be one of 0-9, * or #, got {v!r}")
        return v


class QueueNode(NodeBase):
    """Wait for an agent with the skill; the router chooses and bridges."""

    type: Literal["queue"]
    skill: str
    priority: int = Field(5, ge=0, le=9, description="0 is served first")
    announcements: list[Announcement] = []
    hold_music: str | None = None
    max_wait: Duration | None = None
    callback_offer: CallbackOffer | None = None
    survey: bool = True
    EVENTS: ClassVar[frozenset[str]] = frozenset({"overflow", "callback", "failure"})
    TERMINAL: ClassVar[bool] = True

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        out: list[tuple[tuple[Any, ...], str]] = [(("announcements", i, "prompt"), a.prompt)
                                                   for i, a in enumerate(self.announcements)]
        if self.hold_music:
            out.append((("hold_music",), self.hold_music))
        if self.callback_offer:
            out.append((("callback_offer", "prompt"), self.callback_offer.prompt))
        return out


class TransferTarget(_Model):
    extension: str | None = Field(None, pattern=r"^\d{2,8}$")
    hotline: str | None = None
    number: str | None = Field(None, pattern=r"^\+?\d{3,20}$")

    def kind_value(self) -> tuple[str, str]:
        for k in ("extension", "hotline", "number"):
            v = getattr(self, k)
            if v is not None:
                return k, v
        raise ValueError("empty target")

    @field_validator("hotline", mode="before")
    @classmethod
    def _s(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @model_validator(mode="after")
    def _one(self) -> "TransferTarget":
        n = sum(x is not None for x in (self.extension, self.hotline, self.number))
        if n != 1:
            raise ValueError("a transfer target is exactly one of: extension, hotline, number")
        return self


class TransferNode(NodeBase):
    """Hand the caller to an extension, a merged legacy hotline or an outside number."""

    type: Literal["transfer"]
    target: TransferTarget
    mode: Literal["blind", "attended"] = "blind"
    prompt: str | None = None
    hold_music: str | None = Field(None, description="played while an attended transfer rings")
    timeout: Duration = 30.0
    with_context: bool = True
    EVENTS: ClassVar[frozenset[str]] = frozenset({"failure", "busy", "noanswer"})
    TERMINAL: ClassVar[bool] = True

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        out: list[tuple[tuple[Any, ...], str]] = [(("prompt",), self.prompt)] if self.prompt else []
        if self.hold_music:
            out.append((("hold_music",), self.hold_music))
        return out


class EmergencyNode(NodeBase):
    """Say so and transfer at once to 110 / 119 / 120 (never queued)."""

    type: Literal["emergency"]
    service: Literal["110", "119", "120"]
    prompt: str
    fallback_prompt: str | None = None
    EVENTS: ClassVar[frozenset[str]] = frozenset({"failure"})
    TERMINAL: ClassVar[bool] = True

    @field_validator("service", mode="before")
    @classmethod
    def _s(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        out: list[tuple[tuple[Any, ...], str]] = [(("prompt",), self.prompt)]
        if self.fallback_prompt:
            out.append((("fallback_prompt",), self.fallback_prompt))
        return out


class SurveyNode(NodeBase):
    """Post-call satisfaction 1-5, stored on the call and its work order."""

    type: Literal["survey"]
    prompt: str
    thanks: str | None = None
    timeout: Duration = 6.0
    retries: int = Field(1, ge=0, le=9)
    noinput: list[Handler] = []
    nomatch: list[Handler] = []
    NEEDS_NEXT: ClassVar[bool] = True

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        out: list[tuple[tuple[Any, ...], str]] = [(("prompt",), self.prompt)]
        if self.thanks:
            out.append((("thanks",), self.thanks))
        out += [(("noinput", i, "prompt"), h.prompt) for i, h in enumerate(self.noinput)]
        out += [(("nomatch", i, "prompt"), h.prompt) for i, h in enumerate(self.nomatch)]
        return out


class CallbackRequestNode(NodeBase):
    """Register a call-back to the caller (or to a number collected earlier)."""

    type: Literal["callback_request"]
    skill: str
    number_var: str | None = Field(None, pattern=VAR_RE)
    prompt: str | None = None
    EVENTS: ClassVar[frozenset[str]] = frozenset({"failure"})
    NEEDS_NEXT: ClassVar[bool] = True

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        return [(("prompt",), self.prompt)] if self.prompt else []


class HangupNode(NodeBase):
    type: Literal["hangup"]
    prompt: str | None = None
    TERMINAL: ClassVar[bool] = True

    def prompt_ids(self) -> list[tuple[tuple[Any, ...], str]]:
        return [(("prompt",), self.prompt)] if self.prompt else []


class GotoNode(NodeBase):
    """Continue in another flow (a sub-flow), at its start or at a named node."""

    type: Literal["goto"]
    flow: str
    node: str | None = None
    TERMINAL: ClassVar[bool] = True


Node = Annotated[
    Union[PlayNode, MenuNode, CollectNode, RecordSpeechNode, ConditionNode, SetNode, QueueNode,
          TransferNode, EmergencyNode, SurveyNode, CallbackRequestNode, HangupNode, GotoNode],
    Field(discriminator="type"),
]

#: factory: node type -> model class
NODE_TYPES: dict[str, type[NodeBase]] = {
    "play": PlayNode, "menu": MenuNode, "collect": CollectNode, "record_speech": RecordSpeechNode,
    "condition": ConditionNode, "set": SetNode, "queue": QueueNode, "transfer": TransferNode,
    "emergency": EmergencyNode, "survey": SurveyNode, "callback_request": CallbackRequestNode,
    "hangup": HangupNode, "goto": GotoNode,
}


class Flow(_Model):
    """One flow file."""

    name: str = Field(pattern=NAME_RE)
    description: str = ""
    start: str
    nodes: dict[str, Node] = Field(min_length=1)


# --------------------------------------------------------------------------
# catalogues


class PromptEntry(_Model):
    text: str = Field(min_length=1)
    file: str = Field(min_length=1, description="audio file under flows/prompts/ (e.g. welcome.wav)")


class PromptCatalogFile(_Model):
    prompts: dict[str, PromptEntry]


class Skill(_Model):
    name: str
    description: str = ""


class SkillsFile(_Model):
    skills: dict[str, Skill]


class Hotline(_Model):
    """A merged legacy hotline (or 12345 itself) and where its callers enter."""

    number: str = Field(pattern=r"^\d{3,12}$")
    name: str
    department: str
    mode: Literal["primary", "direct_merge", "call_transfer", "interconnection"]
    flow: str
    node: str | None = None
    skill: str | None = None
    transfer_number: str | None = Field(None, pattern=r"^\+?\d{3,20}$")
    partner_system: str | None = None

    @field_validator("number", "transfer_number", mode="before")
    @classmethod
    def _s(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class HotlinesFile(_Model):
    hotlines: list[Hotline]
    reentry: dict[str, str] = Field(default_factory=dict, description="hotline-ivr extension -> flow")
