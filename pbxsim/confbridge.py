"""ConfBridge(room,bridge_profile,user_profile) and the Confbridge* actions and events.

As in the three_way_confbridge capture: the conference is a ``base``/``softmix``
bridge created by ``ConfBridge`` and named after the room; a hidden announcer
channel is counted in ``BridgeNumChannels`` but never announced; ConfbridgeStart
follows the first BridgeEnter, ConfbridgeJoin follows each BridgeEnter;
ConfbridgeEnd precedes BridgeDestroy. A kicked user continues its dialplan.

User profiles come from ``confbridge.conf`` beside the dialplan. With
``music_on_hold_when_empty = yes`` (the shipped ``hotline_user``) a member alone
in the conference hears music on hold, as live Asterisk 22 reports it:
``MusicOnHoldStart`` (``Class`` = the profile's ``music_on_hold_class``,
``default``) after the lone member's ``ConfbridgeJoin`` or after the others
left, ``MusicOnHoldStop`` when a second member comes or the lone one leaves.
"""

from __future__ import annotations

import configparser
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .channels import Bridge, Channel, WakeReason
from .dialplan import split_args
from .engine import P_CALL
from .server import AmiSession, Request

if TYPE_CHECKING:  # pragma: no cover
    from .sim import PbxSimulator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserProfile:
    moh_when_empty: bool = False
    moh_class: str = "default"


def load_user_profiles(path: Path) -> dict[str, UserProfile]:
    """``type = user`` sections of a confbridge.conf (missing file: no profiles)."""
    cp = configparser.ConfigParser(strict=False, interpolation=None, inline_comment_prefixes=(";",),
                                   comment_prefixes=(";",))
    try:
        cp.read(path, encoding="utf-8")
    except (OSError, configparser.Error) as exc:
        log.warning("confbridge profiles not read from %s: %s", path, exc)
        return {}
    out: dict[str, UserProfile] = {}
    for name in cp.sections():
        sec = cp[name]
        if sec.get("type", "").strip() != "user":
            continue
        out[name] = UserProfile(
            moh_when_empty=sec.get("music_on_hold_when_empty", "no").strip().lower() in ("yes", "true", "on", "1"),
            moh_class=sec.get("music_on_hold_class", "default").strip() or "default",
        )
    return out


@dataclass
class User:
    chan: Channel
    joined: float
    muted: bool = False
    admin: bool = False
    kicked: bool = False
    profile: UserProfile = field(default_factory=UserProfile)
    moh: bool = False  # hearing music on hold (alone in the conference)


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
    profiles: dict[str, UserProfile] | None = None

    def _profile(self, name: str) -> UserProfile:
        if self.profiles is None:
            self.profiles = load_user_profiles(Path(self.sim.pbx.config.dialplan_path).parent / "confbridge.conf")
        return self.profiles.get(name, UserProfile())

    def _moh(self, u: User, on: bool) -> None:
        if on == u.moh or u.chan.hungup:
            return
        u.moh = on
        if on:
            self.sim.pbx.chan_event("MusicOnHoldStart", P_CALL, u.chan, (("Class", u.profile.moh_class),))
        else:
            self.sim.pbx.chan_event("MusicOnHoldStop", P_CALL, u.chan)

    def _lone_moh(self, conf: Conference) -> None:
        """The one member left alone hears music (if its profile says so); with two, nobody does."""
        users = list(conf.users.values())
        for u in users:
            self._moh(u, len(users) == 1 and u.profile.moh_when_empty)

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
        u = User(chan, pbx.clock.now(), profile=self._profile(args[2].strip() if len(args) > 2 else ""))
        for other in conf.users.values():
            self._moh(other, False)  # no longer alone
        conf.users[chan.name] = u
        if chan.call is not None:
            chan.call.enter("conference", pbx.clock.now())
        pbx.bridge_enter(chan, conf.bridge)
        if not conf.started:
            conf.started = True
            self.sim.pbx.emit("ConfbridgeStart", P_CALL, self._conf_headers(conf))
        self._user_event("ConfbridgeJoin", conf, u, [("Admin", "No"), ("Muted", "No")])
        self._lone_moh(conf)
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
        if conf.users.get(u.chan.name) is not u:
            return
        self._moh(u, False)
        del conf.users[u.chan.name]
        self._user_event("ConfbridgeLeave", conf, u, [("Admin", "No")])
        if u.chan.bridge is conf.bridge:
            pbx.bridge_leave(u.chan)
        self._lone_moh(conf)
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
