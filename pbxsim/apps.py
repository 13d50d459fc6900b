"""Dialplan applications used by deploy/asterisk/extensions.conf, and outbound legs (Dial, Originate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from .channels import RINGING, UP, Channel, WakeReason
from .dialplan import parse_goto_target, split_args
from .engine import GOTO, P_CALL, Endpoint, Pbx

App = Callable[[Channel, str], Awaitable[int]]

DIAL_VARS_PRE = (
    "DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME",
    "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS",
)


def dest_headers(chan: Channel) -> list[tuple[str, str]]:
    return chan.headers("Dest")


@dataclass
class Apps:
    pbx: Pbx

    def install(self) -> None:
        p = self.pbx
        p.apps.update({
            "noop": self.noop,
            "set": self.set,
            "answer": self.answer,
            "agi": self.agi,
            "hangup": self.hangup,
            "gotoif": self.gotoif,
            "goto": self.goto,
            "wait": self.wait,
            "dial": self.dial,
            "musiconhold": self.musiconhold,
            "playback": self.playback,
            "busy": self.busy,
            "congestion": self.congestion,
            "ringing": self.ringing,
            "echo": self.echo,
            "progress": self.noop,
            "verbose": self.noop,
            "log": self.noop,
        })

    # -- simple apps ------------------------------------------------------------
    async def noop(self, chan: Channel, data: str) -> int:
        return 0

    async def set(self, chan: Channel, data: str) -> int:
        name, _, value = data.partition("=")
        self.pbx.set_var(chan, name.strip(), value)
        return 0

    async def answer(self, chan: Channel, data: str) -> int:
        self.pbx.answer(chan)
        if chan.call is not None:
            chan.call.answered = True
        return 0

    async def hangup(self, chan: Channel, data: str) -> int:
        """Hangup([cause]) as pbx_builtin_hangup: a cause given wins; without one (or an invalid
        one) the channel keeps the cause it already has (e.g. a failed Dial's), else 16."""
        text = data.strip()
        cause = int(text) if text.isdigit() else 0
        if cause <= 0:
            cause = chan.hangup_cause if chan.hangup_cause > 0 else 16
        chan.hangup_cause = cause
        chan.hangup_by = chan.hangup_by or "pbx"
        return -1

    async def goto(self, chan: Channel, data: str) -> int:
        ctx, ext, prio = parse_goto_target(data, chan)
        p = self.pbx.dialplan.resolve_label(ctx, ext, prio)
        if p is None:
            return -1
        chan.context, chan.exten, chan.priority = ctx, ext, p
        return GOTO

    async def gotoif(self, chan: Channel, data: str) -> int:
        cond, _, rest = data.partition("?")
        iftrue, _, iffalse = rest.partition(":")
        truthy = cond.strip().strip('"') not in ("", "0")
        target = iftrue if truthy else iffalse
        if not target.strip():
            return 0
        return await self.goto(chan, target.strip())

    async def wait(self, chan: Channel, data: str) -> int:
        try:
            seconds = float(data) if data.strip() else 0.0
        except ValueError:
            seconds = 0.0
        start = self.pbx.clock.now()
        while True:
            left = seconds - (self.pbx.clock.now() - start)
            if left <= 0:
                return 0
            reason, _ = await self.pbx.wait(chan, left)
            if reason == WakeReason.TIMEOUT:
                return 0
            if reason == WakeReason.HANGUP:
                return -1
            if reason == WakeReason.REDIRECT and self.pbx.interrupted(chan):
                return 0

    async def agi(self, chan: Channel, data: str) -> int:
        if not data.startswith("agi:async"):
            return -1
        assert self.pbx.agi_factory is not None
        session = self.pbx.agi_factory(chan)
        return await session.run()

    async def playback(self, chan: Channel, data: str) -> int:
        args = split_args(data)
        files = args[0].split("&") if args else []
        pbx = self.pbx
        for f in files:
            seconds = pbx.audio_cache.prompt_seconds(f)
            start = pbx.clock.now()
            while True:
                left = seconds - (pbx.clock.now() - start)
                if left <= 0:
                    break
                reason, _ = await pbx.wait(chan, left)
                if reason == WakeReason.TIMEOUT:
                    break
                if reason == WakeReason.HANGUP or (reason == WakeReason.REDIRECT and pbx.interrupted(chan)):
                    pbx.set_var(chan, "PLAYBACKSTATUS", "FAILED")
                    return -1 if reason == WakeReason.HANGUP else 0
        pbx.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
        return 0

    async def musiconhold(self, chan: Channel, data: str) -> int:
        args = split_args(data)
        klass = args[0] if args and args[0] else "default"
        duration = float(args[1]) if len(args) > 1 and args[1] else None
        pbx = self.pbx
        if chan.call is not None:
            chan.call.enter("hold", pbx.clock.now())
        chan.moh = True
        pbx.chan_event("MusicOnHoldStart", P_CALL, chan, (("Class", klass),))
        start = pbx.clock.now()
        res = 0
        try:
            while True:
                left = None if duration is None else duration - (pbx.clock.now() - start)
                if left is not None and left <= 0:
                    break
                reason, _ = await pbx.wait(chan, left)
                if reason == WakeReason.TIMEOUT:
                    break
                if reason == WakeReason.HANGUP:
                    res = -1
                    break
                if reason == WakeReason.REDIRECT and pbx.interrupted(chan):
                    break
        finally:
            if chan.moh:
                chan.moh = False
                if not chan.hungup:
                    pbx.chan_event("MusicOnHoldStop", P_CALL, chan)
            if chan.call is not None and not chan.hungup:
                chan.call.enter("dialplan", pbx.clock.now())
        return res

    async def busy(self, chan: Channel, data: str) -> int:
        return await self._indicate(chan, 17, data)

    async def congestion(self, chan: Channel, data: str) -> int:
        return await self._indicate(chan, 34, data)

    async def _indicate(self, chan: Channel, cause: int, data: str) -> int:
        chan.hangup_cause = cause
        chan.indication = cause
        if chan.local_peer is not None:
            chan.local_peer.wake("indication")
        await self.wait(chan, data or "0")
        return -1

    async def ringing(self, chan: Channel, data: str) -> int:
        self.pbx.set_state(chan, RINGING)
        peer = chan.local_peer
        if peer is not None and peer.originating:
            # the Originate dialling the pair hears the ringing indication (live 22.10.1)
            self._dial_state(None, peer, "RINGING")
        return 0

    async def echo(self, chan: Channel, data: str) -> int:
        reason, _ = await self.pbx.wait(chan, None)
        return -1 if reason == WakeReason.HANGUP else 0

    # -- Dial -------------------------------------------------------------------------
    async def dial(self, chan: Channel, data: str) -> int:
        pbx = self.pbx
        args = split_args(data)
        target = args[0].split("&")[0] if args else ""
        timeout = float(args[1]) if len(args) > 1 and args[1].strip() else None
        for v in DIAL_VARS_PRE:
            pbx.set_var(chan, v, "")
        ep = pbx.resolve(target)
        if ep.kind == "unknown" or (ep.kind == "agent" and ep.agent is not None and ep.agent.mode == "unregistered"):
            pbx.set_var(chan, "DIALSTATUS", "CHANUNAVAIL")
            return 0
        if ep.kind == "local":
            pbx.set_var(chan, "DIALSTATUS", "CHANUNAVAIL")
            return 0
        dial_string = target.partition("/")[2]
        num, name = pbx.endpoint_callerid(ep)
        if ep.kind == "trunk":
            num, name = ep.number, "<unknown>"
        callee = pbx.new_channel(
            "PJSIP", ep.resource, context=pbx.config.agent_context if ep.kind == "agent" else pbx.config.trunk_context,
            exten="s", linkedid=chan.linkedid, caller_num=num, caller_name=name,
        )
        callee.dial_peer = chan
        pbx.attach_far_end_audio(callee, ep)
        pbx.inherit_vars(chan, callee)
        pbx.set_var(callee, "DIALEDPEERNUMBER", dial_string)
        callee.context, callee.exten = chan.context, chan.exten
        pbx.chan_event("Newexten", "dialplan,all", callee, (
            ("Extension", callee.exten), ("Application", "AppDial"), ("AppData", "(Outgoing Line)")))
        callee.application, callee.appdata = "AppDial", "(Outgoing Line)"
        pbx.set_connected(callee, chan.caller_num, chan.caller_name)
        h = chan.headers()
        h.extend(dest_headers(callee))
        h.append(("DialString", dial_string))
        pbx.emit("DialBegin", P_CALL, h)
        pbx.set_connected(chan, callee.caller_num, callee.caller_name)
        if chan.call is not None:
            chan.call.enter("ringing-agent", pbx.clock.now())
        callee.on_hangup.append(lambda _c: chan.wake("peer"))
        t0 = pbx.clock.now()
        outcome = await self._ring(ep, timeout, chan, callee)
        status = {"answer": "ANSWER", "busy": "BUSY", "congestion": "CONGESTION", "noanswer": "NOANSWER",
                  "cancel": "CANCEL", "hangup": "CANCEL"}.get(outcome, "CHANUNAVAIL")
        if outcome != "answer":
            if outcome == "busy":
                pbx.remote_hangup(callee, cause=17, tech_cause=486, destroy=False)
            elif outcome == "congestion":
                pbx.remote_hangup(callee, cause=34, tech_cause=503, destroy=False)
            if outcome in ("busy", "congestion", "hangup"):
                # app_dial: ast_channel_hangupcause_set(in, ast_channel_hangupcause(c)); a
                # Hangup() after the Dial keeps it (see hangup)
                chan.hangup_cause = callee.hangup_cause
            self._dial_end(chan, callee, status)
            if not callee.hungup:
                if outcome == "noanswer":
                    callee.hangup_cause = 0
                pbx.destroy(callee)
            pbx.set_var(chan, "DIALSTATUS", status)
            if chan.call is not None and not chan.hungup:
                chan.call.enter("dialplan", pbx.clock.now())
            return -1 if outcome == "cancel" or chan.soft_hangup else 0
        # answered
        pbx.set_state(callee, UP)
        pbx.set_var(chan, "DIALSTATUS", "ANSWER")
        pbx.set_var(chan, "DIALEDPEERNAME", callee.name)
        pbx.set_var(chan, "DIALEDPEERNUMBER", dial_string)
        self._dial_end(chan, callee, "ANSWER")
        pbx.set_state(chan, UP)
        bridge = pbx.bridge_create()
        callee.exten = ""
        pbx.chan_event("Newexten", "dialplan,all", callee, (
            ("Extension", ""), ("Application", "AppDial"), ("AppData", "(Outgoing Line)")))
        pbx.bridge_enter(callee, bridge)
        pbx.bridge_enter(chan, bridge)
        pbx.set_var(callee, "BRIDGEPEER", chan.name)
        pbx.set_var(chan, "BRIDGEPEER", callee.name)
        pbx.start_driver(callee, lambda: pbx.bridge_wait(callee, bridge))
        pbx.schedule_far_end_hangup(callee, ep)
        answered_at = pbx.clock.now()
        await pbx.bridge_wait(chan, bridge)
        now = pbx.clock.now()
        pbx.set_var(chan, "ANSWEREDTIME", str(int(now - answered_at)))
        pbx.set_var(chan, "ANSWEREDTIME_MS", str(int((now - answered_at) * 1000)))
        pbx.set_var(chan, "DIALEDTIME", str(int(now - t0)))
        pbx.set_var(chan, "DIALEDTIME_MS", str(int((now - t0) * 1000)))
        pbx.set_var(chan, "DIALSTATUS", "ANSWER")
        return -1 if chan.soft_hangup else 0

    def _dial_end(self, chan: Channel | None, callee: Channel, status: str) -> None:
        h = chan.headers() if chan is not None else []
        h.extend(dest_headers(callee))
        h.append(("DialStatus", status))
        self.pbx.emit("DialEnd", P_CALL, h)

    def _dial_state(self, chan: Channel | None, callee: Channel, status: str) -> None:
        h = chan.headers() if chan is not None else []
        h.extend(dest_headers(callee))
        h.append(("DialStatus", status))
        self.pbx.emit("DialState", P_CALL, h)

    async def _ring(self, ep: Endpoint, timeout: float | None, chan: Channel | None, callee: Channel) -> str:
        """The far end's answer; waits on the caller (if any) so its hang-up cancels the attempt."""
        pbx = self.pbx
        mode, delay = ("answer", 0.0)
        if ep.kind == "agent" and ep.agent is not None:
            mode, delay = ep.agent.mode, ep.agent.answer_after
        elif ep.kind == "trunk" and ep.trunk is not None:
            mode, delay = ep.trunk.mode, ep.trunk.answer_after
        if mode == "busy":
            return "busy"
        if mode == "congestion":
            return "congestion"
        pbx.set_state(callee, RINGING)
        if chan is not None:
            pbx.set_var(chan, "RINGTIME", "0")
            pbx.set_var(chan, "RINGTIME_MS", "4")
        self._dial_state(chan, callee, "RINGING")
        if mode in ("ring", "never"):
            delay = float("inf")
        waiter = chan if chan is not None else callee
        start = pbx.clock.now()
        while True:
            elapsed = pbx.clock.now() - start
            limit = delay if timeout is None else min(delay, timeout)
            left = limit - elapsed
            if left <= 0:
                break
            reason, _ = await pbx.wait(waiter, None if left == float("inf") else left)
            if callee.hungup or callee.soft_hangup:
                return "hangup"
            if reason == WakeReason.HANGUP:
                return "cancel"
            if reason == WakeReason.REDIRECT and pbx.interrupted(waiter):
                return "cancel"
            if reason == WakeReason.TIMEOUT:
                break
        if timeout is not None and timeout < delay:
            return "noanswer"
        return "answer"
