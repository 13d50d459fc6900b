"""Action: Originate (PJSIP seats, the trunk, Local channels), as Asterisk 22 reports it.

Reasons in ``OriginateResponse``: 4 answered, 3 no answer before Timeout,
5 busy / 8 congestion (only from Local channels running Busy()/Congestion()),
0 everything else, including a SIP 486 Busy Here. A failure names the dial
string in ``Channel`` and has ``Uniqueid: <unknown>`` unless ``ChannelId`` was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .apps import Apps
from .channels import DOWN, RING, UP, Channel, WakeReason
from .engine import P_CALL, P_DIALPLAN, Pbx


def parse_callerid(text: str | None) -> tuple[str, str] | None:
    """``"Name" <num>``, ``Name <num>``, ``num`` -> (num, name)."""
    if text is None or not text.strip():
        return None
    t = text.strip()
    if "<" in t and t.endswith(">"):
        name = t[: t.index("<")].strip().strip('"')
        num = t[t.index("<") + 1 : -1]
        return num, name
    return t, ""


@dataclass
class OriginateRequest:
    channel: str
    context: str | None = None
    exten: str | None = None
    priority: str | None = None
    application: str | None = None
    data: str | None = None
    timeout_ms: int = 30000
    callerid: str | None = None
    variables: list[tuple[str, str]] = field(default_factory=list)
    channel_id: str | None = None
    other_channel_id: str | None = None
    action_id: str | None = None
    asynchronous: bool = True  # only an async Originate reports an OriginateResponse event


@dataclass
class OriginateResult:
    success: bool
    reason: int
    channel: Channel | None


@dataclass
class Originator:
    pbx: Pbx
    apps: Apps

    def _response_event(self, req: OriginateRequest, ok: bool, reason: int, chan: Channel | None,
                        cid: tuple[str, str] | None) -> None:
        if not req.asynchronous:
            return
        h: list[tuple[str, str]] = []
        if req.action_id is not None:
            h.append(("ActionID", req.action_id))
        h.append(("Response", "Success" if ok else "Failure"))
        h.append(("Channel", chan.name if ok and chan is not None else req.channel))
        if req.application:
            h.append(("Application", req.application))
            h.append(("Data", req.data or ""))
        else:
            h.append(("Context", req.context or ""))
            h.append(("Exten", req.exten or ""))
        h.append(("Reason", str(reason)))
        if ok and chan is not None:
            uid = chan.uniqueid
        else:
            uid = req.channel_id or "<unknown>"
        h.append(("Uniqueid", uid))
        if chan is not None:
            h.append(("CallerIDNum", chan.caller_num))
            h.append(("CallerIDName", chan.caller_name))
        else:
            h.append(("CallerIDNum", cid[0] if cid else "<unknown>"))
            h.append(("CallerIDName", (cid[1] or "<unknown>") if cid else "<unknown>"))
        self.pbx.emit("OriginateResponse", P_CALL, h)

    async def run(self, req: OriginateRequest, emit_response: bool = True) -> OriginateResult:
        tech, _, rest = req.channel.partition("/")
        if tech.lower() == "local":
            res = await self._local(req)
        else:
            res = await self._pjsip(req)
        return res

    async def _pjsip(self, req: OriginateRequest) -> OriginateResult:
        pbx = self.pbx
        cid = parse_callerid(req.callerid)
        ep = pbx.resolve(req.channel)
        if ep.kind == "unknown" or (ep.kind == "agent" and ep.agent is not None and ep.agent.mode == "unregistered"):
            self._response_event(req, False, 0, None, cid)
            return OriginateResult(False, 0, None)
        num, name = pbx.endpoint_callerid(ep)
        if ep.kind == "trunk":
            num, name = ep.number, "<unknown>"
        context = pbx.config.agent_context if ep.kind == "agent" else pbx.config.trunk_context
        chan = pbx.new_channel("PJSIP", ep.resource, context=context, exten="s", caller_num=num,
                               caller_name=name, uniqueid=req.channel_id)
        chan.dnid = ep.number
        pbx.attach_far_end_audio(chan, ep)
        pbx.chan_event("Newexten", P_DIALPLAN, chan, (
            ("Extension", "s"), ("Application", "AppDial2"), ("AppData", "(Outgoing Line)")))
        chan.application, chan.appdata = "AppDial2", "(Outgoing Line)"
        for k, v in req.variables:
            pbx.set_var(chan, k, v)
        if cid is not None:
            pbx.set_callerid(chan, cid[0], cid[1])
            pbx.set_connected(chan, cid[0], cid[1])
        dial_string = req.channel.partition("/")[2]
        h = chan.headers("Dest")
        h.append(("DialString", dial_string))
        pbx.emit("DialBegin", P_CALL, h)
        timeout = req.timeout_ms / 1000.0 if req.timeout_ms > 0 else None
        outcome = await self.apps._ring(ep, timeout, None, chan)
        if outcome == "busy" or outcome == "congestion":
            pbx.remote_hangup(chan, cause=17 if outcome == "busy" else 34, tech_cause=486 if outcome == "busy" else 503,
                              destroy=False)
            self.apps._dial_end(None, chan, "BUSY" if outcome == "busy" else "CONGESTION")
            if req.channel_id:
                self._response_event(req, False, 0, None, cid)
                pbx.destroy(chan)
            else:
                pbx.destroy(chan)
                self._response_event(req, False, 0, None, cid)
            return OriginateResult(False, 0, None)
        if outcome == "noanswer":
            self._response_event(req, False, 3, None, cid)
            chan.hangup_cause, chan.tech_cause = 19, 480
            pbx.destroy(chan)
            return OriginateResult(False, 3, None)
        if outcome != "answer":
            if not chan.hungup:
                pbx.destroy(chan)
            self._response_event(req, False, 0, None, cid)
            return OriginateResult(False, 0, None)
        self._response_event(req, True, 4, chan, cid)
        pbx.set_state(chan, UP)
        self.apps._dial_end(None, chan, "ANSWER")
        self._continue(chan, req)
        pbx.schedule_far_end_hangup(chan, ep)
        return OriginateResult(True, 4, chan)

    def _continue(self, chan: Channel, req: OriginateRequest) -> None:
        """After the answer: the dialplan at Context/Exten/Priority, or the Application."""
        pbx = self.pbx
        if req.application:
            app = pbx.apps.get(req.application.lower())

            async def body() -> None:
                chan.application, chan.appdata = req.application or "", req.data or ""
                if app is not None:
                    await app(chan, req.data or "")

            pbx.start_driver(chan, body)
            return
        prio = req.priority or "1"
        ctx, ext = req.context or "default", req.exten or "s"
        p = pbx.dialplan.resolve_label(ctx, ext, prio)
        chan.context, chan.exten, chan.priority = ctx, ext, p or 1
        pbx.start_pbx(chan)

    async def _local(self, req: OriginateRequest) -> OriginateResult:
        pbx = self.pbx
        cid = parse_callerid(req.callerid)
        resource = req.channel.partition("/")[2].split("/")[0]
        exten, _, ctx = resource.partition("@")
        ctx = ctx or "default"
        n1, n2 = pbx.registry.next_local(resource)
        num, name = (cid if cid else ("<unknown>", "<unknown>"))
        one = pbx.new_channel("Local", resource, context=ctx, exten=exten, name=n1, uniqueid=req.channel_id,
                              caller_num=num or "<unknown>", caller_name=name or "<unknown>")
        two = pbx.new_channel("Local", resource, context=ctx, exten=exten, name=n2, state=RING,
                              linkedid=one.linkedid, uniqueid=req.other_channel_id,
                              caller_num=num or "<unknown>", caller_name=name or "<unknown>")
        one.local_peer, two.local_peer = two, one
        pbx.chan_event("Newexten", P_DIALPLAN, one, (
            ("Extension", exten), ("Application", "AppDial2"), ("AppData", "(Outgoing Line)")))
        for k, v in req.variables:
            pbx.set_var(one, k, v)
        if cid is not None:
            pbx.set_callerid(one, cid[0], cid[1])
            pbx.set_connected(one, cid[0], cid[1])
        for k, v in req.variables:
            pbx.set_var(two, k, v)
        if cid is not None:
            pbx.set_callerid(two, cid[0], cid[1])
            pbx.set_connected(two, cid[0], cid[1])
        if not pbx.dialplan.exists(ctx, exten, 1):
            # the pair is built, then both halves go away: no LocalBridge, no DialBegin
            two.local_peer = one.local_peer = None
            pbx.destroy(two)
            pbx.destroy(one)
            self._response_event(req, False, 0, None, cid)
            return OriginateResult(False, 0, None)
        lb = one.headers("LocalOne")
        lb.extend(two.headers("LocalTwo"))
        lb.extend([("Context", ctx), ("Exten", exten), ("LocalOptimization", "No")])
        pbx.emit("LocalBridge", P_CALL, lb)
        h = one.headers("Dest")
        h.append(("DialString", resource))
        pbx.emit("DialBegin", P_CALL, h)
        two.dnid = exten
        one.originating = True
        try:
            pbx.start_pbx(two)
            timeout = req.timeout_ms / 1000.0 if req.timeout_ms > 0 else None
            start = pbx.clock.now()
            while two.state != UP:
                if two.hungup or two.soft_hangup or two.indication:
                    # Busy()/Congestion() indicate (Reason 5/8, DialStatus BUSY/CONGESTION); a ;2 that just
                    # hangs up (Hangup(21), a failed Dial) gives Reason 0 and NOANSWER whatever its cause.
                    # The dial's end and the outcome come before ;1 is hung up (live 22.10.1).
                    reason = {17: 5, 34: 8}.get(two.indication, 0)
                    self.apps._dial_end(None, one, {5: "BUSY", 8: "CONGESTION"}.get(reason, "NOANSWER"))
                    self._response_event(req, False, reason, None, cid)
                    one.originating = False
                    if not one.hungup:
                        # ;2 (still in Busy()/Congestion()) is told with ;1's cause, 0: it keeps its own
                        pbx.destroy(one)
                    return OriginateResult(False, reason, None)
                left = None if timeout is None else timeout - (pbx.clock.now() - start)
                if left is not None and left <= 0:
                    self._response_event(req, False, 3, None, cid)
                    one.originating = False
                    one.hangup_cause = 19  # no answer; ;2 ends with it too
                    pbx.destroy(one)
                    return OriginateResult(False, 3, None)
                await pbx.wait(one, left if left is None else min(left, 0.05))
        finally:
            one.originating = False
        pbx.set_state(one, UP)
        self.apps._dial_end(None, one, "ANSWER")
        self._response_event(req, True, 4, one, cid)
        self._continue(one, req)
        return OriginateResult(True, 4, one)


__all__ = ["Originator", "OriginateRequest", "OriginateResult", "parse_callerid", "DOWN", "WakeReason"]
