"""Typed routing data: seats, groups, sites, queue rules, waiting calls, decisions and events.

Configuration objects are frozen; runtime objects (``WaitingCall``) are slotted
and owned by the decision engine. Times are seconds since the epoch as given
by the injected clock; durations are seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Literal

Clock = Callable[[], float]
INF = math.inf


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"  # not ready, always with a reason


class CallState(StrEnum):
    WAITING = "waiting"  # in the hold, in its queue
    OFFERED = "offered"  # an agent leg is ringing for it
    CONNECTED = "connected"  # bridged with the agent
    CALLBACK = "callback"  # the caller hung up after accepting a call-back; the place is kept
    ENDED = "ended"
    ABANDONED = "abandoned"
    EXITED = "exited"  # left the queue for another destination (max wait)


class Strategy(StrEnum):
    """How to choose among eligible available agents."""

    BEST_PROFICIENCY_LONGEST_IDLE = "best_proficiency_longest_idle"
    LONGEST_IDLE = "longest_idle"
    FEWEST_CALLS = "fewest_calls"


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str = ""
    centre: bool = False  # the city centre (市中心) as opposed to a district sub-centre


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    site_id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Skill:
    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Agent:
    """A seat's static profile. ``skills`` maps skill id -> proficiency 1 (lowest) .. 10 (highest)."""

    id: str
    seat: str  # PJSIP endpoint / extension the agent leg is originated to
    group_id: str
    site_id: str
    skills: dict[str, int] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True, slots=True)
class PriorityClass:
    """A lane in a queue. Lower ``rank`` is served first; FIFO inside a lane."""

    name: str
    rank: int


# Ranks use the IVR's priority scale (0 first ... 9 last; a queue node's default is 5):
# a request with priority p goes to the first lane whose rank is >= p.
DEFAULT_CLASSES: tuple[PriorityClass, ...] = (
    PriorityClass("enterprise", 0),  # 政企直通车
    PriorityClass("repeat", 3),  # repeat caller about an open work order
    PriorityClass("normal", 5),
)


@dataclass(frozen=True, slots=True)
class Target:
    """One ring of the bullseye: who may take the call once it has waited ``after`` seconds.

    Rings are cumulative (each one adds agents to the earlier ones), like Genesys
    Bullseye and a TaskRouter workflow whose later targets keep the earlier queues.
    ``all_sites`` opens every site that has agents with the queue's skill.
    """

    after: float = 0.0
    groups: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    all_sites: bool = False
    min_proficiency: int = 1
    name: str = ""

    def label(self) -> str:
        if self.name:
            return self.name
        if self.all_sites:
            return "all sites"
        parts = [f"group {g}" for g in self.groups] + [f"site {s}" for s in self.sites]
        return ", ".join(parts) or "nobody"

    def includes(self, agent: Agent, proficiency: int) -> bool:
        if proficiency < self.min_proficiency:
            return False
        return self.all_sites or agent.group_id in self.groups or agent.site_id in self.sites


@dataclass(frozen=True, slots=True)
class OverflowRule:
    """Backup agents opened for the whole queue while its expected wait is high.

    Active when the queue's EWT rises to ``ewt_above``; inactive again when it falls
    to ``ewt_below`` (hysteresis, default 80 % of ``ewt_above``).
    """

    ewt_above: float
    groups: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    all_sites: bool = False
    min_proficiency: int = 1
    ewt_below: float | None = None
    name: str = ""

    def off_below(self) -> float:
        return self.ewt_below if self.ewt_below is not None else 0.8 * self.ewt_above

    def as_target(self) -> Target:
        return Target(0.0, self.groups, self.sites, self.all_sites, self.min_proficiency, self.label())

    def label(self) -> str:
        if self.name:
            return self.name
        parts = [f"group {g}" for g in self.groups] + [f"site {s}" for s in self.sites]
        return "all sites" if self.all_sites else (", ".join(parts) or "nobody")


@dataclass(frozen=True, slots=True)
class SurgePolicy:
    """Peak mode for a queue: every target opens at once and wrap-up is shortened."""

    enter_ewt: float
    exit_ewt: float
    wrapup: float | None = None
    open_all_targets: bool = True


@dataclass(frozen=True, slots=True)
class QueueConfig:
    id: str
    skill: str
    targets: tuple[Target, ...]
    name: str = ""
    classes: tuple[PriorityClass, ...] = DEFAULT_CLASSES
    default_class: str = "normal"
    wrapup: float = 10.0
    strategy: Strategy = Strategy.BEST_PROFICIENCY_LONGEST_IDLE
    overflow: tuple[OverflowRule, ...] = ()
    surge: SurgePolicy | None = None
    # most calls of this queue that agents of a site may hold at once (ringing + connected)
    site_caps: dict[str, int] = field(default_factory=dict)
    sl_target: float = 20.0
    callback_offer_wait: float = 120.0
    max_wait: float | None = None  # leave the queue after this long ...
    exit_destination: str | None = None  # ... to this destination (e.g. a legacy department line)

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError(f"queue {self.id}: at least one target is needed")
        afters = [t.after for t in self.targets]
        if afters != sorted(afters):
            raise ValueError(f"queue {self.id}: targets must be ordered by 'after'")
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names) or self.default_class not in names:
            raise ValueError(f"queue {self.id}: priority classes must be unique and include {self.default_class!r}")
        if self.surge is not None and self.surge.exit_ewt > self.surge.enter_ewt:
            raise ValueError(f"queue {self.id}: surge exit_ewt must not exceed enter_ewt")


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    sites: tuple[Site, ...]
    groups: tuple[Group, ...]
    agents: tuple[Agent, ...]
    queues: tuple[QueueConfig, ...]


@dataclass(slots=True, eq=False)
class WaitingCall:
    """A call the router is responsible for, from entering its queue to being connected or lost."""

    id: str
    queue_id: str
    priority: str
    rank: int
    enqueued_at: float
    seq: int  # order inside its lane; a requeued call gets a smaller one (back at the head)
    caller: str = ""
    channel: str | None = None
    state: CallState = CallState.WAITING
    agent_id: str | None = None
    offered_at: float | None = None
    connected_at: float | None = None
    site_id: str | None = None  # site of the agent holding it (for the per-site cap)
    callback_id: str | None = None
    attempts: int = 0  # offers made so far
    dialling: bool = False  # call-back: the citizen's phone is being rung
    next_dial_at: float = 0.0  # call-back: not before this time (retry)

    def wait(self, now: float) -> float:
        return now - self.enqueued_at


# --------------------------------------------------------------------------- decisions
# Decisions and events are built on the hot path: plain slotted dataclasses (not frozen, whose
# __init__ is several times slower); nobody mutates them after they are handed out.


@dataclass(slots=True)
class Decision:
    """Ring ``agent_id``'s seat for ``call_id``. ``reason`` is shown on the wallboard."""

    call_id: str
    agent_id: str
    seat: str
    queue_id: str
    reason: str
    at: float
    kind: Literal["offer"] = "offer"


@dataclass(slots=True)
class ExitDecision:
    """The call leaves its queue for another destination."""

    call_id: str
    queue_id: str
    destination: str | None
    reason: str
    at: float
    kind: Literal["exit"] = "exit"


@dataclass(slots=True)
class DialCallback:
    """Ring the citizen back now: an agent is about to be free for this place."""

    callback_id: str
    call_id: str
    queue_id: str
    number: str
    reason: str
    at: float
    kind: Literal["dial_callback"] = "dial_callback"


Action = Decision | ExitDecision | DialCallback


# --------------------------------------------------------------------------- events (for wallboard, storage)


@dataclass(slots=True)
class AgentStateChanged:
    agent_id: str
    old: AgentState
    new: AgentState
    reason: str
    at: float
    call_id: str | None = None


@dataclass(slots=True)
class CallQueued:
    call_id: str
    queue_id: str
    priority: str
    at: float


@dataclass(slots=True)
class CallOffered:
    call_id: str
    queue_id: str
    agent_id: str
    reason: str
    at: float


@dataclass(slots=True)
class CallRequeued:
    call_id: str
    queue_id: str
    agent_id: str
    reason: str
    at: float


@dataclass(slots=True)
class CallConnected:
    call_id: str
    queue_id: str
    agent_id: str
    group_id: str
    site_id: str
    wait: float
    at: float


@dataclass(slots=True)
class CallEnded:
    call_id: str
    queue_id: str
    agent_id: str
    group_id: str
    site_id: str
    talk: float
    wrapup: float
    at: float


@dataclass(slots=True)
class CallAbandoned:
    call_id: str
    queue_id: str
    wait: float
    at: float
    while_ringing: bool = False


@dataclass(slots=True)
class CallExited:
    call_id: str
    queue_id: str
    destination: str | None
    reason: str
    wait: float
    at: float


@dataclass(slots=True)
class CallbackAccepted:
    call_id: str
    queue_id: str
    wait: float
    at: float


@dataclass(slots=True)
class QueueModeChanged:
    """Overflow rule or surge mode switched on or off, with the reason."""

    queue_id: str
    mode: str  # "surge" or "overflow:<label>"
    active: bool
    reason: str
    at: float


RouterEvent = (
    AgentStateChanged
    | CallQueued
    | CallOffered
    | CallRequeued
    | CallConnected
    | CallEnded
    | CallAbandoned
    | CallExited
    | CallbackAccepted
    | QueueModeChanged
)
