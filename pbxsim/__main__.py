"""``python -m pbxsim --port 5038``: run the simulated Asterisk standalone."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from .config import AgentBehaviour, SimConfig
from .sim import PbxSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pbxsim", description="Asterisk 22 AMI/AsyncAGI simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5038)
    p.add_argument("--username", default="ivr")
    p.add_argument("--secret", default="ivrsecret")
    p.add_argument("--speed", type=float, default=1.0, help="time factor: 10 runs prompts/rings/talk 10x faster")
    p.add_argument("--dialplan", type=Path, default=None, help="extensions.conf to interpret")
    p.add_argument("--sounds-dir", type=Path, default=None)
    p.add_argument("--recordings-dir", type=Path, default=None)
    p.add_argument("--agent-answer-after", type=float, default=1.0)
    p.add_argument("--agent-talk-time", type=float, default=None)
    p.add_argument("--calls", type=int, default=0, help="place this many scripted citizen calls (0 = none)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between scripted calls")
    p.add_argument("--dnis", default="12345")
    p.add_argument("--keys", default="1", help="comma-separated key answers of each scripted caller")
    p.add_argument("--patience", type=float, default=None)
    p.add_argument("--talk-time", type=float, default=60.0)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


async def amain(ns: argparse.Namespace) -> None:
    cfg = SimConfig(host=ns.host, port=ns.port, username=ns.username, secret=ns.secret, speed=ns.speed,
                    agent_default=AgentBehaviour(answer_after=ns.agent_answer_after, talk_time=ns.agent_talk_time))
    if ns.dialplan is not None:
        cfg.dialplan_path = ns.dialplan
    if ns.sounds_dir is not None:
        cfg.sounds_dir = ns.sounds_dir
    if ns.recordings_dir is not None:
        cfg.recordings_dir = ns.recordings_dir
    sim = PbxSimulator(cfg)
    await sim.start()
    logging.getLogger("pbxsim").info("AMI listening on %s:%d", ns.host, sim.ami_port)
    stop = asyncio.Event()
    if ns.calls:
        asyncio.ensure_future(_scripted_calls(sim, ns))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover
            pass
    await stop.wait()
    await sim.stop()


async def _scripted_calls(sim: PbxSimulator, ns: argparse.Namespace) -> None:
    from .callers import CallerScript

    keys = [k for k in ns.keys.split(",")] if ns.keys else []
    # callers start once a manager (the product) is logged in, so no call goes unnoticed
    while not any(sess.authenticated for sess in sim.server.sessions):
        await asyncio.sleep(0.1)
    for i in range(ns.calls):
        await sim.place_call(CallerScript(dnis=ns.dnis, caller_num=f"1380013{i:04d}", keys=list(keys),
                                          patience=ns.patience, talk_time=ns.talk_time))
        await sim.clock.sleep(ns.interval)


def main(argv: list[str] | None = None) -> None:
    ns = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if ns.verbose else logging.INFO)
    asyncio.run(amain(ns))


if __name__ == "__main__":
    main()
