"""The live suite's two rigs: a real Asterisk (HOTLINE_LIVE_AMI) and the simulator.

Each scenario is an ``async def scenario(rig) -> dict`` run first against the
real Asterisk, then against :class:`pbxsim.PbxSimulator` with the same
dialplan (deploy/asterisk/extensions.conf + tests/live/asterisk/extensions_live.conf),
both through the product's stack: :class:`AmiClient`, :class:`AgiManager`,
:class:`CallModel`, :class:`CallControl`, :class:`Resync`.

Every event the client dispatches is recorded; :func:`event_diff` compares
the two recordings by event name and header names per event type and says
which differences touch headers the product reads (:data:`RELIED`).
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from cti.agi import AgiManager, AgiSession
from cti.ami.client import AmiClient
from cti.ami.protocol import Message
from cti.control import CallControl
from cti.model import TRACKED_VARS, CallModel
from cti.resync import Resync
from hotline.bus import LocalBus
from hotline.settings import AmiSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DIALPLAN = REPO / "deploy" / "asterisk" / "extensions.conf"
LIVE_DIALPLAN = Path(__file__).resolve().parent / "asterisk" / "extensions_live.conf"
PROMPTS = REPO / "flows" / "prompts"
DEPLOY_QUEUES = REPO / "deploy" / "asterisk" / "queues.conf"


def shipped_queues() -> tuple[str, ...]:
    """Queue names of deploy/asterisk/queues.conf (every section but [general])."""
    import re

    names = re.findall(r"^\[([^\]]+)\]", DEPLOY_QUEUES.read_text(), re.M)
    return tuple(n for n in names if n != "general")

# The manager.conf user the product ships (deploy/asterisk/manager.conf) and the secret
# docker-compose.yml substitutes when HOTLINE_AMI_SECRET is not set.
DEFAULT_USER = "hotline"
DEFAULT_SECRET = "change-me"


def live_address() -> str | None:
    v = os.environ.get("HOTLINE_LIVE_AMI", "").strip()
    return v or None


def live_settings(**kw: Any) -> AmiSettings:
    addr = live_address()
    assert addr, "HOTLINE_LIVE_AMI is not set"
    host, _, port = addr.rpartition(":")
    base: dict[str, Any] = dict(
        host=host or "127.0.0.1",
        port=int(port),
        username=os.environ.get("HOTLINE_LIVE_AMI_USER", DEFAULT_USER),
        secret=os.environ.get("HOTLINE_LIVE_AMI_SECRET", DEFAULT_SECRET),
        connect_timeout=5.0,
        action_timeout=10.0,
        ping_interval=30.0,
        pong_timeout=10.0,
        reconnect_initial=0.05,
        reconnect_max=0.5,
    )
    base.update(kw)
    return AmiSettings(**base)


# ---------------------------------------------------------------------------
# headers the product reads, per event type (cti/model.py, cti/agi.py, cti/control.py)
# ---------------------------------------------------------------------------
_CHAN = {"Channel", "Uniqueid", "Linkedid"}
RELIED: dict[str, set[str]] = {
    "Newchannel": _CHAN | {"Context", "Exten", "ChannelState", "CallerIDNum", "CallerIDName"},
    "Newstate": _CHAN | {"ChannelState"},
    "Newexten": _CHAN | {"Context", "Exten", "Priority", "Application", "AppData"},
    "VarSet": _CHAN | {"Variable", "Value"},
    "DialBegin": {"DestChannel", "DestUniqueid", "DestLinkedid", "DialString"},
    "DialEnd": {"DestChannel", "DestUniqueid", "DestLinkedid", "DialStatus"},
    "LocalBridge": {"LocalOneUniqueid", "LocalOneLinkedid", "LocalTwoUniqueid", "LocalTwoLinkedid"},
    "Hangup": _CHAN | {"Cause"},
    "BridgeCreate": {"BridgeUniqueid", "BridgeType", "BridgeTechnology"},
    "BridgeEnter": _CHAN | {"BridgeUniqueid"},
    "BridgeLeave": _CHAN | {"BridgeUniqueid"},
    "BridgeDestroy": {"BridgeUniqueid"},
    "MusicOnHoldStart": _CHAN | {"Class"},
    "MusicOnHoldStop": _CHAN,
    "MixMonitorStart": _CHAN,
    "MixMonitorStop": _CHAN,
    "ConfbridgeStart": {"Conference"},
    "ConfbridgeJoin": _CHAN | {"Conference", "Admin", "Muted"},
    "ConfbridgeLeave": _CHAN | {"Conference"},
    "ConfbridgeEnd": {"Conference"},
    "ConfbridgeMute": _CHAN | {"Conference"},
    "ConfbridgeUnmute": _CHAN | {"Conference"},
    "AsyncAGIStart": _CHAN | {"Env"},
    "AsyncAGIExec": {"Channel", "CommandId", "Result"},
    "AsyncAGIEnd": {"Channel"},
    "OriginateResponse": {"ActionID", "Response", "Reason", "Channel", "Uniqueid"},
    "Rename": {"Channel", "Uniqueid", "Newname"},
    "FullyBooted": set(),
}
# list items the product reads (cti/resync.py, cti/model.py reconcile, cti/control.py)
RELIED_ITEMS: dict[str, set[str]] = {
    "CoreShowChannel": _CHAN | {"Context", "Exten", "ChannelState", "CallerIDNum", "CallerIDName",
                                "Application", "ApplicationData", "BridgeId"},
    "Status": {"Channel", "Uniqueid"},
    "ConfbridgeList": {"Conference", "Channel", "Uniqueid", "CallerIDNum", "CallerIDName", "Muted", "Admin"},
    "ConfbridgeListRooms": {"Conference", "Parties", "Locked", "Muted"},
}


# ---------------------------------------------------------------------------
@dataclass
class Rig:
    kind: str  # "asterisk" | "pbxsim"
    client: AmiClient
    agi: AgiManager
    model: CallModel
    control: CallControl
    resync: Resync
    bus: LocalBus
    events: list[Message] = field(default_factory=list)
    sim: Any = None
    tmp: Path | None = None
    sessions: "asyncio.Queue[AgiSession]" = field(default_factory=asyncio.Queue)
    cdrs: list[Any] = field(default_factory=list)
    _stack: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    # -- waiting ---------------------------------------------------------------
    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list[Message]:
        return self.events[mark:]

    async def until(self, pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            v = pred()
            if v:
                return v
            if loop.time() > end:
                raise AssertionError(f"[{self.kind}] timed out waiting for {what}")
            await asyncio.sleep(0.01)

    async def event(self, name: str, since: int = 0, timeout: float = 15.0,
                    where: Callable[[Message], bool] | None = None) -> Message:
        def find() -> Message | None:
            for m in self.events[since:]:
                if m.name == name and (where is None or where(m)):
                    return m
            return None

        return await self.until(find, timeout, f"event {name}")

    async def session(self, timeout: float = 15.0) -> AgiSession:
        try:
            return await asyncio.wait_for(self.sessions.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"[{self.kind}] no AsyncAGI session within {timeout:g}s") from None

    async def settle(self, t: float = 0.3) -> None:
        await asyncio.sleep(t)
        await self.client.drain()
        await self.bus.drain()

    async def quiet(self, timeout: float = 15.0) -> None:
        """No channels left on the PBX (checked with CoreShowChannels)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            items = await self.client.list_action("CoreShowChannels", timeout=10)
            if not items:
                return
            if loop.time() > end:
                raise AssertionError(f"[{self.kind}] channels still up: {[m.get('Channel') for m in items]}")
            await asyncio.sleep(0.1)

    async def hangup_all(self) -> None:
        try:
            items = await self.client.list_action("CoreShowChannels", timeout=10)
        except Exception:
            return
        for m in items:
            try:
                await self.client.action("Hangup", {"Channel": m.get("Channel") or "", "Cause": "16"}, timeout=5)
            except Exception:
                pass

    # -- making calls ------------------------------------------------------------
    async def inbound(self, dnis: str = "12345", caller: str = '"Live Caller" <13800138000>',
                      variables: dict[str, str] | None = None) -> tuple[AgiSession, str]:
        """A citizen's call without a phone: ``Local/<dnis>@hotline-inbound`` (the ;2 half runs the
        product's inbound dialplan into AsyncAGI; the ;1 half waits in ``Wait(3600)``).
        Returns the AsyncAGI session and the ;1 channel name."""
        pending = await self.control.start_originate(
            f"Local/{dnis}@hotline-inbound", application="Wait", data="3600", caller_id=caller,
            variables=variables, ring_timeout=15,
        )
        res = await pending.result()
        assert res.success, f"[{self.kind}] originate into hotline-inbound failed: {res}"
        sess = await self.session()
        return sess, res.channel

    async def robot_agent(self, seat: str = "8001", call_id: str | None = None) -> str:
        """The agent leg the router would originate, answered by the test-only robot seat."""
        res = await self.control.originate(
            f"Local/{seat}@live-robot", context="hotline-agent", exten="connect", call_id=call_id,
            role="agent", ring_timeout=15,
        )
        assert res.success, f"[{self.kind}] robot agent originate failed: {res}"
        return res.channel

    async def close(self) -> None:
        for fn in reversed(self._stack):
            try:
                await fn()
            except Exception:
                pass


async def open_rig(kind: str, settings: AmiSettings, sim: Any = None, tmp: Path | None = None) -> Rig:
    client = AmiClient(settings)
    bus = LocalBus()
    cdrs: list[Any] = []

    class Sink:
        async def write(self, record: Any) -> None:
            cdrs.append(record)

    model = CallModel(bus, Sink())
    await model.start()
    control = CallControl(client, model, bus)
    control.start()
    agi = AgiManager(client, default_timeout=20.0)
    resync = Resync(client, model, bus, timeout=10.0)
    rig = Rig(kind, client, agi, model, control, resync, bus, sim=sim, tmp=tmp, cdrs=cdrs)
    client.subscribe(rig.events.append)  # first subscriber: the recording sees every event first
    client.subscribe(model.handle)
    resync.attach()

    async def on_session(sess: AgiSession) -> None:
        rig.sessions.put_nowait(sess)
        # keep the handler alive while the session is: the manager cancels it on hang-up
        while sess.active:
            await asyncio.sleep(0.05)

    agi.on_session(on_session)
    await client.start(timeout=10)
    await rig.until(lambda: resync.runs >= 1, what="first resync")

    async def stop() -> None:
        agi.close()
        control.close()
        resync.detach()
        await client.stop()
        await model.stop()
        await bus.close()

    rig._stack.append(stop)
    return rig


def cdr_summary(records: Iterable[Any]) -> list[tuple[Any, ...]]:
    """What a CDR says, without ids and times: comparable between the two rigs."""
    out = []
    for c in records:
        out.append((c.dnis, c.direction, c.caller_num, c.disposition, c.hangup_cause, len(c.legs), c.agent,
                    c.connected_at is not None, c.talk_time > 0, len(c.recordings), c.transfers, c.lost))
    return sorted(out, key=repr)


def combined_dialplan(tmp: Path) -> Path:
    """The dialplan the rig loads: the product's file, then the test-only contexts."""
    p = tmp / "extensions.conf"
    p.write_text(DEPLOY_DIALPLAN.read_text() + "\n" + LIVE_DIALPLAN.read_text())
    # the simulator reads the ConfBridge profiles beside the dialplan, as Asterisk reads its config dir
    (tmp / "confbridge.conf").write_text((DEPLOY_DIALPLAN.parent / "confbridge.conf").read_text())
    return p


async def open_sim_rig(tmp: Path, settings: AmiSettings) -> Rig:
    from pbxsim.config import SimConfig
    from pbxsim.sim import PbxSimulator

    sounds = tmp / "sounds"
    sounds.mkdir(exist_ok=True)
    if not (sounds / "hotline").exists():
        (sounds / "hotline").symlink_to(PROMPTS)
    cfg = SimConfig(
        port=0, speed=1.0, username=settings.username, secret=settings.secret,
        dialplan_path=combined_dialplan(tmp), sounds_dir=sounds, recordings_dir=tmp / "rec",
        queues=shipped_queues(),
    )
    sim = PbxSimulator(cfg)
    await sim.start()
    s = settings.model_copy(update={"host": "127.0.0.1", "port": sim.ami_port})
    rig = await open_rig("pbxsim", s, sim=sim, tmp=tmp)
    rig._stack.insert(0, sim.stop)
    return rig


# ---------------------------------------------------------------------------
# comparing the two recordings
# ---------------------------------------------------------------------------
def event_key(m: Message) -> str:
    """The comparison key: the event name; VarSet split into the variables the model tracks
    (``VarSet`` proper) and every other variable (``VarSet(other)``, not relied on)."""
    if m.name == "VarSet":
        var = (m.get("Variable") or "").lstrip("_")
        return "VarSet" if var in TRACKED_VARS else "VarSet(other)"
    return m.name


def header_sets(messages: Iterable[Message]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for m in messages:
        if m.kind == "Event":
            out[event_key(m)].update(k for k, _ in m.headers)
    return dict(out)


def event_diff(real: Iterable[Message], sim: Iterable[Message],
               relied: dict[str, set[str]] = RELIED, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """Structured difference between two recordings of the same action sequence.

    ``only_asterisk`` / ``only_pbxsim``: event types seen on one side only;
    ``headers``: per common event type, header names sent by one side only;
    ``relied``: the subset the product depends on (a relied event type missing in the
    simulator, a relied header the simulator lacks, or one real Asterisk never sends).
    """
    ign = set(ignore)
    r, s = header_sets(real), header_sets(sim)
    r = {k: v for k, v in r.items() if k not in ign}
    s = {k: v for k, v in s.items() if k not in ign}
    diff: dict[str, Any] = {
        "only_asterisk": sorted(set(r) - set(s)),
        "only_pbxsim": sorted(set(s) - set(r)),
        "headers": {},
        "relied": [],
    }
    for name in sorted(set(r) & set(s)):
        a, b = r[name] - s[name], s[name] - r[name]
        if a or b:
            diff["headers"][name] = {"only_asterisk": sorted(a), "only_pbxsim": sorted(b)}
    for name in diff["only_asterisk"]:
        if name in relied:
            diff["relied"].append(f"{name}: sent by Asterisk, never by the simulator")
    for name in diff["only_pbxsim"]:
        if name in relied:
            diff["relied"].append(f"{name}: sent by the simulator, never by Asterisk")
    for name, want in relied.items():
        if name in r and name in s:
            for h in sorted(want & (r[name] ^ s[name])):
                side = "Asterisk only" if h in r[name] else "simulator only"
                diff["relied"].append(f"{name}.{h}: {side}")
        if name in r:
            missing = sorted(want - r[name])
            if missing:
                diff["relied"].append(f"{name}: Asterisk never sent {missing} (the product reads them)")
    return diff


def item_diff(real: Iterable[Message], sim: Iterable[Message],
              relied: dict[str, set[str]] = RELIED_ITEMS) -> dict[str, Any]:
    """The same comparison for list-action items (CoreShowChannel, Status ...)."""
    return event_diff(real, sim, relied)
