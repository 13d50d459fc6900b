"""app_queue members and status as Asterisk 22 reports them over AMI.

QueueAdd/QueueRemove/QueuePause/QueuePenalty with QueueMemberAdded/Removed/
Pause/Penalty events, QueueStatus (QueueParams, QueueMember, QueueEntry) and
QueueSummary list responses, QueueMemberStatus when a member's device changes
state. Device states: 1 not in use, 2 in use, 4 invalid, 5 unavailable,
6 ringing. The shipped dialplan has no Queue() (callers wait in the server's
own hold), so queues only ever hold members here; dynamic members vanish on restart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .channels import RINGING, UP, Channel
from .engine import P_AGENT
from .server import AmiSession, Request

if TYPE_CHECKING:  # pragma: no cover
    from .sim import PbxSimulator


@dataclass
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = field(default_factory=lambda: int(time.time()))
    wrapuptime: int = 0
    last_status: int = 1


@dataclass
class Queue:
    name: str
    strategy: str = "leastrecent"
    members: dict[str, Member] = field(default_factory=dict)
    completed: int = 0
    abandoned: int = 0


def _bool(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Queues:
    sim: "PbxSimulator"
    queues: dict[str, Queue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for q in self.sim.config.queues:
            self.queues[q] = Queue(q)

    # -- device state -------------------------------------------------------------
    def device_status(self, interface: str) -> int:
        pbx = self.sim.pbx
        tech, _, res = interface.partition("/")
        if tech.upper() != "PJSIP":
            return 1
        ep = pbx.resolve(interface)
        if ep.kind == "unknown":
            return 4
        if ep.agent is not None and ep.agent.mode == "unregistered":
            return 5
        status = 1
        for c in pbx.registry.channels.values():
            if c.tech == "PJSIP" and c.endpoint == res:
                if c.state == UP:
                    return 2
                if c.state == RINGING:
                    status = 6
        return status

    def member_headers(self, q: Queue, m: Member, status: int, for_list: bool = False) -> list[tuple[str, str]]:
        in_call = "1" if status in (2, 6) else "0"
        if for_list:
            return [("Queue", q.name), ("Name", m.name), ("Location", m.interface),
                    ("StateInterface", m.state_interface), ("Membership", "dynamic"), ("Penalty", str(m.penalty)),
                    ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)),
                    ("LastPause", str(m.last_pause)), ("LoginTime", str(m.login_time)), ("InCall", in_call),
                    ("Status", str(status)), ("Paused", "1" if m.paused else "0"), ("PausedReason", m.reason),
                    ("Wrapuptime", str(m.wrapuptime))]
        return [("Queue", q.name), ("MemberName", m.name), ("Interface", m.interface),
                ("StateInterface", m.state_interface), ("Membership", "dynamic"), ("Penalty", str(m.penalty)),
                ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)),
                ("LastPause", str(m.last_pause)), ("LoginTime", str(m.login_time)), ("InCall", in_call),
                ("Status", str(status)), ("Paused", "1" if m.paused else "0"), ("PausedReason", m.reason),
                ("Ringinuse", "0"), ("Wrapuptime", str(m.wrapuptime))]

    def _emit(self, name: str, q: Queue, m: Member) -> None:
        st = self.device_status(m.state_interface)
        m.last_status = st
        self.sim.pbx.emit(name, P_AGENT, self.member_headers(q, m, st))

    def on_channel_change(self, chan: Channel) -> None:
        if chan.tech != "PJSIP" or not self.queues:
            return
        iface = f"PJSIP/{chan.endpoint}"
        for q in self.queues.values():
            for m in q.members.values():
                if m.state_interface.lower() == iface.lower():
                    st = self.device_status(m.state_interface)
                    if st != m.last_status:
                        if m.last_status == 2 and st != 2:
                            m.calls_taken += 1
                            m.last_call = int(time.time())
                        self._emit("QueueMemberStatus", q, m)

    # -- actions ------------------------------------------------------------------------
    async def a_queueadd(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        qname, iface = req.get("Queue") or "", req.get("Interface") or ""
        if not qname or not iface:
            s.respond(aid, "Error", [("Message", "'Queue' or 'Interface' not set.")])
            return
        q = self.queues.get(qname)
        if q is None:
            s.respond(aid, "Error", [("Message", "Unable to add interface to queue: No such queue")])
            return
        if iface in q.members:
            s.respond(aid, "Error", [("Message", "Unable to add interface: Already there")])
            return
        m = Member(iface, req.get("MemberName") or iface, req.get("StateInterface") or iface,
                   int(req.get("Penalty") or 0), _bool(req.get("Paused")), req.get("Reason") or "")
        q.members[iface] = m
        s.respond(aid, "Success", [("Message", "Added interface to queue")])
        self._emit("QueueMemberAdded", q, m)

    async def a_queueremove(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        q = self.queues.get(req.get("Queue") or "")
        iface = req.get("Interface") or ""
        if q is None or iface not in q.members:
            s.respond(aid, "Error", [("Message", "Unable to remove interface: Not there")])
            return
        m = q.members.pop(iface)
        s.respond(aid, "Success", [("Message", "Removed interface from queue")])
        self._emit("QueueMemberRemoved", q, m)

    async def a_queuepause(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        iface = req.get("Interface") or ""
        paused_txt = req.get("Paused")
        if not iface or paused_txt is None:
            s.respond(aid, "Error", [("Message", "Need 'Interface' and 'Paused' parameters.")])
            return
        paused = _bool(paused_txt)
        qname = req.get("Queue")
        targets = [q for q in self.queues.values() if (not qname or q.name == qname) and iface in q.members]
        if not targets:
            s.respond(aid, "Error", [("Message", "Interface not found")])
            return
        s.respond(aid, "Success", [("Message", f"Interface {'paused' if paused else 'unpaused'} successfully")])
        for q in targets:
            m = q.members[iface]
            m.paused = paused
            m.reason = (req.get("Reason") or "") if paused else ""
            m.last_pause = int(time.time()) if paused else m.last_pause
            self._emit("QueueMemberPause", q, m)

    async def a_queuepenalty(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        iface = req.get("Interface") or ""
        try:
            penalty = int(req.get("Penalty") or "")
        except ValueError:
            penalty = -1
        qname = req.get("Queue")
        targets = [q for q in self.queues.values() if (not qname or q.name == qname) and iface in q.members]
        if not iface or penalty < 0 or not targets:
            s.respond(aid, "Error", [("Message", "Invalid interface, queuename or penalty")])
            return
        s.respond(aid, "Success", [("Message", "Interface penalty set successfully")])
        for q in targets:
            m = q.members[iface]
            m.penalty = penalty
            self._emit("QueueMemberPenalty", q, m)

    async def a_queuestatus(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        qname = req.get("Queue")
        member = req.get("Member")
        s.respond(aid, "Success", [("EventList", "start"), ("Message", "Queue status will follow")])
        n = 0
        tail = [("ActionID", aid)] if aid is not None else []
        for q in self.queues.values():
            if qname and q.name != qname:
                continue
            s.send_event("QueueParams", [
                ("Queue", q.name), ("Max", "0"), ("Strategy", q.strategy), ("Calls", "0"), ("Holdtime", "0"),
                ("TalkTime", "0"), ("Completed", str(q.completed)), ("Abandoned", str(q.abandoned)),
                ("ServiceLevel", "0"), ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"), ("Weight", "0"),
                *tail])
            n += 1
            for m in q.members.values():
                if member and m.interface != member and m.name != member:
                    continue
                s.send_event("QueueMember", self.member_headers(q, m, self.device_status(m.state_interface), True)
                             + tail)
                n += 1
        h = [("ActionID", aid)] if aid is not None else []
        h.extend([("EventList", "Complete"), ("ListItems", str(n))])
        s.send_event("QueueStatusComplete", h)

    async def a_queuesummary(self, s: AmiSession, req: Request) -> None:
        aid = req.action_id
        qname = req.get("Queue")
        s.respond(aid, "Success", [("EventList", "start"), ("Message", "Queue summary will follow")])
        n = 0
        tail = [("ActionID", aid)] if aid is not None else []
        for q in self.queues.values():
            if qname and q.name != qname:
                continue
            statuses = [self.device_status(m.state_interface) for m in q.members.values()]
            logged = sum(1 for st in statuses if st not in (4, 5))
            avail = sum(1 for m, st in zip(q.members.values(), statuses) if st == 1 and not m.paused)
            s.send_event("QueueSummary", [
                ("Queue", q.name), ("LoggedIn", str(logged)), ("Available", str(avail)), ("Callers", "0"),
                ("HoldTime", "0"), ("TalkTime", "0"), ("LongestHoldTime", "0"), *tail])
            n += 1
        h = [("ActionID", aid)] if aid is not None else []
        h.extend([("EventList", "Complete"), ("ListItems", str(n))])
        s.send_event("QueueSummaryComplete", h)

    def cli_show(self, name: str) -> list[str]:
        out: list[str] = []
        for q in self.queues.values():
            if name and q.name != name:
                continue
            out.append(f"{q.name} has 0 calls (max unlimited) in '{q.strategy}' strategy (0s holdtime, 0s talktime), "
                       f"W:0, C:{q.completed}, A:{q.abandoned}, SL:0.0%, SL2:0.0% within 0s")
            if q.members:
                out.append("   Members: ")
                for m in q.members.values():
                    st = self.device_status(m.state_interface)
                    desc = {1: "Not in use", 2: "In use", 4: "Invalid", 5: "Unavailable", 6: "Ringing"}.get(st, "")
                    out.append(f"      {m.name} ({m.interface}) (dynamic){' (paused)' if m.paused else ''} "
                               f"({desc}) has taken {m.calls_taken} calls (last was {m.last_call} secs ago)")
            else:
                out.append("   No Members")
            out.append("   No Callers")
            out.append("")
        if name and not out:
            out.append(f"No such queue: {name}.")
        return out


def install(sim: "PbxSimulator") -> None:
    qs = Queues(sim)
    sim.pbx.queues = qs
    h = sim.server.handler
    for name in ("QueueAdd", "QueueRemove", "QueuePause", "QueuePenalty", "QueueStatus", "QueueSummary"):
        h.register(name, getattr(qs, "a_" + name.lower()))
    sim.pbx.on_channel_destroyed.append(qs.on_channel_change)
    sim.pbx.on_state_change.append(qs.on_channel_change)
