"""AMI action round trip: p50/p99 of Ping and Getvar through the AMI client and CallControl,
side by side with a raw-socket Ping against the same simulator in the same run.

The raw figure is the floor (framing + loopback + the simulator); the difference is
what the client (ActionID matching, futures, timeouts) and call control add.

    python -m bench.action_roundtrip [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
from typing import Awaitable, Callable

from cti.ami.client import AmiClient
from cti.ami.protocol import Framer, encode_action
from cti.control import CallControl
from cti.model import CallModel
from hotline.settings import AmiSettings


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def _summary(xs: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs]
    return {
        "n": len(ms),
        "p50_ms": round(_pct(ms, 50), 3),
        "p99_ms": round(_pct(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "max_ms": round(max(ms), 3),
    }


async def _measure(n: int, fn: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(min(50, n)):  # warm-up
        await fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


class RawAmi:
    """A bare asyncio socket speaking AMI: login, then Ping with ActionIDs, reading until the matching Response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer
        self.framer = Framer()
        self.buf: list = []
        self.n = 0

    @classmethod
    async def connect(cls, port: int, user: str, secret: str) -> "RawAmi":
        r, w = await asyncio.open_connection("127.0.0.1", port)
        raw = cls(r, w)
        await raw.request("Login", {"Username": user, "Secret": secret, "Events": "off"})
        return raw

    async def request(self, action: str, headers: dict[str, str]) -> object:
        self.n += 1
        aid = f"raw-{self.n}"
        self.w.write(encode_action(action, headers, aid))
        while True:
            for i, m in enumerate(self.buf):
                if m.kind == "Response" and m.fields.get("ActionID") == aid:
                    del self.buf[: i + 1]
                    return m
            self.buf.clear()
            data = await self.r.read(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf.extend(self.framer.feed(data))

    async def close(self) -> None:
        self.w.close()
        try:
            await self.w.wait_closed()
        except OSError:
            pass


class SimThread:
    """The simulator on its own event loop in a thread: a peer that does not share our loop."""

    def __init__(self) -> None:
        from pbxsim.config import SimConfig

        self.cfg = SimConfig(port=0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pbxsim", daemon=True)
        self.sim = None

    def start(self) -> int:
        from pbxsim.sim import PbxSimulator

        self.thread.start()

        async def boot() -> int:
            self.sim = PbxSimulator(self.cfg)
            await self.sim.start()
            return self.sim.ami_port

        return asyncio.run_coroutine_threadsafe(boot(), self.loop).result(30)

    def stop(self) -> None:
        if self.sim is not None:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _run(n: int) -> dict:
    peer = SimThread()
    port = await asyncio.get_running_loop().run_in_executor(None, peer.start)
    cfg = peer.cfg
    client = AmiClient(AmiSettings(port=port, username=cfg.username, secret=cfg.secret, ping_interval=3600))
    try:
        await client.start(timeout=10)
        control = CallControl(client, CallModel())
        raw = await RawAmi.connect(port, cfg.username, cfg.secret)
        await control.setvar(None, "HOTLINE_BENCH", "一二三")
        # interleave the three series so machine noise hits them alike
        raw_t: list[float] = []
        ping_t: list[float] = []
        getvar_t: list[float] = []
        rounds = 10
        for _ in range(rounds):
            raw_t += await _measure(n // rounds, lambda: raw.request("Ping", {}))
            ping_t += await _measure(n // rounds, lambda: client.action("Ping"))
            getvar_t += await _measure(n // rounds, lambda: control.getvar(None, "HOTLINE_BENCH"))
        await raw.close()
    finally:
        await client.stop()
        await asyncio.get_running_loop().run_in_executor(None, peer.stop)
    raw_s, ping_s, get_s = _summary(raw_t), _summary(ping_t), _summary(getvar_t)
    return {
        "raw_socket_ping": raw_s,
        "client_ping": ping_s,
        "control_getvar": get_s,
        "client_overhead_p50_ms": round(ping_s["p50_ms"] - raw_s["p50_ms"], 3),
        "peer": "pbxsim on its own event loop in a thread, loopback TCP",
    }


def run(quick: bool = False) -> dict:
    return asyncio.run(_run(500 if quick else 5000))


def main(argv: list[str] | None = None) -> int:
    from bench.run import run_one

    argv = sys.argv[1:] if argv is None else argv
    run_one("action_roundtrip", "--quick" in argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
