"""BlindTransfer (and the error paths of Atxfer) as Asterisk 22 reports them."""

from __future__ import annotations

import asyncio
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
        pbx.chan_event("Unhold", P_CALL, chan)
        pbx.set_var(chan, "BLINDTRANSFER", transferee.name)
        pbx.set_var(transferee, "BLINDTRANSFER", chan.name)
        h = [("Result", "Success")]
        h.extend(chan.headers("Transferer"))
        h.extend(transferee.headers("Transferee"))
        h.extend(bridge.headers())
        h.extend([("IsExternal", "Yes"), ("Context", ctx), ("Extension", exten)])
        pbx.emit("BlindTransfer", P_CALL, h)
        pbx.async_goto(transferee, ctx, exten, 1, how="transfer")
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
        ctx = req.get("Context") or chan.context
        exten = req.get("Exten") or ""
        if not exten:
            s.respond(aid, "Error", [("Message", "No extension specified")])
            return
        if chan.bridge is None or not pbx.bridge_peers(chan):
            s.respond(aid, "Error", [("Message", "Transfer invalid")])
            return
        s.respond(aid, "Success", [("Message", "Atxfer successfully queued")])
        pbx.spawn(AttendedTransfer(sim, chan, ctx, exten).run())

    sim.server.handler.register("BlindTransfer", a_blindtransfer)
    sim.server.handler.register("Atxfer", a_atxfer)


class AttendedTransfer:
    """The agent (transferer) consults ``exten@context`` while the caller hears music; the agent hanging up
    completes it (BridgeMerge + AttendedTransfer), the target hanging up cancels it (agent back with the caller)."""

    def __init__(self, sim: "PbxSimulator", transferer: Channel, context: str, exten: str) -> None:
        self.sim = sim
        self.pbx = sim.pbx
        self.transferer = transferer
        self.context = context
        self.exten = exten
        self.orig = transferer.bridge
        self.consult = None
        self.one: Channel | None = None
        self.two: Channel | None = None
        self.done = False

    def _feature_dtmf(self, digits: str) -> None:
        for d in digits:
            self.pbx.chan_event("DTMFEnd", "dtmf,all", self.transferer, (
                ("Digit", d), ("DurationMs", "0"), ("Direction", "Received")))

    async def run(self) -> None:
        pbx, t = self.pbx, self.transferer
        orig = self.orig
        assert orig is not None
        transferees = pbx.bridge_peers(t)
        pbx.set_var(t, "TRANSFER_CONTEXT", self.context)
        self._feature_dtmf("*2")
        pbx.chan_event("Hold", P_CALL, t)
        for c in transferees:
            c.moh = True
            pbx.chan_event("MusicOnHoldStart", P_CALL, c, (("Class", "default"),))
        self._feature_dtmf(self.exten)
        if not pbx.dialplan.exists(self.context, self.exten, 1):
            self._abort(transferees)
            return
        resource = f"{self.exten}@{self.context}"
        n1, n2 = pbx.registry.next_local(resource)
        one = pbx.new_channel("Local", resource, context=self.context, exten=self.exten, name=n1,
                              linkedid=t.linkedid)
        two = pbx.new_channel("Local", resource, context=self.context, exten=self.exten, name=n2, state=4,
                              linkedid=t.linkedid)
        one.local_peer, two.local_peer = two, one
        self.one, self.two = one, two
        pbx.set_var(one, "TRANSFERERNAME", t.name)
        pbx.set_var(one, "ATTENDEDTRANSFER", t.name)
        consult = pbx.bridge_create()
        self.consult = consult
        pbx.set_var(two, "ATTENDEDTRANSFER", t.name)
        pbx.set_var(two, "TRANSFERERNAME", t.name)
        lb = one.headers("LocalOne")
        lb.extend(two.headers("LocalTwo"))
        lb.extend([("Context", self.context), ("Exten", self.exten), ("LocalOptimization", "No")])
        pbx.emit("LocalBridge", P_CALL, lb)
        pbx.bridge_enter(one, consult)
        pbx.start_driver(one, lambda: pbx.bridge_wait(one, consult))
        two.dnid = self.exten
        pbx.start_pbx(two)
        # wait for the target to answer (or fail)
        while two.state != 6:
            if two.hungup or two.soft_hangup or one.hungup or t.soft_hangup or t.hungup:
                self._cancel(transferees)
                return
            await pbx.clock.sleep(0.05)
        pbx.set_state(one, 6)
        h = one.headers("Dest")
        h.append(("DialStatus", "ANSWER"))
        pbx.emit("DialEnd", P_CALL, h)
        orig.keep_for = t  # the caller's bridge stays while the agent consults
        consult.on_leave = self._on_consult_leave
        pbx.pull_into_bridge(t, consult)
        if t.task is None:
            pbx.start_driver(t, lambda: asyncio.sleep(0))

    def _stop_moh(self, chans: list[Channel]) -> None:
        for c in chans:
            if c.moh and not c.hungup:
                c.moh = False
                self.pbx.chan_event("MusicOnHoldStop", P_CALL, c)

    def _abort(self, transferees: list[Channel]) -> None:
        self._stop_moh(transferees)
        self.pbx.chan_event("Unhold", P_CALL, self.transferer)

    def _cancel(self, transferees: list[Channel]) -> None:
        if self.done:
            return
        self.done = True
        pbx, t, orig = self.pbx, self.transferer, self.orig
        assert orig is not None
        if self.one is not None and not self.one.hungup:
            pbx.remote_hangup(self.one, cause=16)
        if not t.hungup and not t.soft_hangup and t.bridge is not orig and not orig.destroyed:
            orig.keep_for = t
            pbx.pull_into_bridge(t, orig)
        self._abort(transferees)

    def _on_consult_leave(self, chan: Channel) -> None:
        if self.done:
            return
        pbx, t, orig, consult, one = self.pbx, self.transferer, self.orig, self.consult, self.one
        assert orig is not None and consult is not None and one is not None
        transferees = [c for c in orig.channels if c is not t]
        if chan is t and t.soft_hangup and not one.soft_hangup:
            # the agent hung up during the consultation: caller and target are joined
            self.done = True
            merge = orig.headers("ToBridge")
            merge.extend(consult.headers("FromBridge"))
            pbx.emit("BridgeMerge", P_CALL, merge)
            orig.keep_for = one
            consult.on_leave = None
            pbx.pull_into_bridge(one, orig)
            self._stop_moh(transferees)
            h = [("Result", "Success")]
            h.extend(t.headers("OrigTransferer"))
            h.extend(orig.headers("OrigBridge"))
            h.extend(t.headers("SecondTransferer"))
            h.extend(consult.headers("SecondBridge"))
            if transferees:
                h.extend(transferees[0].headers("Transferee"))
            h.extend(one.headers("TransferTarget"))
            h.extend([("IsExternal", "No"), ("DestType", "Bridge"), ("DestBridgeUniqueid", orig.uniqueid)])
            pbx.emit("AttendedTransfer", P_CALL, h)
            return
        if chan is one:
            # the target hung up: the agent goes back to the caller
            consult.on_leave = None
            self._cancel(transferees)
