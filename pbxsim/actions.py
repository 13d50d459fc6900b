"""AMI actions: responses, list responses and error texts exactly as Asterisk 22 sends them."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Awaitable, Callable

from .channels import STATE_DESC, Bridge, Channel
from .engine import P_SYSTEM, Pbx
from .originate import OriginateRequest, Originator
from .server import AmiSession, Request, ami_time

if TYPE_CHECKING:  # pragma: no cover
    from .sim import PbxSimulator

Handler = Callable[[AmiSession, Request], Awaitable[None]]


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}:{s % 60:02d}"


@dataclass
class ActionHandler:
    sim: "PbxSimulator"
    handlers: dict[str, Handler] = field(default_factory=dict)

    @property
    def pbx(self) -> Pbx:
        return self.sim.pbx

    def __post_init__(self) -> None:
        for name in (
            "Login", "Logoff", "Ping", "Events", "Command", "CoreShowChannels", "CoreShowChannelMap", "CoreStatus",
            "Status", "Setvar", "Getvar", "Originate", "Redirect", "Hangup", "Bridge", "AGI", "PlayDTMF",
            "ListCommands", "Challenge",
        ):
            self.handlers[name.lower()] = getattr(self, "a_" + name.lower())

    def register(self, name: str, fn: Handler) -> None:
        self.handlers[name.lower()] = fn

    async def handle(self, s: AmiSession, req: Request) -> None:
        action = req.action
        aid = req.action_id
        if action is None:
            s.respond(aid, "Error", [("Message", "Missing action in request")])
            self._bad_format(s, "NONE")
            return
        key = action.lower()
        if not s.authenticated and key not in ("login", "logoff", "challenge"):
            s.respond(aid, "Error", [("Message", "Permission denied")])
            return
        fn = self.handlers.get(key)
        if fn is None:
            s.respond(aid, "Error", [(
                "Message", f"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.")])
            self._bad_format(s, action)
            return
        await fn(s, req)

    def _bad_format(self, s: AmiSession, action: str) -> None:
        if not s.authenticated:
            return
        h = [("EventTV", ami_time(time.time())), ("Severity", "Error"), ("Service", "AMI"), ("EventVersion", "1")]
        h.extend(s.security_headers())
        h.append(("RequestType", f"Action: {action}"))
        h.append(("SessionTV", s.login_tv))
        h.append(("AccountID", s.username))
        self.sim.server.broadcast_security("RequestBadFormat", h)

    # -- session -------------------------------------------------------------------------
    def _channel(self, s: AmiSession, aid: str | None, name: str | None, unknown: str) -> Channel | None:
        """The live channel called ``name``, or None after answering the action with Asterisk's
        error text for it (each action has its own: "No such channel", "Channel1 does not exist: ...")."""
        c = self.pbx.registry.get(name) if name else None
        if c is None:
            s.respond(aid, "Error", [("Message", unknown)])
        return c

    async def a_login(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        user = req.get("Username") or ""
        secret = req.get("Secret") or ""
        cfg = self.sim.config
        if user != cfg.username or secret != cfg.secret:
            now = ami_time(time.time())
            h = [("EventTV", now), ("Severity", "Error"), ("Service", "AMI"),
                 ("EventVersion", "2" if user == cfg.username else "1"), ("AccountID", user)]
            h.extend(s.security_headers())
            h.append(("SessionTV", "1970-01-01T00:00:00.000+0000"))
            self.sim.server.broadcast_security("InvalidPassword" if user == cfg.username else "InvalidAccountID", h)
            await asyncio.sleep(cfg.login_fail_delay)
            s.respond(aid, "Error", [("Message", "Authentication failed")])
            s.close()
            return
        s.authenticated = True
        s.username = user
        s.login_tv = ami_time(time.time())
        s.set_event_mask(req.get("Events"))
        s.respond(aid, "Success", [("Message", "Authentication accepted")])
        uptime = str(int(time.time() - self.pbx.booted_at))
        if s.wants(P_SYSTEM):
            s.send_event("FullyBooted", [("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")],
                         P_SYSTEM)
        h = [("EventTV", s.login_tv), ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", "1"),
             ("AccountID", user)]
        h.extend(s.security_headers())
        h.append(("UsingPassword", "0"))
        h.append(("SessionTV", s.login_tv))
        self.sim.server.broadcast_security("SuccessfulAuth", h)

    async def a_challenge(self, s: AmiSession, req: Request) -> None:
        s.respond(req.action_id, "Success", [("Challenge", "%09d" % (int(time.time() * 1000) % 10**9))])

    async def a_logoff(self, s: AmiSession, req: Request) -> None:
        s.respond(req.action_id, "Goodbye", [("Message", "Thanks for all the fish.")])
        s.close()

    async def a_ping(self, s: AmiSession, req: Request) -> None:
        s.respond(req.action_id, "Success", [("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")])

    async def a_events(self, s: AmiSession, req: Request) -> None:
        s.set_event_mask(req.get("EventMask") or "off")
        s.respond(req.action_id, "Success", [("Events", "On" if s.events_on else "Off")])

    async def a_listcommands(self, s: AmiSession, req: Request) -> None:
        s.respond(req.action_id, "Success", [
            (name, f"{name}. Priv: <none>") for name in sorted(self.handlers)])

    # -- status ------------------------------------------------------------------------------
    async def a_corestatus(self, s: AmiSession, req: Request) -> None:
        boot = datetime.fromtimestamp(self.pbx.booted_at)
        calls = sum(1 for c in self.pbx.registry.channels.values() if c.local_peer is None or c.name.endswith(";1"))
        s.respond(req.action_id, "Success", [
            ("CoreStartupDate", boot.strftime("%Y-%m-%d")), ("CoreStartupTime", boot.strftime("%H:%M:%S")),
            ("CoreReloadDate", boot.strftime("%Y-%m-%d")), ("CoreReloadTime", boot.strftime("%H:%M:%S")),
            ("CoreCurrentCalls", str(calls)), ("CoreProcessedCalls", str(self.pbx.metrics.channels_created)),
        ])

    def _list_start(self, s: AmiSession, aid: str | None, message: str) -> None:
        s.respond(aid, "Success", [("EventList", "start"), ("Message", message)])

    def _list_complete(self, s: AmiSession, aid: str | None, name: str, n: int,
                       extra: list[tuple[str, str]] | None = None) -> None:
        h: list[tuple[str, str]] = []
        if aid is not None:
            h.append(("ActionID", aid))
        h.extend([("EventList", "Complete"), ("ListItems", str(n))])
        if extra:
            h.extend(extra)
        s.send_event(name, h)

    async def a_coreshowchannels(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        self._list_start(s, aid, "Channels will follow")
        now = self.pbx.clock.now()
        n = 0
        for c in list(self.pbx.registry.channels.values()):
            h: list[tuple[str, str]] = [("ActionID", aid)] if aid is not None else []
            h.extend(c.headers())
            h.extend([("Application", c.application), ("ApplicationData", c.appdata),
                      ("Duration", _hms(now - c.created)), ("BridgeId", c.bridge.uniqueid if c.bridge else "")])
            s.send_event("CoreShowChannel", h)
            n += 1
        self._list_complete(s, aid, "CoreShowChannelsComplete", n)

    async def a_coreshowchannelmap(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        self._list_start(s, aid, "Channel map will follow")
        chan = self.pbx.registry.get(req.get("Channel"))
        n = 0
        if chan is not None and chan.bridge is not None:
            for other in chan.bridge.channels:
                if other is chan:
                    continue
                h: list[tuple[str, str]] = [("ActionID", aid)] if aid is not None else []
                h.extend([("Channel", chan.name), ("ConnectedChannel", other.name)])
                s.send_event("CoreShowChannelMap", h)
                n += 1
        self._list_complete(s, aid, "CoreShowChannelMapComplete", n)

    async def a_status(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        name = req.get("Channel")
        if name:
            c = self._channel(s, aid, name, "No such channel")
            if c is None:
                return
            chans = [c]
        else:
            chans = list(self.pbx.registry.channels.values())
        variables = [v.strip() for v in (req.get("Variables") or "").split(",") if v.strip()]
        self._list_start(s, aid, "Channel status will follow")
        now = self.pbx.clock.now()
        for c in chans:
            h = c.headers()
            h.extend([
                ("Type", c.tech), ("DNID", c.dnid), ("EffectiveConnectedLineNum", c.connected_num),
                ("EffectiveConnectedLineName", c.connected_name), ("TimeToHangup", "0"),
                ("BridgeID", c.bridge.uniqueid if c.bridge else ""), ("Application", c.application),
                ("Data", c.appdata), ("Nativeformats", "(ulaw)"), ("Readformat", "ulaw"), ("Readtrans", ""),
                ("Writeformat", "ulaw"), ("Writetrans", ""), ("Callgroup", "0"), ("Pickupgroup", "0"),
                ("Seconds", str(int(now - c.created))),
            ])
            for v in variables:
                val = self._read_var(c, v)
                h.append(("Variable", f"{v}={'(null)' if val is None else val}"))
            if aid is not None:
                h.append(("ActionID", aid))
            s.send_event("Status", h, "Call")
        self._list_complete(s, aid, "StatusComplete", len(chans), [("Items", str(len(chans)))])

    def _read_var(self, c: Channel | None, name: str) -> str | None:
        if "(" in name:
            return self.pbx.subst.value_of(c, name)
        if c is None:
            return self.pbx.globals.get(name)
        v = c.variables.get(name.lstrip("_"))
        if v is not None:
            return v
        if name in ("EXTEN", "CONTEXT", "PRIORITY", "CHANNEL", "UNIQUEID"):
            return self.pbx.subst.value_of(c, name)
        return None

    async def a_command(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        cmd = (req.get("Command") or "").strip()
        low = " ".join(cmd.lower().split())
        out: list[str]
        ok = True
        if low == "core show version":
            out = [f"Asterisk {self.sim.config.version} built by pbxsim @ sim on a x86_64 running Linux"]
        elif low in ("core show channels", "core show channels concise", "core show calls"):
            out = self._show_channels(low)
        elif low.startswith("core show uptime"):
            up = int(time.time() - self.pbx.booted_at)
            out = [f"System uptime: {up} seconds", f"Last reload: {up} seconds"]
        elif low.startswith("queue show") and self.pbx.queues is not None:
            out = self.pbx.queues.cli_show(cmd[len("queue show"):].strip())
        elif low.startswith("dialplan show"):
            out = self._dialplan_show(cmd[len("dialplan show"):].strip())
        else:
            ok = False
            words = cmd.split()
            out = [f"No such command '{cmd}' (type 'core show help {' '.join(words[:2])}' for other possible commands)"]
        h: list[tuple[str, str]] = [("Message", "Command output follows")]
        h.extend(("Output", line) for line in out)
        s.respond(aid, "Success" if ok else "Error", h)

    def _show_channels(self, low: str) -> list[str]:
        chans = list(self.pbx.registry.channels.values())
        if low.endswith("concise"):
            return [f"{c.name}!{c.context}!{c.exten}!{c.priority}!{STATE_DESC.get(c.state, 'Unknown')}!"
                    f"{c.application}!{c.appdata}!{c.caller_num}!!!3!{int(self.pbx.clock.now() - c.created)}!"
                    f"{c.bridge.uniqueid if c.bridge else '(None)'}!{c.uniqueid}" for c in chans]
        lines = []
        if low == "core show channels":
            lines.append(f"{'Channel':<64} {'Location':<32} {'State':<7} {'Application(Data)':<30}")
            for c in chans:
                loc = f"{c.exten}@{c.context}:{c.priority}"
                app = f"{c.application}({c.appdata})"
                lines.append(f"{c.name:<64} {loc:<32} {STATE_DESC.get(c.state, 'Unknown'):<7} {app:<30}")
            lines.append(f"{len(chans)} active channel{'s' if len(chans) != 1 else ''}")
        calls = len({c.linkedid for c in chans})
        lines.append(f"{calls} active call{'s' if calls != 1 else ''}")
        lines.append(f"{self.pbx.metrics.channels_created} calls processed")
        return lines

    def _dialplan_show(self, what: str) -> list[str]:
        ctxs = self.pbx.dialplan.contexts
        out: list[str] = []
        names = [what.partition("@")[2] or what] if what else list(ctxs)
        n_ext = n_prio = 0
        for name in names:
            ctx = ctxs.get(name)
            if ctx is None:
                continue
            out.append(f"[ Context '{name}' created by 'pbx_config' ]")
            for ext in list(ctx.exact.values()) + ctx.patterns:
                n_ext += 1
                first = True
                for p, st in sorted(ext.steps.items()):
                    n_prio += 1
                    head = f"  '{ext.pattern}' =>" if first else ""
                    out.append(f"{head:<20}{p}. {st.app}({st.data})")
                    first = False
            out.append("")
        out.append(f"-= {n_ext} extensions ({n_prio} priorities) in {len(names)} contexts. =-")
        return out

    # -- variables ------------------------------------------------------------------------
    async def a_setvar(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        var = req.get("Variable")
        if not var:
            s.respond(aid, "Error", [("Message", "No variable specified")])
            return
        value = req.get("Value") or ""
        name = req.get("Channel")
        c = None
        if name:
            c = self._channel(s, aid, name, "No such channel")
            if c is None:
                return
        if c is not None and var.upper().startswith("CALLERID(") and var.endswith(")"):
            which = var[9:-1].lower()
            if which == "num":
                self.pbx.set_callerid(c, value, c.caller_name)
            elif which == "name":
                self.pbx.set_callerid(c, c.caller_num, value)
        else:
            self.pbx.set_var(c, var, value)
        s.respond(aid, "Success", [("Message", "Variable Set")])

    async def a_getvar(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        var = req.get("Variable")
        if not var:
            s.respond(aid, "Error", [("Message", "No variable specified")])
            return
        name = req.get("Channel")
        c = None
        if name:
            c = self._channel(s, aid, name, "No such channel")
            if c is None:
                return
        val = self._read_var(c, var)
        s.respond(aid, "Success", [("Variable", var), ("Value", val or "")])

    # -- call control ---------------------------------------------------------------------
    async def a_originate(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        chan = req.get("Channel")
        if not chan:
            s.respond(aid, "Error", [("Message", "Channel not specified")])
            return
        variables: list[tuple[str, str]] = []
        for v in req.get_all("Variable"):
            for part in v.split(","):
                k, sep, val = part.partition("=")
                if sep:
                    variables.append((k.strip(), val))
        try:
            timeout = int(req.get("Timeout") or "30000")
        except ValueError:
            timeout = 30000
        exten = req.get("Exten")
        context = req.get("Context")
        application = req.get("Application")
        if not application and exten is None and context is None:
            pass
        o = OriginateRequest(
            channel=chan, context=context, exten=exten, priority=req.get("Priority"), application=application,
            data=req.get("Data"), timeout_ms=timeout, callerid=req.get("CallerID"), variables=variables,
            channel_id=req.get("ChannelId"), other_channel_id=req.get("OtherChannelId"), action_id=aid,
        )
        is_async = (req.get("Async") or "").strip().lower() in ("true", "yes", "1", "on")
        originator: Originator = self.sim.originator
        if is_async:
            s.respond(aid, "Success", [("Message", "Originate successfully queued")])
            self.pbx.spawn(originator.run(o))
            return
        o.asynchronous = False
        res = await originator.run(o)
        if res.success:
            s.respond(aid, "Success", [("Message", "Originate successfully queued")])
        else:
            s.respond(aid, "Error", [("Message", "Originate failed")])

    async def a_redirect(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        name = req.get("Channel")
        if not name:
            s.respond(aid, "Error", [("Message", "Channel not specified")])
            return
        c = self._channel(s, aid, name, f"Channel does not exist: {name}")
        if c is None:
            return
        extra_name = req.get("ExtraChannel")
        extra = None
        if extra_name:
            extra = self._channel(s, aid, extra_name, f"ExtraChannel does not exist: {extra_name}")
            if extra is None:
                return
        ctx = req.get("Context") or c.context
        exten = req.get("Exten") or c.exten
        prio_txt = (req.get("Priority") or "1").strip()
        # a numeric priority is not checked (an unknown extension hangs the channel up, as in Asterisk)
        prio = int(prio_txt) if prio_txt.isdigit() else self.pbx.dialplan.resolve_label(ctx, exten, prio_txt)
        if prio is None:
            s.respond(aid, "Error", [("Message", "Invalid priority")])
            return
        self.pbx.async_goto(c, ctx, exten, prio)
        self.sim.ensure_pbx(c)
        if extra is not None:
            ectx = req.get("ExtraContext") or ctx
            eexten = req.get("ExtraExten") or exten
            ep_txt = (req.get("ExtraPriority") or prio_txt).strip()
            eprio = int(ep_txt) if ep_txt.isdigit() else (self.pbx.dialplan.resolve_label(ectx, eexten, ep_txt) or 1)
            self.pbx.async_goto(extra, ectx, eexten, eprio)
            self.sim.ensure_pbx(extra)
            s.respond(aid, "Success", [("Message", "Dual Redirect successful")])
            return
        s.respond(aid, "Success", [("Message", "Redirect successful")])

    async def a_hangup(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        name = req.get("Channel") or ""
        cause_txt = req.get("Cause")
        cause = int(cause_txt) if cause_txt and cause_txt.strip().isdigit() else None
        if len(name) > 2 and name.startswith("/") and name.endswith("/"):
            try:
                rx = re.compile(name[1:-1])
            except re.error:
                s.respond(aid, "Error", [("Message", "Invalid regex")])
                return
            self._list_start(s, aid, "Channels hung up will follow")
            hit = [c for c in list(self.pbx.registry.channels.values()) if rx.search(c.name)]
            for c in hit:
                self.pbx.hangup_action(c, cause)
                h: list[tuple[str, str]] = [("Channel", c.name)]
                if aid is not None:
                    h.append(("ActionID", aid))
                s.send_event("ChannelHungup", h)
            self._list_complete(s, aid, "ChannelsHungupListComplete", len(hit))
            return
        if not name:
            s.respond(aid, "Error", [("Message", "No channel specified")])
            return
        c = self._channel(s, aid, name, "No such channel")
        if c is None:
            return
        self.pbx.hangup_action(c, cause)
        s.respond(aid, "Success", [("Message", "Channel Hungup")])

    async def a_bridge(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        n1, n2 = req.get("Channel1") or "", req.get("Channel2") or ""
        c1 = self._channel(s, aid, n1, f"Channel1 does not exist: {n1}")
        if c1 is None:
            return
        c2 = self._channel(s, aid, n2, f"Channel2 does not exist: {n2}")
        if c2 is None:
            return
        s.respond(aid, "Success", [("Message", "Channel has been bridged")])
        self.sim.bridge_channels(c1, c2)

    async def a_agi(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        name = req.get("Channel") or ""
        c = self._channel(s, aid, name, f"Channel {name} does not exist.")
        if c is None:
            return
        cmd = req.get("Command")
        if not cmd:
            s.respond(aid, "Error", [("Message", "No command specified")])
            return
        s.respond(aid, "Success", [("Message", "Added AGI command to queue")])
        if c.agi is not None:
            c.agi.enqueue(cmd, req.get("CommandID"))

    async def a_playdtmf(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        c = self._channel(s, aid, req.get("Channel"), "Channel not found")
        if c is None:
            return
        digit = req.get("Digit") or ""
        if not digit:
            s.respond(aid, "Error", [("Message", "No digit specified")])
            return
        try:
            dur = int(req.get("Duration") or "250")
        except ValueError:
            dur = 250
        s.respond(aid, "Success", [("Message", "DTMF successfully queued")])
        self.pbx.spawn(self._play_dtmf(c, digit[0], dur))

    async def _play_dtmf(self, c: Channel, digit: str, dur: int) -> None:
        # PlayDTMF hands the digit to the channel's driver (ast_senddigit_external), not to ast_write:
        # no DTMF event on that channel (checked on a live Asterisk 22). A Local pair's driver queues it
        # on the other half, which reads it: DTMFBegin/DTMFEnd Received there, where GET DATA and WAIT
        # FOR DIGIT take it. A SIP channel's driver sends it to the phone: nothing the PBX reports.
        peer = c.local_peer
        if peer is not None and not peer.hungup:
            await self.pbx.send_dtmf(peer, digit, dur, direction="Received")


__all__ = ["ActionHandler", "Bridge"]
