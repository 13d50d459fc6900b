"""BlindTransfer (and the error paths of Atxfer) as Asterisk 22 reports them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .channels import Channel
from .engine import P_CALL
from .server import AmiSession, Request

if TYPE_CHECKING:  # pragma: no cover
    from .sim import PbxSimulator


def install(sim: "PbxSimulator") -> None:
    pbx = sim.pbx

    async def a_blindtransfer(s: AmiSession, req: Request) -> None:
        aid = req.action_id
        chan = pbx.registry.get(req.get("Channel"))
        if chan is None:
            s.respond(aid, "Error", [("Message", "Channel specified does not exist")])
            return
        ctx = req.get("Context") or chan.context
        exten = req.get("Exten") or ""
        bridge = chan.bridge
        peers = pbx.bridge_peers(chan)
        if bridge is None or not peers:
            s.respond(aid, "Error", [("Message", "Transfer invalid")])
            return
        if not pbx.dialplan.exists(ctx, exten, 1):
            s.respond(aid, "Error", [("Message", "Transfer failed")])
            return
        s.respond(aid, "Success", [("Message", "Transfer succeeded")])
        transferee: Channel = peers[0]
        h = [("Result", "Success")]
        h.extend(chan.headers("Transferer"))
        h.extend(transferee.headers("Transferee"))
        h.extend(bridge.headers())
        h.extend([("IsExternal", "Yes"), ("Context", ctx), ("Extension", exten)])
        pbx.emit("BlindTransfer", P_CALL, h)
        pbx.async_goto(transferee, ctx, exten, 1)
        sim.ensure_pbx(transferee)
        # the transferer's phone is released
        chan.hangup_cause = 16
        chan.hangup_by = chan.hangup_by or "transfer"
        chan.soft_hangup = True
        chan.wake("hangup")

    async def a_atxfer(s: AmiSession, req: Request) -> None:
        aid = req.action_id
        chan = pbx.registry.get(req.get("Channel"))
        if chan is None:
            s.respond(aid, "Error", [("Message", "Channel specified does not exist")])
            return
        if chan.bridge is None:
            s.respond(aid, "Error", [("Message", "Transfer invalid")])
            return
        s.respond(aid, "Error", [("Message", "Atxfer not simulated")])

    sim.server.handler.register("BlindTransfer", a_blindtransfer)
    sim.server.handler.register("Atxfer", a_atxfer)
