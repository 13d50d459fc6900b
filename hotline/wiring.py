"""Adapters between capability packages, built by the composition root.

Each package states what it needs as a Protocol (``ivr.ports.CallActions``,
``router.service.AgentConnector`` ...); the adapters here implement those with
the CTI core, so no capability package imports another's internals.
"""

from __future__ import annotations

import logging
from typing import Any

from cti.control import CallControl, ControlError
from hotline.logging import mask_number
from ivr.ports import TransferOutcome, TransferRequest

log = logging.getLogger("hotline.wiring")

_ORIGINATE_OUTCOME = {
    "busy": TransferOutcome.BUSY,
    "no_answer": TransferOutcome.NOANSWER,
    "timeout": TransferOutcome.NOANSWER,
}


class IvrCallActions:
    """``ivr.ports.CallActions`` on top of :class:`cti.control.CallControl`.

    Blind (and emergency) transfers redirect the caller straight to the
    destination. Attended transfers ring the destination first through a Local
    channel parked in ``hotline-agent,connect`` once answered, then bridge it
    with the caller; while it rings the caller stays in the IVR, so a busy or
    unanswered department gives the caller back to the flow (never dropped).
    """

    def __init__(self, control: CallControl, *, park_context: str = "hotline-agent", park_exten: str = "connect") -> None:
        self.control = control
        self.park_context = park_context
        self.park_exten = park_exten
        self._seq = 0

    async def transfer(self, request: TransferRequest) -> TransferOutcome:
        caller = request.call.channel
        try:
            # "__" makes them inheritable: Dial hands them to the leg that reaches the department.
            for name, value in request.variables.items():
                await self.control.setvar(caller, _inherit(name), str(value))
        except ControlError as exc:
            log.info("transfer of %s: caller gone before the transfer (%s)", request.call.call_id, exc.kind)
            return TransferOutcome.CALLER_HANGUP
        if request.mode == "blind" or request.kind == "emergency":
            return await self._blind(request)
        return await self._attended(request)

    async def _blind(self, request: TransferRequest) -> TransferOutcome:
        try:
            await self.control.redirect(request.call.channel, request.context, request.destination, 1)
        except ControlError as exc:
            log.warning("blind transfer of call %s to %s failed: %s", request.call.call_id, request.destination, exc)
            return TransferOutcome.CALLER_HANGUP if self.control.model.channel_by_name(request.call.channel) is None else TransferOutcome.FAILED
        log.info("call %s from %s sent to %s (%s)", request.call.call_id, mask_number(request.call.caller), request.destination, request.kind)
        self._count(request)
        return TransferOutcome.ANSWERED

    async def _attended(self, request: TransferRequest) -> TransferOutcome:
        res: Any = await self.control.originate(
            f"Local/{request.destination}@{request.context}",
            context=self.park_context,
            exten=self.park_exten,
            ring_timeout=request.timeout,
            call_id=request.call.call_id,
            role="transfer",
            variables={_inherit(k): str(v) for k, v in request.variables.items()},
        )
        if res.outcome != "answered":
            log.info("attended transfer of call %s to %s: %s", request.call.call_id, request.destination, res.outcome)
            return _ORIGINATE_OUTCOME.get(res.outcome, TransferOutcome.FAILED)
        try:
            await self.control.bridge(request.call.channel, res.channel)
        except ControlError:
            # The caller hung up while the department answered: release the department's leg.
            try:
                await self.control.hangup(res.channel)
            except ControlError:
                pass
            return TransferOutcome.CALLER_HANGUP
        self._count(request)
        return TransferOutcome.ANSWERED

    def _count(self, request: TransferRequest) -> None:
        """The server moved the caller itself (no AMI transfer event): count it on the CDR."""
        self._seq += 1
        self.control.model.count_transfer(request.call.call_id, f"ivr-{request.kind}-{self._seq}")


def _inherit(name: str) -> str:
    """The channel-variable name that Dial passes on to every leg it creates."""
    return name if name.startswith("__") else "__" + name.lstrip("_")
