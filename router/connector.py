"""AgentConnector on top of cti.control.CallControl, and the live-leg snapshot for recovery.

The composition root builds ``CallControlConnector(control, client)``; nothing
here holds global state. Channel variables the router sets:

* on the agent leg (through the Originate): ``HOTLINE_CALL`` = call id, ``HOTLINE_ROLE`` = agent;
* on a call-back leg: ``HOTLINE_CALL``, ``HOTLINE_ROLE`` = callback;
* on a waiting caller: ``HOTLINE_QUEUE_STATE`` = ``state|queue|priority|enqueued_at``
  (one Setvar per change), read back by ``live_legs`` after a restart.

``agent_legs`` lists the live agent legs from the call model, for the router's
check after an AMI reconnect (rings whose result was lost, legs no call explains).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from router.service import LinkLostError, LiveLeg, RingResult

log = logging.getLogger("hotline.router")

_OUTCOMES = {"answered": "answered", "no_answer": "no_answer", "timeout": "no_answer", "busy": "busy"}


def _seat(channel: str) -> str:
    """``PJSIP/8001-0000002a`` -> ``8001``."""
    return channel.split("/", 1)[-1].rsplit("-", 1)[0]


class ControlLike(Protocol):
    async def originate(self, channel: str, **kwargs: Any) -> Any: ...

    async def bridge(self, channel1: str, channel2: str, tone: bool = False) -> None: ...

    async def hangup(self, channel: str, cause: int = 16) -> None: ...

    async def setvar(self, channel: str | None, name: str, value: str) -> None: ...

    async def getvar(self, channel: str | None, name: str) -> str | None: ...


class ChannelLister(Protocol):
    async def list_action(self, name: str, headers: Any = None, timeout: float | None = None) -> list[Any]: ...


class CallControlConnector:
    def __init__(
        self,
        control: ControlLike,
        client: ChannelLister | None = None,
        *,
        agent_tech: str = "PJSIP",
        agent_context: str = "hotline-agent",
        agent_exten: str = "connect",
        outbound_context: str = "hotline-outbound",
        hold_context: str = "hotline-hold",
        hold_exten: str = "moh",
        caller_id: str = "12345",
    ) -> None:
        self.control = control
        self.client = client
        self.agent_tech = agent_tech
        self.agent_context = agent_context
        self.agent_exten = agent_exten
        self.outbound_context = outbound_context
        self.hold_context = hold_context
        self.hold_exten = hold_exten
        self.caller_id = caller_id

    @staticmethod
    def _ring(res: Any) -> RingResult:
        outcome = _OUTCOMES.get(getattr(res, "outcome", ""), "failed")
        return RingResult(outcome, getattr(res, "channel", "") if outcome == "answered" else "",  # type: ignore[arg-type]
                          getattr(res, "uniqueid", ""), getattr(res, "outcome", ""))

    async def ring_agent(self, seat: str, call_id: str, caller: str, timeout: float) -> RingResult:
        res = await self.control.originate(
            f"{self.agent_tech}/{seat}", context=self.agent_context, exten=self.agent_exten,
            ring_timeout=timeout, call_id=call_id, role="agent", caller_id=caller or None,
        )
        return self._ring(res)

    async def ring_citizen(self, number: str, call_id: str, timeout: float) -> RingResult:
        res = await self.control.originate(
            f"Local/{number}@{self.outbound_context}", context=self.hold_context, exten=self.hold_exten,
            ring_timeout=timeout, call_id=call_id, role="callback", caller_id=self.caller_id,
        )
        return self._ring(res)

    async def bridge(self, caller_channel: str, agent_channel: str) -> bool:
        try:
            await self.control.bridge(caller_channel, agent_channel)
            return True
        except Exception as exc:  # ControlError: a leg is gone, or the answer was lost with the link
            log.info("bridge %s + %s failed: %s", caller_channel, agent_channel, exc)
            if getattr(exc, "kind", "") in ("not_connected", "timeout"):
                raise LinkLostError(str(exc)) from exc
            return False

    async def hangup(self, channel: str) -> None:
        try:
            await self.control.hangup(channel)
        except Exception as exc:  # already gone
            log.debug("hangup %s: %s", channel, exc)

    async def mark(self, channel: str, queue: str, priority: str, enqueued_at: float, state: str) -> None:
        value = f"{state}|{queue}|{priority}|{enqueued_at:.3f}" if state else ""
        try:
            await self.control.setvar(channel, "HOTLINE_QUEUE_STATE", value)
        except Exception as exc:  # the caller may be gone already
            log.debug("mark %s: %s", channel, exc)

    async def live_legs(self) -> list[LiveLeg]:
        """Every channel on the PBX with what the router wrote on it (for ``RouterService.recover``)."""
        if self.client is None:
            raise RuntimeError("live_legs needs the AMI client")
        items = await self.client.list_action("CoreShowChannels", {})
        by_bridge: dict[str, list[str]] = {}
        rows = []
        for m in items:
            f = m.fields
            ch = f.get("Channel") or ""
            bridge = f.get("BridgeId") or ""
            if bridge:
                by_bridge.setdefault(bridge, []).append(ch)
            rows.append((ch, f.get("Linkedid") or f.get("Uniqueid") or "", bridge, f.get("CallerIDNum") or ""))
        legs = []
        for ch, linkedid, bridge, num in rows:
            role = await self._get(ch, "HOTLINE_ROLE")
            peers = [p for p in by_bridge.get(bridge, []) if p != ch] if bridge else []
            peer = peers[0] if peers else ""
            if role == "agent":
                legs.append(LiveLeg(ch, linkedid, "agent", seat=_seat(ch), for_call=await self._get(ch, "HOTLINE_CALL"),
                                    bridged_with=peer))
                continue
            qs = await self._get(ch, "HOTLINE_QUEUE_STATE")
            parts = qs.split("|") if qs else []
            if len(parts) == 4:
                try:
                    at = float(parts[3])
                except ValueError:
                    at = 0.0
                call_id = await self._get(ch, "HOTLINE_CALL") if role == "callback" else ""
                legs.append(LiveLeg(ch, call_id or linkedid, "caller", queue=parts[1], priority=parts[2],
                                    enqueued_at=at, state=parts[0], caller=num, bridged_with=peer))
            else:
                legs.append(LiveLeg(ch, linkedid, "other", bridged_with=peer))
        return legs

    async def agent_legs(self) -> list[LiveLeg]:
        """The live agent legs the router originated (``HOTLINE_ROLE=agent`` with ``HOTLINE_CALL``), as
        the call model knows them (current while the AMI link is up; reconciled at every resync)."""
        model = getattr(self.control, "model", None)
        if model is None:
            return []
        legs = []
        for ch in list(model.channels.values()):
            v = ch.vars or {}
            for_call = v.get("HOTLINE_CALL") or ""
            if v.get("HOTLINE_ROLE") != "agent" or not for_call or not ch.alive:
                continue
            peers = model.peers(ch.uniqueid)
            legs.append(LiveLeg(ch.name, ch.call_id, "agent", seat=_seat(ch.name), for_call=for_call,
                                bridged_with=peers[0].name if peers else "", leg_id=ch.uniqueid,
                                answered=ch.state_name == "up"))
        return legs

    async def _get(self, channel: str, name: str) -> str:
        try:
            return (await self.control.getvar(channel, name)) or ""
        except Exception:
            return ""
