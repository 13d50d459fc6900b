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

from .channels import RINGING, UP, Channel, WakeReason
from .dialplan import split_args
from .engine import P_AGENT, P_CALL, P_DIALPLAN
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
    in_call: bool = False  # talking to a caller of this queue (set at AgentConnect)


@dataclass(eq=False)
class Entry:
    chan: Channel
    joined: float
    original_position: int


@dataclass
class Queue:
    name: str
    strategy: str = "leastrecent"
    members: dict[str, Member] = field(default_factory=dict)
    callers: list[Entry] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime: float = 0.0
    talktime: float = 0.0


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
        in_call = "1" if m.in_call else "0"
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
                ("Queue", q.name), ("Max", "0"), ("Strategy", q.strategy), ("Calls", str(len(q.callers))),
                ("Holdtime", str(int(q.holdtime))), ("TalkTime", str(int(q.talktime))),
                ("Completed", str(q.completed)), ("Abandoned", str(q.abandoned)),
                ("ServiceLevel", "0"), ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"), ("Weight", "0"),
                *tail])
            n += 1
            for m in q.members.values():
                if member and m.interface != member and m.name != member:
                    continue
                s.send_event("QueueMember", self.member_headers(q, m, self.device_status(m.state_interface), True)
                             + tail)
                n += 1
            now = self.sim.pbx.clock.now()
            for pos, e in enumerate(q.callers, 1):
                c = e.chan
                s.send_event("QueueEntry", [
                    ("Queue", q.name), ("Position", str(pos)), ("Channel", c.name), ("Uniqueid", c.uniqueid),
                    ("CallerIDNum", c.caller_num), ("CallerIDName", c.caller_name),
                    ("ConnectedLineNum", c.connected_num), ("ConnectedLineName", c.connected_name),
                    ("Wait", str(int(now - e.joined))), ("Priority", "0"), *tail])
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
            now = self.sim.pbx.clock.now()
            longest = max((now - e.joined for e in q.callers), default=0.0)
            s.send_event("QueueSummary", [
                ("Queue", q.name), ("LoggedIn", str(logged)), ("Available", str(avail)),
                ("Callers", str(len(q.callers))), ("HoldTime", str(int(q.holdtime))),
                ("TalkTime", str(int(q.talktime))), ("LongestHoldTime", str(int(longest))), *tail])
            n += 1
        h = [("ActionID", aid)] if aid is not None else []
        h.extend([("EventList", "Complete"), ("ListItems", str(n))])
        s.send_event("QueueSummaryComplete", h)

    # -- the Queue() application --------------------------------------------------------------
    def _caller_event(self, name: str, q: Queue, chan: Channel, extra: list[tuple[str, str]]) -> None:
        h = chan.headers()
        h.append(("Queue", q.name))
        h.extend(extra)
        self.sim.pbx.emit(name, P_AGENT, h)

    def _agent_event(self, name: str, q: Queue, chan: Channel, dest: Channel, m: Member,
                     extra: list[tuple[str, str]]) -> None:
        h = chan.headers()
        h.extend(dest.headers("Dest"))
        h.extend([("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name)])
        h.extend(extra)
        self.sim.pbx.emit(name, P_AGENT, h)

    def _pick(self, q: Queue, tried: set[str]) -> Member | None:
        free = [m for m in q.members.values() if not m.paused and m.interface not in tried
                and self.device_status(m.state_interface) == 1 and m.interface.upper().startswith("PJSIP/")]
        if not free:
            return None
        return min(free, key=lambda m: (m.penalty, m.last_call))

    async def app(self, chan: Channel, data: str) -> int:
        """Queue(name[,options[,URL[,announce[,timeout]]]]): members are rung one at a time (leastrecent)."""
        pbx = self.sim.pbx
        args = split_args(data)
        q = self.queues.get(args[0].strip() if args else "")
        if q is None:
            pbx.set_var(chan, "QUEUESTATUS", "UNKNOWN")
            return 0
        timeout = float(args[4]) if len(args) > 4 and args[4].strip() else None
        entry = Entry(chan, pbx.clock.now(), len(q.callers) + 1)
        q.callers.append(entry)
        self._caller_event("QueueCallerJoin", q, chan, [("Position", str(len(q.callers))),
                                                         ("Count", str(len(q.callers)))])
        chan.moh = True
        pbx.chan_event("MusicOnHoldStart", P_CALL, chan, (("Class", "default"),))
        if chan.call is not None:
            chan.call.enter("queue", pbx.clock.now())
        ring_timeout = self.sim.config.queue_member_timeout
        retry = self.sim.config.queue_retry
        tried: set[str] = set()
        status = "TIMEOUT"
        try:
            while True:
                if chan.soft_hangup:
                    status = "ABANDON"
                    break
                if pbx.interrupted(chan):
                    status = "CONTINUE"
                    break
                waited = pbx.clock.now() - entry.joined
                if timeout is not None and waited >= timeout:
                    break
                member = self._pick(q, tried) if q.callers and q.callers[0] is entry else None
                if member is None:
                    tried.clear()
                    await pbx.wait(chan, 1.0)
                    continue
                outcome = await self._ring_member(q, entry, member, ring_timeout)
                if outcome == "answered":
                    status = "ANSWERED"
                    break
                if outcome == "abandon":
                    status = "ABANDON"
                    break
                tried.add(member.interface)
                await pbx.wait(chan, retry)
        finally:
            if entry in q.callers:
                pos = q.callers.index(entry) + 1
                q.callers.remove(entry)
                if status == "ABANDON" or chan.soft_hangup:
                    self._stop_moh(chan)
                    q.abandoned += 1
                    self._caller_event("QueueCallerAbandon", q, chan, [
                        ("Position", str(pos)), ("OriginalPosition", str(entry.original_position)),
                        ("HoldTime", str(int(pbx.clock.now() - entry.joined)))])
                self._caller_event("QueueCallerLeave", q, chan, [("Position", str(pos)),
                                                                  ("Count", str(len(q.callers)))])
            self._stop_moh(chan)
            if not chan.hungup:
                pbx.set_var(chan, "QUEUESTATUS", status if status != "ANSWERED" else "")
                if chan.call is not None:
                    chan.call.enter("dialplan", pbx.clock.now())
        return -1 if chan.soft_hangup else 0

    def _stop_moh(self, chan: Channel) -> None:
        if chan.moh:
            chan.moh = False
            if not chan.hungup:
                self.sim.pbx.chan_event("MusicOnHoldStop", P_CALL, chan)

    async def _ring_member(self, q: Queue, entry: Entry, m: Member, ring_timeout: float) -> str:
        pbx, chan = self.sim.pbx, entry.chan
        ep = pbx.resolve(m.interface)
        if ep.kind != "agent" or ep.agent is None:
            return "failed"
        num, name = pbx.endpoint_callerid(ep)
        callee = pbx.new_channel("PJSIP", ep.resource, context=self.sim.config.agent_context, exten="s",
                                 linkedid=chan.linkedid, caller_num=num, caller_name=name)
        pbx.attach_far_end_audio(callee, ep)
        callee.context, callee.exten = self.sim.config.agent_context, chan.exten
        self._agent_event("AgentCalled", q, chan, callee, m, [])
        h = chan.headers()
        h.extend(callee.headers("Dest"))
        h.append(("DialString", m.interface))
        pbx.emit("DialBegin", P_CALL, h)
        callee.on_hangup.append(lambda _c: chan.wake("peer"))
        t0 = pbx.clock.now()
        apps = self.sim.apps
        outcome = "noanswer"
        if ep.agent.mode == "busy":
            pbx.remote_hangup(callee, cause=17, tech_cause=486, destroy=False)
            apps._dial_end(chan, callee, "BUSY")
            pbx.destroy(callee)
            return "failed"
        pbx.set_state(callee, RINGING)
        pbx.chan_event("Newexten", P_DIALPLAN, callee, (
            ("Extension", callee.exten), ("Application", "AppQueue"), ("AppData", "(Outgoing Line)")))
        apps._dial_state(chan, callee, "RINGING")
        delay = float("inf") if ep.agent.mode in ("ring", "never") else ep.agent.answer_after
        while True:
            left = min(delay, ring_timeout) - (pbx.clock.now() - t0)
            if left <= 0:
                outcome = "answer" if delay <= ring_timeout else "noanswer"
                break
            reason, _ = await pbx.wait(chan, left)
            if callee.hungup or callee.soft_hangup:
                outcome = "failed"
                break
            if reason == WakeReason.HANGUP:
                outcome = "abandon"
                break
        if outcome != "answer":
            if outcome == "noanswer":
                self._agent_event("AgentRingNoAnswer", q, chan, callee, m,
                                  [("RingTime", str(int(ring_timeout * 1000)))])
                apps._dial_end(chan, callee, "NOANSWER")
            if outcome == "abandon":
                self._stop_moh(chan)
            apps._dial_end(chan, callee, "CANCEL")
            if not callee.hungup:
                pbx.destroy(callee)
            return outcome
        pbx.set_state(callee, UP)
        apps._dial_end(chan, callee, "ANSWER")
        self._stop_moh(chan)
        pbx.set_var(chan, "MEMBERNAME", m.name)
        pbx.set_var(callee, "MEMBERNAME", m.name)
        pos = q.callers.index(entry) + 1
        q.callers.remove(entry)
        self._caller_event("QueueCallerLeave", q, chan, [("Position", str(pos)), ("Count", str(len(q.callers)))])
        hold = pbx.clock.now() - entry.joined
        q.holdtime = hold if q.completed == 0 else (q.holdtime * 3 + hold) / 4
        self._agent_event("AgentConnect", q, chan, callee, m, [
            ("HoldTime", str(int(hold))), ("RingTime", str(int(pbx.clock.now() - t0)))])
        m.in_call = True
        bridge = pbx.bridge_create()
        pbx.bridge_enter(callee, bridge)
        pbx.bridge_enter(chan, bridge)
        pbx.start_driver(callee, lambda: pbx.bridge_wait(callee, bridge))
        pbx.schedule_far_end_hangup(callee, ep)
        talk_start = pbx.clock.now()

        def complete(leaving: Channel) -> None:
            # AgentComplete comes before the first BridgeLeave, as in the captures
            talk = pbx.clock.now() - talk_start
            q.completed += 1
            q.talktime = talk if q.completed == 1 else (q.talktime * 3 + talk) / 4
            if chan.pending_goto is not None and chan.goto_from_bridge == "transfer":
                reason = "transfer"
            elif leaving is chan and not chan.pending_goto:
                reason = "caller"
            else:
                reason = "agent"
            m.in_call = False
            self._agent_event("AgentComplete", q, chan, callee, m, [
                ("HoldTime", str(int(hold))), ("TalkTime", str(int(talk))), ("Reason", reason)])

        bridge.before_leave = complete
        await pbx.bridge_wait(chan, bridge)
        return "answered"

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
    sim.pbx.apps["queue"] = qs.app
    sim.pbx.on_channel_destroyed.append(qs.on_channel_change)
    sim.pbx.on_state_change.append(qs.on_channel_change)
