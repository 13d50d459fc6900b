"""The PBX core: channel life cycle, events, waiting, dialling, bridges, originate.

Event order and field sets follow the Asterisk 22.10.1 captures in
../shared/asterisk (see tests/pbxsim/test_conformance.py for the comparison).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from .channels import (
    CAUSE_TEXT,
    DOWN,
    RING,
    RINGING,
    UP,
    Bridge,
    Channel,
    ChannelRegistry,
    WakeReason,
    new_bridge_id,
)
from .audio import AudioCache
from .clock import SimClock
from .config import AgentBehaviour, SimConfig, TrunkBehaviour
from .dialplan import Dialplan, Substituter

log = logging.getLogger(__name__)

Headers = list[tuple[str, str]]
EventSink = Callable[[str, str, bytes], None]

# Privilege strings as Asterisk sends them (read = all).
P_CALL = "call,all"
P_DIALPLAN = "dialplan,all"
P_AGI = "agi,all"
P_DTMF = "dtmf,all"
P_SYSTEM = "system,all"
P_AGENT = "agent,all"
P_SECURITY = "security,all"
P_REPORTING = "reporting,all"


def encode_event(name: str, privilege: str | None, headers: Iterable[tuple[str, str]]) -> bytes:
    parts = [f"Event: {name}\r\n"]
    if privilege is not None:
        parts.append(f"Privilege: {privilege}\r\n")
    for k, v in headers:
        parts.append(f"{k}: {v}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


@dataclass
class Metrics:
    events: int = 0
    channels_created: int = 0
    calls_placed: int = 0
    _window_start: float = 0.0
    _window_events: int = 0
    events_per_second: float = 0.0

    def tick(self, now: float) -> None:
        if now - self._window_start >= 1.0:
            span = now - self._window_start
            self.events_per_second = (self.events - self._window_events) / span if span > 0 else 0.0
            self._window_start = now
            self._window_events = self.events


@dataclass
class Endpoint:
    """A dialable target: seat, trunk number or unknown."""

    kind: str  # agent | trunk | local | unknown
    resource: str  # 8001 / trunk / wait@ctx
    number: str = ""
    agent: AgentBehaviour | None = None
    trunk: TrunkBehaviour | None = None


class Pbx:
    """Owns every channel and bridge; everything else calls into it."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.dialplan = Dialplan.load(config.dialplan_path)
        self.globals: dict[str, str] = dict(self.dialplan.globals)
        self.subst = Substituter(self.globals)
        self.registry = ChannelRegistry()
        self.bridges: dict[str, Bridge] = {}
        self.sinks: list[EventSink] = []
        self.listeners: list[Callable[[str, Headers], None]] = []
        self.metrics = Metrics()
        self._audio_cache = AudioCache(config.sounds_dir)
        self.agents: dict[str, AgentBehaviour] = dict(config.agents)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.rng = random.Random()
        self.booted_at = clock.wall() - config.boot_uptime
        # feature modules plug in here (set by the simulator)
        self.agi_factory: Callable[[Channel], Any] | None = None
        self.apps: dict[str, Callable[[Channel, str], Awaitable[int]]] = {}
        self.queues: Any = None
        self.conferences: Any = None
        self.audiosocket: Any = None
        self.on_channel_destroyed: list[Callable[[Channel], None]] = []
        self.on_bridge_enter: list[Callable[[Channel, Bridge], None]] = []
        self.on_state_change: list[Callable[[Channel], None]] = []
        self._dev_counts: dict[str, list[int]] = {}  # endpoint -> [channels, ringing, up]
        self._dev_state: dict[str, str] = {}

    @property
    def audio_cache(self) -> AudioCache:
        """Prompt lengths and speech files; follows later changes to the config's sounds_dir/default length."""
        c = self._audio_cache
        c.sounds_dir = self.config.sounds_dir
        c.default_seconds = self.config.default_prompt_seconds
        return c

    # -- events -----------------------------------------------------------
    def emit(self, name: str, privilege: str | None, headers: Headers) -> None:
        self.metrics.events += 1
        if self.listeners:
            for cb in list(self.listeners):
                try:
                    cb(name, headers)
                except Exception:  # noqa: BLE001 - a listener must not break the PBX
                    log.exception("event listener failed")
        if not self.sinks:
            return
        data = encode_event(name, privilege, headers)
        for sink in self.sinks:
            sink(name, privilege or "", data)

    def chan_event(self, name: str, privilege: str, chan: Channel, extra: Iterable[tuple[str, str]] = ()) -> None:
        h = chan.headers()
        h.extend(extra)
        self.emit(name, privilege, h)

    def spawn(self, coro: Awaitable[Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task failed", exc_info=task.exception())

    # -- endpoints ----------------------------------------------------------
    def agent_behaviour(self, ext: str) -> AgentBehaviour | None:
        b = self.agents.get(ext)
        if b is not None:
            return b
        lo, hi = self.config.agent_range
        if ext.isdigit() and lo <= int(ext) <= hi:
            return self.config.agent_default
        return None

    def resolve(self, dial: str) -> Endpoint:
        """``PJSIP/8001``, ``PJSIP/trunk/110``, ``PJSIP/110@trunk``, ``Local/x@ctx``."""
        tech, _, rest = dial.partition("/")
        if tech.lower() == "local":
            return Endpoint("local", rest.split("/")[0])
        if tech.upper() != "PJSIP":
            return Endpoint("unknown", rest)
        if rest.startswith("trunk/"):
            number = rest[len("trunk/") :]
            return Endpoint("trunk", "trunk", number, trunk=self.trunk_behaviour(number))
        if rest.endswith("@trunk"):
            number = rest[: -len("@trunk")]
            return Endpoint("trunk", "trunk", number, trunk=self.trunk_behaviour(number))
        b = self.agent_behaviour(rest)
        if b is None:
            return Endpoint("unknown", rest)
        return Endpoint("agent", rest, rest, agent=b)

    def trunk_behaviour(self, number: str) -> TrunkBehaviour:
        return self.config.trunk_numbers.get(number, self.config.trunk_default)

    # -- channels -------------------------------------------------------------
    def new_channel(
        self,
        tech: str,
        resource: str,
        *,
        context: str,
        exten: str,
        priority: int = 1,
        state: int = DOWN,
        caller_num: str = "<unknown>",
        caller_name: str = "<unknown>",
        linkedid: str | None = None,
        uniqueid: str | None = None,
        name: str | None = None,
        announce: bool = True,
    ) -> Channel:
        wall = self.clock.wall()
        uid = uniqueid or self.registry.new_uniqueid(wall)
        chan = Channel(
            name=name or self.registry.next_name(tech, resource),
            uniqueid=uid,
            linkedid=linkedid or uid,
            tech=tech,
            endpoint=resource,
            created=self.clock.now(),
            state=state,
            caller_num=caller_num,
            caller_name=caller_name,
            context=context,
            exten=exten,
            priority=priority,
        )
        self.registry.add(chan)
        self.metrics.channels_created += 1
        if announce:
            self.chan_event("Newchannel", P_CALL, chan)
        if tech == "PJSIP":
            self._dev_update(chan, None, state)
        return chan

    # -- device state (DeviceStateChange) -------------------------------------------
    def _dev_update(self, chan: Channel, old: int | None, new: int | None) -> None:
        counts = self._dev_counts.setdefault(chan.endpoint, [0, 0, 0])
        if old is None:
            counts[0] += 1
        else:
            if old == RINGING:
                counts[1] -= 1
            elif old == UP:
                counts[2] -= 1
        if new is None:
            counts[0] -= 1
        elif new == RINGING:
            counts[1] += 1
        elif new == UP:
            counts[2] += 1
        if not self.config.device_state_events:
            return
        st = "INUSE" if counts[2] > 0 else ("RINGING" if counts[1] > 0 else "NOT_INUSE")
        dev = f"PJSIP/{chan.endpoint}"
        if self._dev_state.get(dev, "NOT_INUSE") != st:
            self._dev_state[dev] = st
            self.emit("DeviceStateChange", P_CALL, [("Device", dev), ("State", st)])

    def _rtp_qos(self, chan: Channel) -> None:
        if chan.qos_done or chan.tech != "PJSIP" or chan.answered_at is None or not self.config.rtp_qos_vars:
            return
        chan.qos_done = True
        secs = max(0.0, self.clock.now() - chan.answered_at)
        n = int(secs * 50)
        ssrc = self.rng.randint(1, 2**31)
        for name, value in (
            ("RTPAUDIOQOS", f"ssrc={ssrc};themssrc={self.rng.randint(1, 2**31)};lp=0;rxjitter=0.000000;rxcount={n};"
                            f"txjitter=0.000250;txcount={n};rlp=0;rtt=0.000000;rxmes=0.000000;txmes=88.087887"),
            ("RTPAUDIOQOSJITTER", "minrxjitter=000.000000;maxrxjitter=000.000750;avgrxjitter=000.000150;"
                                  "stdevrxjitter=000.000169;mintxjitter=000.000000;maxtxjitter=000.000000;"
                                  "avgtxjitter=000.000000;stdevtxjitter=000.000000;"),
            ("RTPAUDIOQOSLOSS", "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  "
                                "stdevrxlost=000.000000;  mintxlost=000.000000;  maxtxlost=000.000000;  "
                                "avgtxlost=000.000000;  stdevtxlost=000.000000;"),
            ("RTPAUDIOQOSRTT", "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;     "
                               "stdevrtt=000.000000;"),
            ("RTPAUDIOQOSMES", "   minrxmes=088.087887;   maxrxmes=088.087887;   avgrxmes=088.087887;   "
                               "stdevrxmes=000.000000;   mintxmes=000.000000;   maxtxmes=000.000000;   "
                               "avgtxmes=000.000000;   stdevtxmes=000.000000;"),
        ):
            self.set_var(chan, name, value)

    def set_state(self, chan: Channel, state: int) -> None:
        if chan.state == state or chan.hungup:
            return
        old = chan.state
        chan.state = state
        if state == UP and chan.answered_at is None:
            chan.answered_at = self.clock.now()
        self.chan_event("Newstate", P_CALL, chan)
        if chan.tech == "PJSIP":
            self._dev_update(chan, old, state)
        for cb in self.on_state_change:
            cb(chan)

    def answer(self, chan: Channel) -> None:
        self.set_state(chan, UP)

    def set_var(self, chan: Channel | None, name: str, value: str, event: bool = True) -> None:
        """Set(NAME=value) on a channel (``_``/``__`` prefixes mark inheritance) or a global."""
        base = name.lstrip("_")
        if chan is None:
            self.globals[base] = value
            if event:
                self.emit("VarSet", P_DIALPLAN, [
                    ("Channel", "none"), ("Uniqueid", "none"), ("Variable", name), ("Value", value)])
            return
        if name.startswith("__"):
            chan.inherit[base] = "__"
        elif name.startswith("_"):
            chan.inherit[base] = "_"
        chan.variables[base] = value
        if event:
            self.chan_event("VarSet", P_DIALPLAN, chan, (("Variable", name), ("Value", value)))

    def inherit_vars(self, parent: Channel, child: Channel) -> None:
        for k, how in parent.inherit.items():
            if k in parent.variables:
                child.variables[k] = parent.variables[k]
                if how == "__":
                    child.inherit[k] = "__"

    def set_callerid(self, chan: Channel, num: str, name: str) -> None:
        chan.caller_num = num or "<unknown>"
        chan.caller_name = name or "<unknown>"
        self.chan_event("NewCallerid", P_CALL, chan, (("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),))

    def set_connected(self, chan: Channel, num: str, name: str) -> None:
        chan.connected_num = num or "<unknown>"
        chan.connected_name = name or "<unknown>"
        self.chan_event("NewConnectedLine", P_CALL, chan)

    # -- waiting ------------------------------------------------------------------
    async def wait(self, chan: Channel, seconds: float | None, digits: bool = False) -> tuple[str, str]:
        """Sleep in simulated time; wakes early on hang-up, async goto, or a digit (if ``digits``)."""
        if chan.soft_hangup or chan.hungup:
            return WakeReason.HANGUP, ""
        if chan.pending_goto is not None or chan.pending_bridge is not None:
            return WakeReason.REDIRECT, ""
        if digits and chan.dtmf_buffer:
            return WakeReason.DTMF, chan.dtmf_buffer.pop(0)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[str, str]] = loop.create_future()
        chan.waiter = fut
        chan.waiter_digits = digits
        handle = None
        if seconds is not None and seconds >= 0:
            handle = loop.call_later(self.clock.real(seconds), _expire, fut)
        try:
            return await fut
        finally:
            if handle is not None:
                handle.cancel()
            if chan.waiter is fut:
                chan.waiter = None

    def interrupted(self, chan: Channel) -> bool:
        return chan.soft_hangup or chan.hungup or chan.pending_goto is not None or chan.pending_bridge is not None

    # -- DTMF -----------------------------------------------------------------------
    async def send_dtmf(self, chan: Channel, digit: str, duration_ms: int = 200, direction: str = "Received") -> None:
        if chan.hungup:
            return
        self.chan_event("DTMFBegin", P_DTMF, chan, (("Digit", digit), ("Direction", direction)))
        await self.clock.sleep(duration_ms / 1000.0)
        if chan.hungup:
            return
        self.chan_event("DTMFEnd", P_DTMF, chan, (("Digit", digit), ("DurationMs", str(duration_ms)), ("Direction", direction)))
        if direction == "Received":
            self.deliver_digit(chan, digit)

    def deliver_digit(self, chan: Channel, digit: str) -> None:
        if self.audiosocket is not None:
            self.audiosocket.on_digit(chan, digit)
        w = chan.waiter
        if w is not None and not w.done() and chan.waiter_digits:
            w.set_result((WakeReason.DTMF, digit))
        else:
            chan.dtmf_buffer.append(digit)
            if len(chan.dtmf_buffer) > 32:
                del chan.dtmf_buffer[0]

    # -- hang-up ------------------------------------------------------------------------
    def remote_hangup(self, chan: Channel, cause: int | None = None, by: str = "remote", tech_cause: int | None = None,
                      destroy: bool = True) -> None:
        """The far end hung up (SIP BYE / CANCEL, or the other half of a Local pair):
        HangupRequest, then the channel's app stops. As ast_queue_hangup_with_cause + ast_read,
        a cause of 0 is reported but leaves the channel's own cause (e.g. Busy()'s 17) alone."""
        if chan.hungup or chan.soft_hangup:
            return
        extra: Headers = []
        if cause is not None:
            extra.append(("Cause", str(cause)))
            if cause:
                chan.hangup_cause = cause
        if tech_cause is not None:
            extra.append(("TechCause", str(tech_cause)))
            chan.tech_cause = tech_cause
        chan.hangup_by = chan.hangup_by or by
        self._rtp_qos(chan)
        self.chan_event("HangupRequest", P_CALL, chan, extra)
        chan.soft_hangup = True
        chan.wake(WakeReason.HANGUP)
        if chan.task is None and destroy and not chan.originating:
            self.destroy(chan)

    def softhangup(self, chan: Channel, bits: int, by: str = "pbx") -> None:
        """ast_softhangup: SoftHangupRequest with the AST_SOFTHANGUP_* bitmask."""
        if chan.hungup:
            return
        chan.hangup_by = chan.hangup_by or by
        self.chan_event("SoftHangupRequest", P_CALL, chan, (("Cause", str(bits)),))
        chan.soft_hangup = True
        chan.wake(WakeReason.HANGUP)
        if chan.task is None:
            self.destroy(chan)

    def hangup_action(self, chan: Channel, cause: int | None) -> None:
        """AMI Hangup: ast_softhangup_nolock (no event of its own); the cause is kept if one was given."""
        if chan.hungup:
            return
        if cause is not None and cause > 0:
            chan.hangup_cause = cause
        chan.hangup_by = chan.hangup_by or "ami"
        chan.soft_hangup = True
        chan.wake(WakeReason.HANGUP)
        if chan.task is None:
            self.destroy(chan)

    def destroy(self, chan: Channel) -> None:
        """The channel is gone: leave any bridge, then the Hangup event."""
        if chan.hungup:
            return
        if chan.bridge is not None:
            self.bridge_leave(chan)
        pending = chan.pending_bridge
        if pending is not None:
            chan.pending_bridge = None
            if not pending.channels and not pending.destroyed and pending.conference is None:
                self.bridge_destroy(pending)  # bridged by an action but gone before it got there
        self._rtp_qos(chan)
        chan.soft_hangup = True
        peer = chan.local_peer
        if peer is not None and not peer.hungup:
            # ast_unreal_hangup, the driver's hangup, runs before this half's Hangup is published: the
            # other half's HangupRequest comes first, with this half's cause (a ;2 that ends with a failed
            # Dial's 34/17 ends its ;1 with the same cause; an AGI HANGUP's 0 stays 0: live 22.10.1)
            self.remote_hangup(peer, cause=chan.hangup_cause)
        chan.hungup = True
        extra: Headers = [("Cause", str(chan.hangup_cause)), ("Cause-txt", CAUSE_TEXT.get(chan.hangup_cause, "Unknown"))]
        if chan.tech_cause is not None:
            extra.append(("TechCause", str(chan.tech_cause)))
        self.chan_event("Hangup", P_CALL, chan, extra)
        self.registry.remove(chan)
        if chan.tech == "PJSIP":
            self._dev_update(chan, chan.state, None)
        chan.wake(WakeReason.HANGUP)
        for cb in chan.on_hangup:
            try:
                cb(chan)
            except Exception:  # noqa: BLE001
                log.exception("hang-up callback failed")
        for cb in self.on_channel_destroyed:
            try:
                cb(chan)
            except Exception:  # noqa: BLE001
                log.exception("hang-up hook failed")

    # -- the pbx loop ------------------------------------------------------------------------
    def start_pbx(self, chan: Channel) -> None:
        chan.run_dialplan = True
        chan.task = self.spawn(self._pbx_thread(chan))

    def start_driver(self, chan: Channel, body: Callable[[], Awaitable[None]]) -> None:
        """A channel with no dialplan (a dialled leg): run ``body`` then hang it up."""

        async def driver() -> None:
            try:
                await body()
                while not chan.soft_hangup:
                    if chan.pending_bridge is not None:
                        b = chan.pending_bridge
                        chan.pending_bridge = None
                        await self.bridge_wait(chan, b)
                        continue
                    if chan.pending_goto is not None:
                        # Redirect of a channel with no dialplan: it starts one at the target
                        chan.run_dialplan = True
                        await self._pbx_thread(chan)
                    break
            finally:
                if not chan.hungup:
                    # its application ended (Normal Clearing); hung up from the far end it keeps the cause
                    # it was given, 0 included
                    if chan.hangup_cause == 0 and chan.answered_at is not None and chan.hangup_by != "remote":
                        chan.hangup_cause = 16
                    self.destroy(chan)

        chan.task = self.spawn(driver())

    async def _pbx_thread(self, chan: Channel) -> None:
        try:
            await self.run_dialplan(chan)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("dialplan failed on %s", chan.name)
        finally:
            if not chan.hungup:
                self.chan_event("SoftHangupRequest", P_CALL, chan, (("Cause", "16"),))
                self.destroy(chan)

    async def run_dialplan(self, chan: Channel) -> None:
        dp = self.dialplan
        while not chan.soft_hangup:
            bridge = chan.pending_bridge
            if bridge is not None:
                chan.pending_bridge = None
                await self.bridge_wait(chan, bridge)
                if chan.soft_hangup:
                    break
                if chan.pending_goto is None and chan.pending_bridge is None:
                    chan.priority += 1
                continue
            if chan.pending_goto is not None:
                ctx, ext, prio = chan.pending_goto
                chan.pending_goto = None
                chan.context, chan.exten, chan.priority = ctx, ext, prio
            step = dp.step(chan.context, chan.exten, chan.priority)
            if step is None:
                break
            data = self.subst.substitute(step.data, chan)
            app_key = step.app.lower()
            chan.application = step.app
            chan.appdata = data
            if chan.goto_from_bridge:
                # Moved out of an application's bridge (a blind transfer, a Redirect): the first Newexten
                # still names the old application and its data (captures blind_transfer, three_way_confbridge).
                chan.goto_from_bridge = ""
                self.chan_event("Newexten", P_DIALPLAN, chan, (
                    ("Extension", chan.exten), ("Application", chan.last_app or step.app),
                    ("AppData", chan.last_appdata)))
            else:
                self.chan_event("Newexten", P_DIALPLAN, chan, (
                    ("Extension", chan.exten), ("Application", step.app), ("AppData", data)))
            chan.last_app, chan.last_appdata = step.app, data
            app = self.apps.get(app_key)
            if app is None:
                log.warning("application %s not simulated; continuing", step.app)
                res = 0
            else:
                res = await app(chan, data)
            if chan.soft_hangup:
                break
            if chan.pending_bridge is not None:
                continue
            if chan.pending_goto is not None:
                continue
            if res == GOTO:
                continue
            if res < 0:
                break
            chan.priority += 1

    def async_goto(self, chan: Channel, context: str, exten: str, priority: int, how: str = "redirect") -> None:
        """Redirect: the current application stops and the dialplan restarts there.

        A bridged channel moved by a blind transfer, or by a Redirect out of an application's bridge
        (Dial, Queue), reports its first step there under the old application's name (captures
        blind_transfer, three_way_confbridge); one that Action: Bridge put in its bridge is redirected
        into a fresh PBX, with a plain first step (live 22.10.1)."""
        if chan.bridge is not None and not (how == "redirect" and chan.bridged_by_action):
            chan.goto_from_bridge = how
        chan.pending_goto = (context, exten, priority)
        chan.wake(WakeReason.REDIRECT)  # a dialled leg with no dialplan starts one there (see start_driver)

    # -- bridges ----------------------------------------------------------------------------
    def bridge_create(self, kind: str = "basic", technology: str = "simple_bridge", name: str = "<unknown>",
                      creator: str = "<unknown>", announce: bool = True) -> Bridge:
        b = Bridge(uniqueid=new_bridge_id(), type=kind, technology=technology, name=name, creator=creator)
        self.bridges[b.uniqueid] = b
        if announce:
            self.emit("BridgeCreate", P_CALL, b.headers())
        return b

    def bridge_enter(self, chan: Channel, bridge: Bridge, announce: bool = True) -> None:
        if chan.bridge is bridge:
            return
        if chan.bridge is not None:
            self.bridge_leave(chan)
        chan.bridge = bridge
        bridge.channels.append(chan)
        if bridge.keep_for is chan:
            bridge.keep_for = None
        if announce:
            h = bridge.headers()
            h.extend(chan.headers())
            self.emit("BridgeEnter", P_CALL, h)
        for cb in self.on_bridge_enter:
            cb(chan, bridge)
        if chan.call is not None:
            chan.call.on_bridged(self, chan, bridge)
        for other in bridge.channels:
            if other is not chan and other.call is not None:
                other.call.on_bridged(self, other, bridge)

    def bridge_leave(self, chan: Channel, announce: bool = True) -> None:
        bridge = chan.bridge
        if bridge is None:
            return
        if bridge.before_leave is not None:
            cb, bridge.before_leave = bridge.before_leave, None
            cb(chan)
        chan.bridge = None
        chan.bridged_by_action = False
        if chan in bridge.channels:
            bridge.channels.remove(chan)
        if announce:
            h = bridge.headers()
            h.extend(chan.headers())
            self.emit("BridgeLeave", P_CALL, h)
        if chan.call is not None:
            chan.call.on_unbridged(self, chan)
        if bridge.on_leave is not None:
            bridge.on_leave(chan)
        if bridge.conference is None and bridge.type == "basic" and bridge.keep_for is None:
            # a two-party bridge dissolves when one side leaves
            for other in list(bridge.channels):
                other.wake(WakeReason.REDIRECT, "bridge-end")
        if not bridge.channels and not bridge.destroyed and bridge.conference is None:
            self.bridge_destroy(bridge)
        if not bridge.channels:
            bridge.ended.set()

    def bridge_destroy(self, bridge: Bridge) -> None:
        if bridge.destroyed:
            return
        bridge.destroyed = True
        self.bridges.pop(bridge.uniqueid, None)
        self.emit("BridgeDestroy", P_CALL, bridge.headers())
        bridge.ended.set()

    async def bridge_wait(self, chan: Channel, bridge: Bridge) -> None:
        """Stay in ``bridge`` until hang-up, async goto, or the bridge dissolving."""
        if bridge.destroyed:
            return
        self.bridge_enter(chan, bridge)
        try:
            while not chan.soft_hangup and chan.pending_goto is None and chan.bridge is bridge:
                if bridge.type == "basic" and bridge.conference is None and chan.bridge is bridge:
                    others = [c for c in bridge.channels if c is not chan]
                    if not others and bridge.had_two and bridge.keep_for is None:
                        break
                    if len(bridge.channels) >= 2:
                        bridge.had_two = True
                reason, value = await self.wait(chan, None)
                if reason == WakeReason.REDIRECT and value == "bridge-end" and bridge.keep_for is None:
                    break
                if reason == WakeReason.REDIRECT and chan.pending_bridge is not None:
                    break
        finally:
            if chan.bridge is bridge and not chan.hungup:
                self.bridge_leave(chan)

    def bridge_peers(self, chan: Channel) -> list[Channel]:
        if chan.bridge is None:
            return []
        return [c for c in chan.bridge.channels if c is not chan]

    def pull_into_bridge(self, chan: Channel, bridge: Bridge) -> None:
        """Action Bridge / ConfBridge moves: stop the current app, then join ``bridge``."""
        chan.pending_bridge = bridge
        chan.wake(WakeReason.REDIRECT)

    # -- dialling ---------------------------------------------------------------------------
    def attach_far_end_audio(self, chan: Channel, ep: Endpoint) -> None:
        """What the seat says (AgentBehaviour.speech_wav), for MixMonitor and AudioSocket."""
        if ep.kind == "agent" and ep.agent is not None and ep.agent.speech_wav is not None:
            chan.audio = self.audio_cache.source(ep.agent.speech_wav)

    def endpoint_callerid(self, ep: Endpoint) -> tuple[str, str]:
        if ep.kind == "agent":
            name = (ep.agent.name if ep.agent and ep.agent.name else f"Agent {ep.resource}")
            return ep.resource, name
        return "<unknown>", "<unknown>"

    def talk_time_of(self, ep: Endpoint) -> float | None:
        if ep.kind == "agent" and ep.agent is not None:
            return ep.agent.talk_time
        if ep.kind == "trunk" and ep.trunk is not None:
            return ep.trunk.talk_time
        return None

    def schedule_far_end_hangup(self, chan: Channel, ep: Endpoint) -> None:
        talk = self.talk_time_of(ep)
        if talk is None:
            return

        async def hang() -> None:
            # the talk time counts from the moment the leg first shares a bridge with someone
            while not chan.hungup and (chan.bridge is None or len(chan.bridge.channels) < 2):
                await self.clock.sleep(0.05)
                if chan.soft_hangup:
                    return
            await self.clock.sleep(talk)
            if not chan.hungup:
                self.remote_hangup(chan, cause=16 if chan.bridge is not None else None, by="agent")

        self.spawn(hang())


GOTO = 1 << 20  # returned by Goto/GotoIf: the location is already set


def _expire(fut: asyncio.Future[tuple[str, str]]) -> None:
    if not fut.done():
        fut.set_result((WakeReason.TIMEOUT, ""))


__all__ = ["Pbx", "GOTO", "encode_event", "Endpoint", "Metrics", "RING", "RINGING", "UP", "DOWN"]
