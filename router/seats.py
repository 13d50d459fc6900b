"""The agent (seat) state machine: every transition named, with its reason.

    logged_out --login--> available | paused(reason)
    available  --reserve--> ringing --answer--> on_call --hangup--> wrap_up --wrapup_done/ready--> available
    ringing    --no_answer / ring_failed--> paused("ring-no-answer" / "seat busy" ...)
    ringing    --caller_gone--> available      (the caller hung up while being connected)
    available/wrap_up/paused --pause--> paused(reason);  paused --unpause--> available
    available/paused/wrap_up --logout--> logged_out
    ringing/on_call --pause/logout--> recorded as pending, applied when the call ends

``Seats`` owns the runtime seats; the decision engine drives it and keeps its
indexes of available agents in step. Times come from the caller (injected clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.models import Agent, AgentState, AgentStateChanged

S = AgentState

TRANSITIONS: dict[tuple[AgentState, str], AgentState] = {
    (S.LOGGED_OUT, "login"): S.AVAILABLE,
    (S.LOGGED_OUT, "login_paused"): S.PAUSED,
    (S.AVAILABLE, "reserve"): S.RINGING,
    (S.AVAILABLE, "pause"): S.PAUSED,
    (S.AVAILABLE, "logout"): S.LOGGED_OUT,
    (S.PAUSED, "pause"): S.PAUSED,  # change of reason
    (S.PAUSED, "unpause"): S.AVAILABLE,
    (S.PAUSED, "logout"): S.LOGGED_OUT,
    (S.RINGING, "answer"): S.ON_CALL,
    (S.RINGING, "no_answer"): S.PAUSED,
    (S.RINGING, "caller_gone"): S.AVAILABLE,
    (S.RINGING, "offer_cancelled"): S.AVAILABLE,  # the offer could not be carried out (call control down)
    (S.ON_CALL, "hangup"): S.WRAP_UP,
    (S.ON_CALL, "hangup_no_wrapup"): S.AVAILABLE,
    (S.WRAP_UP, "wrapup_done"): S.AVAILABLE,
    (S.WRAP_UP, "ready"): S.AVAILABLE,
    (S.WRAP_UP, "pause"): S.PAUSED,
    (S.WRAP_UP, "logout"): S.LOGGED_OUT,
    # recovery after a restart: the seat's real state is read back from the PBX
    (S.LOGGED_OUT, "recover_on_call"): S.ON_CALL,
    (S.AVAILABLE, "recover_on_call"): S.ON_CALL,
    (S.PAUSED, "recover_on_call"): S.ON_CALL,
}

# states in which a pause or logout is deferred until the call is over
DEFERRING = frozenset({S.RINGING, S.ON_CALL})
STAFFED = frozenset({S.AVAILABLE, S.RINGING, S.ON_CALL, S.WRAP_UP})


class InvalidTransition(Exception):
    def __init__(self, agent_id: str, state: AgentState, event: str):
        super().__init__(f"agent {agent_id}: cannot {event} while {state.value}")
        self.agent_id, self.state, self.event = agent_id, state, event


@dataclass(slots=True, eq=False)
class Seat:
    agent: Agent
    state: AgentState = S.LOGGED_OUT
    reason: str = "not logged in"
    since: float = 0.0
    idle_since: float = 0.0  # when it last became available (longest idle)
    call_id: str | None = None
    token: int = -1  # availability version; entries in the availability heaps carry it
    pending: tuple[str, str] | None = None  # ("pause", reason) or ("logout", reason) deferred
    calls_handled: int = 0
    wrapup_until: float | None = None
    queues: list[Any] = field(default_factory=list)  # engine index data: (QueueRuntime, proficiency)

    @property
    def id(self) -> str:
        return self.agent.id


class Seats:
    """Runtime seats and their transitions; counts availability versions."""

    def __init__(self) -> None:
        self.by_id: dict[str, Seat] = {}
        self._token = 0

    def add(self, agent: Agent) -> Seat:
        seat = self.by_id.get(agent.id)
        if seat is None:
            seat = Seat(agent)
            self.by_id[agent.id] = seat
        return seat

    def get(self, agent_id: str) -> Seat:
        try:
            return self.by_id[agent_id]
        except KeyError:
            raise KeyError(f"unknown agent {agent_id!r}") from None

    def can(self, seat: Seat, event: str) -> bool:
        return (seat.state, event) in TRANSITIONS

    def transition(self, seat: Seat, event: str, reason: str, now: float, call_id: str | None = None) -> AgentStateChanged:
        new = TRANSITIONS.get((seat.state, event))
        if new is None:
            raise InvalidTransition(seat.id, seat.state, event)
        old = seat.state
        seat.state = new
        seat.reason = reason
        seat.since = now
        if new is S.AVAILABLE:
            self._token += 1
            seat.token = self._token
            seat.idle_since = now
            seat.call_id = None
            seat.wrapup_until = None
        else:
            seat.token = -1
            if new in (S.LOGGED_OUT, S.PAUSED):
                seat.call_id = None
                seat.wrapup_until = None
            elif call_id is not None:
                seat.call_id = call_id
        return AgentStateChanged(seat.id, old, new, reason, now, call_id)
