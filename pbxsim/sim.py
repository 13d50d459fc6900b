"""Public API of the PBX simulator.

    sim = PbxSimulator(SimConfig(port=0, speed=10))
    await sim.start()                      # AMI on sim.ami_port
    call = await sim.place_call(CallerScript(dnis="12345", caller_num="13800000001", keys=["1"]))
    outcome = await call.wait()
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable

from .actions import ActionHandler
from .agi import AgiSession
from .apps import Apps
from .callers import CallerScript, SimCall
from .channels import RING, Channel
from .clock import SimClock
from .config import AgentBehaviour, SimConfig
from .engine import Headers, Pbx
from .originate import Originator
from .server import AmiServer

log = logging.getLogger(__name__)


@dataclass
class SimMetrics:
    channels_live: int
    bridges_live: int
    events_total: int
    events_per_second: float
    calls_placed: int
    channels_created: int
    ami_sessions: int


class PbxSimulator:
    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = SimClock(self.config.speed)
        self.server = AmiServer(ActionHandler(self), self.config.host, self.config.port, self.config.write_buffer_limit)
        self._build()
        self.pbx.sinks.append(self.server.broadcast)
        self.ami_port: int = 0
        self._metrics_task: asyncio.Task[None] | None = None
        self.calls: list[SimCall] = []

    def _build(self) -> None:
        self.pbx = Pbx(self.config, self.clock)
        self.apps = Apps(self.pbx)
        self.apps.install()
        self.pbx.agi_factory = lambda chan: AgiSession(self.pbx, chan)
        self.originator = Originator(self.pbx, self.apps)
        self._install_features()

    def _install_features(self) -> None:
        """Queues, ConfBridge, MixMonitor, transfers, AudioSocket (each optional module)."""
        for modname in ("queues", "confbridge", "mixmonitor", "transfers", "audiosocket"):
            try:
                mod = __import__(f"pbxsim.{modname}", fromlist=["install"])
            except ImportError:
                continue
            mod.install(self)

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        self.ami_port = await self.server.start()
        self.config.port = self.ami_port
        self._metrics_task = asyncio.ensure_future(self._metrics_loop())

    async def stop(self) -> None:
        await self.server.close_all(shutdown_event=True)
        await self.server.stop()
        await self._drop_channels()
        if self._metrics_task is not None:
            self._metrics_task.cancel()
            self._metrics_task = None

    async def restart(self) -> None:
        """Like ``core restart now``: Shutdown, connections closed, channels gone, numbering from 0."""
        await self.stop()
        handler = self.server.handler
        self.clock = SimClock(self.config.speed)
        agents = self.pbx.agents
        self.server = AmiServer(handler, self.config.host, self.ami_port, self.config.write_buffer_limit)
        self._build()
        self.pbx.agents = agents
        self.pbx.sinks.append(self.server.broadcast)
        await self.start()

    async def _drop_channels(self) -> None:
        pbx = self.pbx
        pbx.sinks.clear()
        for chan in list(pbx.registry.channels.values()):
            chan.soft_hangup = True
            chan.wake("hangup")
        tasks = list(pbx.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for chan in list(pbx.registry.channels.values()):
            if not chan.hungup:
                pbx.destroy(chan)
        pbx.registry.reset()
        pbx.sinks.append(self.server.broadcast)

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.pbx.metrics.tick(asyncio.get_running_loop().time())

    # -- configuration -----------------------------------------------------------------
    @property
    def agents(self) -> dict[str, AgentBehaviour]:
        """Per-seat behaviour (``sim.agents["8001"] = AgentBehaviour(mode="busy")``); others use the default."""
        return self.pbx.agents

    def set_speed(self, speed: float) -> None:
        self.clock.speed = speed
        self.config.speed = speed

    def metrics(self) -> SimMetrics:
        m = self.pbx.metrics
        return SimMetrics(
            channels_live=len(self.pbx.registry), bridges_live=len(self.pbx.bridges), events_total=m.events,
            events_per_second=m.events_per_second, calls_placed=m.calls_placed,
            channels_created=m.channels_created, ami_sessions=len(self.server.sessions),
        )

    def subscribe(self, fn: Callable[[str, Headers], None]) -> Callable[[], None]:
        """In-process event tap (name, headers) for tests and the load tester."""
        self.pbx.listeners.append(fn)
        return lambda: self.pbx.listeners.remove(fn) if fn in self.pbx.listeners else None

    def channel(self, name: str) -> Channel | None:
        return self.pbx.registry.get(name)

    # -- calls ---------------------------------------------------------------------------
    async def place_call(self, script: CallerScript) -> SimCall:
        """A citizen calls in through the trunk: ``PJSIP/trunk-0000000a`` in hotline-inbound,<DNIS>."""
        pbx = self.pbx
        call = SimCall(script)
        call._since = pbx.clock.now()
        chan = pbx.new_channel(
            "PJSIP", "trunk", context=self.config.trunk_context, exten=script.dnis, state=RING,
            caller_num=script.caller_num or "<unknown>", caller_name=script.caller_name or "<unknown>",
        )
        chan.dnid = script.dnis
        chan.call = call
        call.channel = chan
        chan.audio = pbx.audio_cache.source(script.speech_wav)
        chan.on_hangup.append(lambda c: call.finish(pbx, c))
        pbx.metrics.calls_placed += 1
        self.calls.append(call)
        if len(self.calls) > 10000:
            self.calls = [c for c in self.calls if not c.done]
        pbx.set_var(chan, "SIPDOMAIN", "127.0.0.1")
        pbx.start_pbx(chan)
        if script.hangup_after is not None:
            pbx.spawn(self._hangup_later(chan, script.hangup_after))
        if script.patience is not None:
            pbx.spawn(self._patience(chan, call, script.patience))
        return call

    async def _hangup_later(self, chan: Channel, after: float) -> None:
        await self.clock.sleep(after)
        if not chan.hungup and not chan.soft_hangup:
            self.pbx.remote_hangup(chan, cause=16 if chan.bridge is not None else None, by="caller")

    async def _patience(self, chan: Channel, call: SimCall, patience: float) -> None:
        """The caller gives up if no agent is bridged within ``patience`` s of being answered."""
        while chan.answered_at is None and not chan.hungup:
            await self.clock.sleep(0.05)
        if chan.hungup:
            return
        left = patience - (self.clock.now() - (chan.answered_at or self.clock.now()))
        if left > 0:
            await self.clock.sleep(left)
        if not chan.hungup and not chan.soft_hangup and not call.ever_bridged_to_party:
            self.pbx.remote_hangup(chan, cause=None, by="caller")

    def hangup(self, chan_or_call: Channel | SimCall | str, cause: int | None = None) -> None:
        """The caller (or any far end) hangs up now."""
        chan: Channel | None
        if isinstance(chan_or_call, SimCall):
            chan = chan_or_call.channel
        elif isinstance(chan_or_call, str):
            chan = self.pbx.registry.get(chan_or_call)
        else:
            chan = chan_or_call
        if chan is not None and not chan.hungup:
            self.pbx.remote_hangup(chan, cause=cause if cause is not None else (16 if chan.bridge else None),
                                   by="caller" if chan.call is not None else "remote")

    async def press(self, chan_or_call: Channel | SimCall, digits: str) -> None:
        """The far end presses keys (RFC 4733 DTMF)."""
        chan = chan_or_call.channel if isinstance(chan_or_call, SimCall) else chan_or_call
        if chan is None:
            return
        for d in digits:
            await self.pbx.send_dtmf(chan, d)

    # -- helpers used by actions -------------------------------------------------------------
    def ensure_pbx(self, chan: Channel) -> None:
        if chan.task is None and not chan.hungup:
            self.pbx.start_pbx(chan)

    def bridge_channels(self, c1: Channel, c2: Channel) -> Any:
        pbx = self.pbx
        bridge = pbx.bridge_create()
        for c in (c1, c2):
            c.bridged_by_action = True
            pbx.pull_into_bridge(c, bridge)
            if c.task is None:
                pbx.start_driver(c, lambda: asyncio.sleep(0))
        return bridge
