"""``AudioSocket(uuid,host:port)``: stream the caller's audio to a TCP server like Asterisk does.

0x01 UUID first, then a 320-byte slin16 LE 8 kHz 0x10 frame every 20 ms (silence
too), 0x03 per DTMF digit (when the digit ends); a server 0x00 ends the
application (the dialplan continues); a caller hang-up closes TCP with no 0x00.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asr.audiosocket import KIND_HANGUP, SLIN_FRAME_BYTES, FrameDecoder, audio_frame, dtmf_frame, uuid_frame

from .audio import AudioSource
from .channels import Channel, WakeReason
from .dialplan import split_args

if TYPE_CHECKING:  # pragma: no cover
    from .sim import PbxSimulator

log = logging.getLogger(__name__)


@dataclass
class AudioSocketApp:
    sim: "PbxSimulator"
    writers: dict[str, asyncio.StreamWriter] = field(default_factory=dict)  # channel name -> connection

    def on_digit(self, chan: Channel, digit: str) -> None:
        w = self.writers.get(chan.name)
        if w is not None and not w.is_closing():
            w.write(dtmf_frame(digit))

    async def run(self, chan: Channel, data: str) -> int:
        pbx = self.sim.pbx
        args = split_args(data)
        if len(args) < 2:
            return -1
        uid_text, addr = args[0].strip(), args[1].strip()
        host, _, port = addr.rpartition(":")
        try:
            uid = uuid.UUID(uid_text)
        except ValueError:
            log.warning("AudioSocket: %r is not a UUID", uid_text)
            return -1
        try:
            reader, writer = await asyncio.open_connection(host or "127.0.0.1", int(port))
        except (OSError, ValueError):
            log.warning("AudioSocket: cannot connect to %s", addr)
            return -1
        if chan.call is not None:
            chan.call.enter("asr", pbx.clock.now())
        self.writers[chan.name] = writer
        silent = AudioSource()
        if isinstance(chan.audio, AudioSource):
            chan.audio.rewind()
        writer.write(uuid_frame(uid))
        server_done = asyncio.Event()

        async def read_server() -> None:
            dec = FrameDecoder()
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    server_done.set()
                    chan.wake("audiosocket")
                    return
                for f in dec.feed(chunk):
                    if f.kind == KIND_HANGUP:
                        server_done.set()
                        chan.wake("audiosocket")
                        return

        rtask = asyncio.ensure_future(read_server())
        loop = asyncio.get_running_loop()
        period = pbx.clock.real(0.02)
        next_t = loop.time()
        result = 0
        try:
            while True:
                src = chan.audio if isinstance(chan.audio, AudioSource) else silent
                writer.write(audio_frame(src.read(SLIN_FRAME_BYTES)))
                next_t += period
                delay = max(0.0, next_t - loop.time())
                reason, _ = await pbx.wait(chan, delay * pbx.clock.speed if delay > 0 else 0.0)
                if server_done.is_set():
                    break
                if reason == WakeReason.HANGUP:
                    result = -1
                    break
                if reason == WakeReason.REDIRECT and pbx.interrupted(chan):
                    break
        finally:
            self.writers.pop(chan.name, None)
            rtask.cancel()
            writer.close()
            if chan.call is not None and not chan.hungup:
                chan.call.enter("dialplan", pbx.clock.now())
        return result


def install(sim: "PbxSimulator") -> None:
    app = AudioSocketApp(sim)
    sim.pbx.audiosocket = app
    sim.pbx.apps["audiosocket"] = app.run
