"""MixMonitor / StopMixMonitor: a real 8 kHz 16-bit mono WAV of both parties, mixed.

Each party's audio is its scripted speech (CallerScript.speech_wav,
AgentBehaviour.speech_wav) or, with none, a quiet tone so the file is never
empty of sound; the file covers the time between start and stop (or hang-up).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import audio
from .channels import Channel
from .engine import P_CALL, P_DIALPLAN
from .server import AmiSession, Request

if TYPE_CHECKING:  # pragma: no cover
    from .sim import PbxSimulator


@dataclass
class Recording:
    path: Path
    started: float
    parties: list[str] = field(default_factory=list)


def _party_pcm(sim: "PbxSimulator", chan: Channel, seconds: float, freq: float) -> bytes:
    src = chan.audio if isinstance(chan.audio, audio.AudioSource) else None
    if src is None or not src.pcm:
        b = sim.pbx.agent_behaviour(chan.endpoint) if chan.endpoint != "trunk" else None
        if b is not None and b.speech_wav is not None:
            src = sim.pbx.audio_cache.source(b.speech_wav)
    n = int(seconds * audio.RATE) * 2
    if src is not None and src.pcm:
        pcm = src.pcm[:n]
        return pcm + b"\x00" * (n - len(pcm))
    # 0.5 s tone, 0.5 s pause: a talking party, audibly not silence
    second = audio.tone(0.5, freq, 3000) + audio.silence(0.5)
    reps = int(seconds) + 1
    return (second * reps)[:n]


@dataclass
class MixMonitor:
    sim: "PbxSimulator"
    active: dict[str, Recording] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    async def a_mixmonitor(self, s: AmiSession, req: Request) -> None:
        pbx = self.sim.pbx
        aid = req.action_id
        chan = pbx.registry.get(req.get("Channel"))
        if chan is None:
            s.respond(aid, "Error", [("Message", "No such channel")])
            return
        name = req.get("File") or f"{chan.uniqueid}.wav"
        path = Path(name) if name.startswith("/") else self.sim.config.recordings_dir / name
        s.respond(aid, "Success")
        self.active[chan.name] = Recording(path, pbx.clock.now())
        pbx.set_var(chan, "MIXMONITOR_FILENAME", str(path.resolve()))
        pbx.chan_event("MixMonitorStart", P_CALL, chan)
        chan.on_hangup.append(lambda c: self._stop(c, event=False))

    async def a_stopmixmonitor(self, s: AmiSession, req: Request) -> None:
        pbx = self.sim.pbx
        aid = req.action_id
        chan = pbx.registry.get(req.get("Channel"))
        if chan is None:
            s.respond(aid, "Error", [("Message", "No such channel")])
            return
        if chan.name not in self.active:  # Asterisk 22: nothing to stop is an error (checked on a live rig)
            s.respond(aid, "Error", [("Message", "Could not stop monitoring channel")])
            return
        s.respond(aid, "Success")
        self._stop(chan, event=True)

    def _stop(self, chan: Channel, event: bool) -> None:
        rec = self.active.pop(chan.name, None)
        if rec is None:
            return
        pbx = self.sim.pbx
        if event:
            pbx.chan_event("MixMonitorStop", P_CALL, chan)
        seconds = max(0.02, pbx.clock.now() - rec.started)
        mine = _party_pcm(self.sim, chan, seconds, 330.0)
        peers = pbx.bridge_peers(chan)
        mixed = mine
        for p in peers:
            mixed = audio.mix(mixed, _party_pcm(self.sim, p, seconds, 523.0))
        self.written.append(rec.path)
        pbx.spawn(asyncio.to_thread(audio.write_wav, rec.path, mixed))


def install(sim: "PbxSimulator") -> None:
    mm = MixMonitor(sim)
    sim.mixmonitor = mm  # type: ignore[attr-defined]
    h = sim.server.handler
    h.register("MixMonitor", mm.a_mixmonitor)
    h.register("StopMixMonitor", mm.a_stopmixmonitor)


__all__ = ["MixMonitor", "install", "P_DIALPLAN"]
