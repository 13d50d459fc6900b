"""ConfBridge(room,bridge_profile,user_profile) and the Confbridge* actions and events.

As in the three_way_confbridge capture: the conference is a ``base``/``softmix``
bridge created by ``ConfBridge`` and named after the room; a hidden announcer
channel is counted in ``BridgeNumChannels`` but never announced; ConfbridgeStart
follows the first BridgeEnter, ConfbridgeJoin follows each BridgeEnter;
ConfbridgeEnd precedes BridgeDestroy. A kicked user continues its dialplan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .channels import Bridge, Channel, WakeReason
from .dialplan import split_args
from .engine import P_CALL
from .server import AmiSession, Request

if TYPE_CHECKING:  # pragma: no cover
    from .sim import PbxSimulator


@dataclass
class User:
    chan: Channel
    joined: float
    muted: bool = False
    admin: bool = False
    kicked: bool = False


@dataclass
class Conference:
    name: str
    bridge: Bridge
    users: dict[str, User] = field(default_factory=dict)
    started: bool = False


@dataclass
class ConfBridges:
    sim: "PbxSimulator"
    confs: dict[str, Conference] = field(default_factory=dict)

    def _conf_headers(self, conf: Conference) -> list[tuple[str, str]]:
        h = [("Conference", conf.name)]
        h.extend(conf.bridge.headers())
        return h

    def _user_event(self, name: str, conf: Conference, u: User, extra: list[tuple[str, str]]) -> None:
        h = self._conf_headers(conf)
        h.extend(u.chan.headers())
        h.extend(extra)
        self.sim.pbx.emit(name, P_CALL, h)

    async def app(self, chan: Channel, data: str) -> int:
        pbx = self.sim.pbx
        args = split_args(data)
        room = args[0].strip() if args and args[0].strip() else "default"
        conf = self.confs.get(room)
        if conf is None:
            b = pbx.bridge_create("base", "softmix", name=room, creator="ConfBridge")
            b.conference = room
            b.hidden = 1  # the announcer channel (CBAnn/<room>-...;2)
            conf = Conference(room, b)
            self.confs[room] = conf
        u = User(chan, pbx.clock.now())
        conf.users[chan.name] = u
        if chan.call is not None:
            chan.call.enter("conference", pbx.clock.now())
        pbx.bridge_enter(chan, conf.bridge)
        if not conf.started:
            conf.started = True
            self.sim.pbx.emit("ConfbridgeStart", P_CALL, self._conf_headers(conf))
        self._user_event("ConfbridgeJoin", conf, u, [("Admin", "No"), ("Muted", "No")])
        res = 0
        try:
            while True:
                reason, _ = await pbx.wait(chan, None)
                if reason == WakeReason.HANGUP:
                    res = -1
                    break
                if u.kicked or (reason == WakeReason.REDIRECT and pbx.interrupted(chan)):
                    break
        finally:
            self._leave(conf, u)
        return res

    def _leave(self, conf: Conference, u: User) -> None:
        pbx = self.sim.pbx
        if conf.users.pop(u.chan.name, None) is None:
            return
        self._user_event("ConfbridgeLeave", conf, u, [("Admin", "No")])
        if u.chan.bridge is conf.bridge:
            pbx.bridge_leave(u.chan)
        if not conf.users:
            self.confs.pop(conf.name, None)
            self.sim.pbx.emit("ConfbridgeEnd", P_CALL, self._conf_headers(conf))
            conf.bridge.hidden = 0
            pbx.bridge_destroy(conf.bridge)
        if u.chan.call is not None and not u.chan.hungup:
            u.chan.call.enter("dialplan", pbx.clock.now())

    # -- actions ----------------------------------------------------------------------
    def _find(self, s: AmiSession, aid: str | None, room: str | None) -> Conference | None:
        if not self.confs:
            s.respond(aid, "Error", [("Message", "No active conferences.")])
            return None
        conf = self.confs.get(room or "")
        if conf is None:
            s.respond(aid, "Error", [("Message", "No Conference by that name found.")])
        return conf

    async def a_confbridgelist(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        conf = self._find(s, aid, req.get("Conference"))
        if conf is None:
            return
        s.respond(aid, "Success", [("EventList", "start"), ("Message", "Confbridge user list will follow")])
        now = self.sim.pbx.clock.now()
        for u in conf.users.values():
            h: list[tuple[str, str]] = [("ActionID", aid)] if aid is not None else []
            h.extend([("Conference", conf.name), ("Admin", "Yes" if u.admin else "No"), ("MarkedUser", "No"),
                      ("WaitMarked", "No"), ("EndMarked", "No"), ("EndMarkedAny", "No"), ("Waiting", "No"),
                      ("Muted", "Yes" if u.muted else "No"), ("Talking", "No"),
                      ("AnsweredTime", str(int(now - (u.chan.answered_at or u.joined))))])
            h.extend(u.chan.headers())
            s.send_event("ConfbridgeList", h)
        h2: list[tuple[str, str]] = [("ActionID", aid)] if aid is not None else []
        h2.extend([("EventList", "Complete"), ("ListItems", str(len(conf.users)))])
        s.send_event("ConfbridgeListComplete", h2)

    async def a_confbridgelistrooms(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        if not self.confs:
            s.respond(aid, "Error", [("Message", "No active conferences.")])
            return
        s.respond(aid, "Success", [("EventList", "start"), ("Message", "Confbridge conferences will follow")])
        for conf in self.confs.values():
            h: list[tuple[str, str]] = [("ActionID", aid)] if aid is not None else []
            h.extend([("Conference", conf.name), ("Parties", str(len(conf.users))), ("Marked", "0"),
                      ("Locked", "No"), ("Muted", "No")])
            s.send_event("ConfbridgeListRooms", h)
        h2: list[tuple[str, str]] = [("ActionID", aid)] if aid is not None else []
        h2.extend([("EventList", "Complete"), ("ListItems", str(len(self.confs)))])
        s.send_event("ConfbridgeListRoomsComplete", h2)

    def _user(self, s: AmiSession, req: Request) -> tuple[Conference, User] | None:
        aid = req.action_id
        conf = self._find(s, aid, req.get("Conference"))
        if conf is None:
            return None
        name = req.get("Channel") or ""
        u = conf.users.get(name)
        if u is None and name.lower() == "all":
            return None
        if u is None:
            s.respond(aid, "Error", [("Message", "No Channel by that name found in Conference.")])
            return None
        return conf, u

    async def _mute(self, s: AmiSession, req: Request, mute: bool) -> None:
        found = self._user(s, req)
        if found is None:
            return
        conf, u = found
        u.muted = mute
        s.respond(req.action_id, "Success", [("Message", "User muted" if mute else "User unmuted")])
        self._user_event("ConfbridgeMute" if mute else "ConfbridgeUnmute", conf, u, [("Admin", "No")])

    async def a_confbridgemute(self, s: AmiSession, req: Request) -> None:
        await self._mute(s, req, True)

    async def a_confbridgeunmute(self, s: AmiSession, req: Request) -> None:
        await self._mute(s, req, False)

    async def a_confbridgekick(self, s: AmiSession, req: Request) -> None:
        found = self._user(s, req)
        if found is None:
            return
        conf, u = found
        s.respond(req.action_id, "Success", [("Message", "User kicked")])
        u.kicked = True
        u.chan.wake("kicked")


def install(sim: "PbxSimulator") -> None:
    cb = ConfBridges(sim)
    sim.pbx.conferences = cb
    sim.pbx.apps["confbridge"] = cb.app
    h = sim.server.handler
    for name in ("ConfbridgeList", "ConfbridgeListRooms", "ConfbridgeMute", "ConfbridgeUnmute", "ConfbridgeKick"):
        h.register(name, getattr(cb, "a_" + name.lower()))
