"""The flow engine: one :class:`FlowSession` per call, driven over AsyncAGI.

The engine only uses the documented ``AgiSession`` contract
(``command(text, timeout)``, ``channel``, ``uniqueid``, ``linkedid``,
``env``) so a scripted stand-in can drive it in tests and in the simulator.

Node -> AGI:

- play -> ``STREAM FILE``; menu -> ``GET DATA`` (1 digit, barge-in) with
  VoiceXML noinput/nomatch handlers chosen by count, spoken keywords from a
  :class:`~ivr.ports.SpeechSource` heard over the same window;
- collect -> ``GET DATA`` (``#`` ends entry) and digit validation;
- record_speech -> ``RECORD FILE ... BEEP s=<silence>``;
- queue -> :class:`~ivr.ports.QueuePort`; while the caller waits the
  engine plays announcements and hold music and offers a call-back (once:
  when the router's handle says the expected wait is above the queue's
  threshold, or at the latest after the node's ``callback_offer.after``);
- transfer / emergency -> :class:`~ivr.ports.CallActions`, with context in
  channel variables (``HOTLINE_CALL``, ``HOTLINE_IVR_PATH``, ``HOTLINE_SUMMARY``);
- survey -> ``GET DATA`` 1-5, kept on the session summary.

A session the CTI adopted after an AMI reconnect (``agi.resumed``: the caller
was still in AsyncAGI) does not replay the welcome: a caller the router marked
waiting (``HOTLINE_QUEUE_STATE``) goes straight back to its queue node and
keeps its place; one whose session this engine lost to the link loss goes on
at the interrupted node; otherwise the flow restarts at its entry after the
``resume_apology`` prompt. ``STREAM FILE`` answered ``result=-1 endpos=0``
with no hang-up requested is a prompt missing on the PBX (logged once, outcome
``error``), not the caller hanging up.

Every step goes to the :class:`~ivr.ports.IvrRecorder`. A hang-up at any
point ends the session cleanly and the summary keeps what was collected.
A session keeps the :class:`~ivr.bundle.FlowBundle` it started with, so a
publish during the call changes nothing for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from cti.agi import AgiHangup, AgiResult, agi_quote
from cti.ami.errors import AmiNotConnected
from hotline.logging import mask_number
from ivr import digits as digit_rules
from ivr.bundle import CompiledFlow, FlowBundle, FlowRegistry, normalise_text
from ivr.ports import (
    CallActions,
    CallerHistory,
    CallInfo,
    Clock,
    IvrEvent,
    IvrRecorder,
    NoHistory,
    QueueHandle,
    QueueOutcome,
    QueueOutcomeKind,
    QueuePort,
    QueueRequest,
    SessionSummary,
    SpeechSource,
    SystemClock,
    TransferOutcome,
    TransferRequest,
)
from ivr.schema import (
    AllOf,
    AnyOf,
    BusinessHours,
    CallbackRequestNode,
    CollectNode,
    ConditionNode,
    DnisTest,
    EmergencyNode,
    GotoNode,
    Handler,
    HangupNode,
    MenuNode,
    NodeBase,
    NotOf,
    PlayNode,
    QueueNode,
    RecordSpeechNode,
    RepeatCaller,
    SetNode,
    SurveyNode,
    TransferNode,
    VarTest,
)

log = logging.getLogger(__name__)

REENTRY_CONTEXT = "hotline-ivr"
SAMPLE_RATE = 8000


class AgiChannel(Protocol):
    """The part of ``cti.agi.AgiSession`` the engine uses."""

    channel: str
    uniqueid: str
    linkedid: str
    env: dict[str, str]

    async def command(self, cmd: str, timeout: float | None = None) -> AgiResult: ...


@dataclass(frozen=True)
class EngineConfig:
    agi_timeout: float = 30.0
    recordings_dir: str = "/var/spool/asterisk/monitor/hotline"
    max_steps: int = 500  # a session taking more steps is ended (flows are validated; this is a guard)
    hangup_grace: float = 2.0  # after the caller leaves AGI, how long to wait for the router/CTI to say why
    hold_wait_ms: int = 2000  # silence slice while waiting when no hold music is set
    min_recording: float = 0.5  # seconds; shorter is "nothing said"
    prompt_base: str = ""  # "" = absolute paths; "hotline" = hotline/<prompt> in Asterisk's sounds dir


@dataclass(frozen=True, slots=True)
class _Next:
    event: str
    target: str


@dataclass(frozen=True, slots=True)
class _Jump:
    flow: str
    node: str | None


@dataclass(frozen=True, slots=True)
class _Interrupted:
    flow: str
    node: str
    vars: dict[str, Any]
    path: tuple[str, ...]


class _Done(Exception):
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome


class IvrEngine:
    """Builds one FlowSession per AsyncAGI session (``AgiManager.on_session(engine.handle)``)."""

    def __init__(
        self,
        registry: FlowRegistry,
        queue: QueuePort,
        actions: CallActions,
        recorder: IvrRecorder,
        clock: Clock | None = None,
        history: CallerHistory | None = None,
        speech: Callable[[CallInfo], SpeechSource | None] | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self.registry = registry
        self.queue = queue
        self.actions = actions
        self.recorder = recorder
        self.clock = clock or SystemClock()
        self.history = history or NoHistory()
        self.speech = speech or (lambda call: None)
        self.config = config or EngineConfig()
        # (call id, channel) -> where a session stood when the AMI link loss ended it; a session
        # adopted after the reconnect on that channel goes on from there
        self.interrupted: dict[tuple[str, str], _Interrupted] = {}

    def _remember(self, key: tuple[str, str], at: "_Interrupted") -> None:
        self.interrupted.pop(key, None)
        self.interrupted[key] = at
        while len(self.interrupted) > 10000:
            self.interrupted.pop(next(iter(self.interrupted)))

    async def handle(self, agi: AgiChannel) -> SessionSummary:
        return await FlowSession(self, agi, self.registry.current).run()


class FlowSession:
    def __init__(self, engine: IvrEngine, agi: AgiChannel, bundle: FlowBundle) -> None:
        self.e = engine
        self.agi = agi
        self.bundle = bundle
        self.timeout = engine.config.agi_timeout
        env = agi.env
        self.call_id = agi.linkedid or agi.uniqueid
        self.caller = env.get("agi_callerid", "") or ""
        ext = env.get("agi_extension", "") or ""
        self.reentry = env.get("agi_context") == REENTRY_CONTEXT
        dnid = env.get("agi_dnid", "")
        self.dnis = (dnid if dnid not in ("", "unknown") else ext) if self.reentry else (ext or dnid)
        self.vars: dict[str, Any] = {}
        self.path: list[str] = []
        self.visits: dict[tuple[str, str], int] = {}
        self.seq = 0
        self.survey_score: int | None = None
        self.recordings: list[str] = []
        self.outcome = "completed"
        self.hotline: str | None = None
        self.merge_mode: str | None = None
        self.flow: CompiledFlow
        self.node_id = ""
        self.started_at = engine.clock.now()
        self.speech: SpeechSource | None = None
        self.typeahead: str | None = None  # a key pressed during a barge-in prompt, answers the next menu
        self._handlers: dict[type, Callable[[str, Any], Awaitable[_Next | _Jump | None]]] = {
            PlayNode: self._play, MenuNode: self._menu, CollectNode: self._collect,
            RecordSpeechNode: self._record, ConditionNode: self._condition, SetNode: self._set,
            QueueNode: self._queue, TransferNode: self._transfer, EmergencyNode: self._emergency,
            SurveyNode: self._survey, CallbackRequestNode: self._callback, HangupNode: self._hangup,
            GotoNode: self._goto,
        }

    # ------------------------------------------------------------------ life cycle
    def _entry(self) -> tuple[str, str | None]:
        reg = self.bundle.catalog.hotlines
        if self.reentry:
            ext = self.agi.env.get("agi_extension", "")
            flow = reg.reentry.get(ext)
            if flow is not None:
                self.vars["reentry"] = ext
                h = reg.by_number.get(self.dnis)
                if h is not None:
                    self.hotline, self.merge_mode = h.number, h.mode
                return flow, None
        h = reg.entry_for(self.dnis)
        if h is None:
            raise LookupError(f"no hotline entry for DNIS {self.dnis!r} and no primary hotline")
        self.hotline, self.merge_mode = h.number, h.mode
        self.vars.update(hotline=h.number, department=h.department, merge_mode=h.mode)
        if h.skill:
            self.vars["skill"] = h.skill
        if h.mode == "interconnection" and h.partner_system:
            self.vars["forward_to"] = h.partner_system
        if h.mode == "call_transfer" and h.transfer_number:
            self.vars["transfer_number"] = h.transfer_number
        return h.flow, h.node

    async def run(self) -> SessionSummary:
        flow_name = "?"
        try:
            flow_name, node = self._entry()
            self.flow = self.bundle.flows[flow_name]
            self.speech = self.e.speech(self.call_info())
            log.info("call %s from %s to %s enters %s v%s", self.call_id, mask_number(self.caller), self.dnis,
                     flow_name, self.flow.version)
            start = node or self.flow.flow.start
            if getattr(self.agi, "resumed", False):
                start = await self._resume(start)
            await self._loop(start)
        except AgiHangup as exc:
            missing = getattr(exc, "missing_prompt", None)
            if missing is not None:
                # not the caller: the PBX could not play a prompt and ends the call (deployment error)
                if self.outcome == "completed":
                    self.outcome = "error"
                self._event("error", {"error": "prompt_missing", "prompt": missing})
            else:
                if self.outcome == "completed":
                    self.outcome = "caller_hangup"
                self._event("hangup", {"by": "caller"})
        except _Done as d:
            self.outcome = d.outcome
        except asyncio.CancelledError:
            # the CTI cancels a session's task when its channel hangs up
            if not getattr(self.agi, "active", True):
                if self.outcome == "completed":
                    self.outcome = "caller_hangup"
                self._event("hangup", {"by": "caller"})
            else:
                self.outcome = "cancelled"
            await self._finish(flow_name)
            raise
        except AmiNotConnected as exc:
            # The AMI link went away under the session (server stopping, Asterisk restarting): the
            # call itself is accounted for by the call model's resync; one line, no traceback.
            self.outcome = "link_lost"
            if getattr(self, "flow", None) is not None and self.node_id:
                self.e._remember((self.call_id, self.agi.channel), _Interrupted(
                    self.flow.name, self.node_id.split(".", 1)[1], dict(self.vars), tuple(self.path)))
            log.warning("IVR session %s interrupted at %s: %s", self.call_id, self.node_id, exc)
            self._event("error", {"error": "AmiNotConnected", "message": str(exc)[:200]})
        except Exception as exc:
            self.outcome = "error"
            log.exception("IVR session %s failed at %s", self.call_id, self.node_id)
            self._event("error", {"error": type(exc).__name__, "message": str(exc)[:200]})
        return await self._finish(flow_name)

    async def _finish(self, flow_name: str) -> SessionSummary:
        flow = getattr(self, "flow", None)
        summary = SessionSummary(
            call_id=self.call_id, channel=self.agi.channel, caller=self.caller, dnis=self.dnis,
            hotline=self.hotline, merge_mode=self.merge_mode,
            flow=flow.name if flow else flow_name, flow_version=flow.version if flow else None,
            outcome=self.outcome, ivr_path=tuple(self.path), variables=dict(self.vars),
            survey_score=self.survey_score, recordings=tuple(self.recordings),
            started_at=self.started_at, ended_at=self.e.clock.now(),
        )
        try:
            # shielded: a cancellation (the channel hung up) must not lose what was collected
            await asyncio.shield(self.e.recorder.finish(summary))
        except Exception:
            log.exception("IVR recorder failed to store the end of call %s", self.call_id)
        return summary

    async def _loop(self, node_name: str) -> None:
        steps = 0
        max_steps = self.e.config.max_steps
        while True:
            steps += 1
            if steps > max_steps:
                self._event("error", {"error": "max_steps"})
                raise _Done("error")
            flow = self.flow
            node = flow.flow.nodes[node_name]
            self.node_id = f"{flow.name}.{node_name}"
            self.path.append(self.node_id)
            key = (flow.name, node_name)
            n = self.visits.get(key, 0) + 1
            self.visits[key] = n
            self._event("enter", {"type": node.type} if n == 1 else {"type": node.type, "visit": n})
            if node.max_visits is not None and n > node.max_visits:
                target = node.on["max_visits"]
                self._event("exit", {"event": "max_visits", "to": target})
                node_name = target
                continue
            if self.typeahead and node.type not in ("menu", "condition", "set", "goto"):
                self.typeahead = None  # only a menu right after the prompt takes the key
            nxt = await self._handlers[type(node)](node_name, node)
            if nxt is None:
                return
            if isinstance(nxt, _Jump):
                self.flow = self.bundle.flows[nxt.flow]
                node_name = nxt.node or self.flow.flow.start
                self._event("exit", {"event": "goto", "to": f"{nxt.flow}.{node_name}"})
                continue
            self._event("exit", {"event": nxt.event, "to": nxt.target})
            node_name = nxt.target

    # ------------------------------------------------------------------ helpers
    def call_info(self) -> CallInfo:
        return CallInfo(self.call_id, self.agi.channel, self.caller, self.dnis, self.hotline, self.merge_mode,
                        tuple(self.path), dict(self.vars))

    def _event(self, event: str, data: dict[str, Any] | None = None) -> None:
        self.seq += 1
        self.e.recorder.record(IvrEvent(self.call_id, self.seq, self.node_id, event, data, self.e.clock.now()))

    def _prompt(self, pid: str) -> str:
        name = self.bundle.catalog.prompts.names[pid]
        base = self.e.config.prompt_base
        return f"{base}/{name.rpartition('/')[2]}" if base else name

    async def _cmd(self, cmd: str) -> AgiResult:
        return await self.agi.command(cmd, self.timeout)

    async def _stream(self, pid: str, escape: str = "") -> str | None:
        name = self._prompt(pid)
        r = await self._cmd(f"STREAM FILE {agi_quote(name)} {agi_quote(escape, always=True)}")
        v = r.value
        if v is not None and v < 0:
            if r.endpos == 0 and getattr(self.agi, "hangup_requested", True) is False:
                # Asterisk answers a file it cannot open with "200 result=-1 endpos=0", ends the AGI
                # (AGISTATUS=FAILURE) and the dialplan hangs up: the caller did not hang up
                log.error("call %s: prompt %r (%s) could not be played on %s: the sound file is missing on the "
                          "PBX (deployment error); the PBX ends the call", self.call_id, pid, name, self.agi.channel)
                exc = AgiHangup(f"{self.agi.channel}: prompt {name} could not be played", r)
                exc.missing_prompt = pid  # type: ignore[attr-defined]
                raise exc
            raise AgiHangup(f"{self.agi.channel}: hang-up during STREAM FILE", r)
        return chr(v) if v else None

    # ------------------------------------------------------------------ resuming after a reconnect
    async def _resume(self, start: str) -> str:
        """Where a session adopted after an AMI reconnect goes on (the caller is still in AGI).

        * the router's mark ``HOTLINE_QUEUE_STATE`` = ``waiting|<queue>|<lane>|<enqueued_at>`` is
          on the channel: straight back to waiting at the flow's queue node for that queue
          (the router's enqueue with the same call id returns the caller's existing place);
        * otherwise, if this server's session on the channel was ended by the link loss, the
          flow goes on at the node that was interrupted (its prompt plays again), with the
          variables collected so far;
        * otherwise (e.g. the server restarted) the flow restarts at its entry, after the
          ``resume_apology`` prompt when the catalogue has one.
        """
        before = self.e.interrupted.pop((self.call_id, self.agi.channel), None)
        try:
            r = await self._cmd("GET VARIABLE HOTLINE_QUEUE_STATE")
            mark = r.data if r.result == "1" else None
        except AgiHangup:
            raise
        except Exception as exc:  # noqa: BLE001 - an AGI error here only loses the shortcut
            log.warning("call %s: could not read the queue mark after a reconnect: %s", self.call_id, exc)
            mark = None
        parts = (mark or "").split("|")
        if len(parts) == 4 and parts[0] == "waiting":
            found = self._queue_node_for(parts[1])
            if found is not None:
                flow, node = found
                self.flow = self.bundle.flows[flow]
                log.info("call %s resumed after an AMI reconnect: back to waiting in queue %s (%s.%s)",
                         self.call_id, parts[1], flow, node)
                self._event("resume", {"queue": parts[1], "at": f"{flow}.{node}"})
                return node
        if before is not None and before.flow in self.bundle.flows \
                and before.node in self.bundle.flows[before.flow].flow.nodes:
            self.flow = self.bundle.flows[before.flow]
            self.vars.update(before.vars)
            self.path.extend(before.path[:-1])  # the interrupted node is entered again
            log.info("call %s resumed after an AMI reconnect at %s.%s", self.call_id, before.flow, before.node)
            self._event("resume", {"at": f"{before.flow}.{before.node}"})
            return before.node
        log.info("call %s resumed after an AMI reconnect: the flow %s starts again", self.call_id, self.flow.name)
        self._event("resume", {"restart": True})
        if "resume_apology" in self.bundle.catalog.prompts.names:
            await self._stream("resume_apology")
        return start

    def _queue_node_for(self, queue_id: str) -> tuple[str, str] | None:
        """The first queue node serving ``queue_id``: in the current flow first, then any flow."""
        queue_for = getattr(self.e.queue, "queue_for", None)

        def serves(node: QueueNode) -> bool:
            if node.skill == queue_id:
                return True
            if callable(queue_for):
                try:
                    return queue_for(node.skill) == queue_id
                except Exception:  # noqa: BLE001 - a skill no queue serves
                    return False
            return False

        flows = [self.flow] + [f for f in self.bundle.flows.values() if f is not self.flow]
        for f in flows:
            for name, node in f.flow.nodes.items():
                if isinstance(node, QueueNode) and serves(node):
                    return f.name, name
        return None

    async def _get_data(self, pid: str, timeout: float, max_digits: int) -> str:
        r = await self._cmd(f"GET DATA {agi_quote(self._prompt(pid))} {int(timeout * 1000)} {max_digits}")
        if r.result == "-1":
            raise AgiHangup(f"{self.agi.channel}: hang-up during GET DATA", r)
        return r.result

    async def _set_var(self, name: str, value: str) -> None:
        await self._cmd(f"SET VARIABLE {name} {agi_quote(value, always=True)}")

    @staticmethod
    def _handler(handlers: list[Handler], count: int) -> Handler | None:
        best = None
        for h in handlers:
            if h.count <= count and (best is None or h.count >= best.count):
                best = h
        return best

    async def _ask(self, prompts: list[str], timeout: float, max_digits: int, escape: str,
                   listen: bool) -> tuple[str, str | None]:
        """Play prompts (barge-in on ``escape``) and take digits; with ``listen`` also recognised speech."""
        for pid in prompts[:-1]:
            if escape:
                d = await self._stream(pid, escape)
                if d:
                    return d, None
            else:
                await self._stream(pid)
        speech = self.speech if listen else None
        if speech is None:
            return await self._get_data(prompts[-1], timeout, max_digits), None
        task = asyncio.ensure_future(speech.listen(timeout))
        try:
            got = await self._get_data(prompts[-1], timeout, max_digits)
            if got:
                return got, None
            try:
                text = await asyncio.wait_for(task, timeout)
            except TimeoutError:
                text = None
            return "", text
        finally:
            if not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    def _exhausted(self, node: NodeBase, last: str) -> _Next:
        target = node.on.get(last) or node.on["failure"]
        ev = last if last in node.on else "failure"
        self._event("retries_exhausted", {"last": last})
        return _Next(ev, target)

    # ------------------------------------------------------------------ node types
    async def _play(self, name: str, node: PlayNode) -> _Next:
        escape = "0123456789*#" if node.barge_in else ""
        for pid in node.prompt:
            d = await self._stream(pid, escape)
            if d:
                self._event("barge_in", {"digit": d})
                self.typeahead = d
                break
        return _Next("next", node.next)  # type: ignore[arg-type]

    async def _menu(self, name: str, node: MenuNode) -> _Next:
        cm = self.flow.menus[name]
        counts = {"noinput": 0, "nomatch": 0}
        last = "noinput"
        listen = bool(cm.keywords) and self.speech is not None
        for attempt in range(node.retries + 1):
            prompts = list(node.prompt)
            if attempt:
                h = self._handler(node.noinput if last == "noinput" else node.nomatch, counts[last])
                if h is not None:
                    prompts.insert(0, h.prompt)
            if attempt == 0 and self.typeahead:
                got, text = self.typeahead, None
                self.typeahead = None
            else:
                got, text = await self._ask(prompts, node.timeout, 1, cm.escape, listen)
            if got:
                target = cm.keys.get(got[0])
                self._event("input", {"digits": got})
                if target is not None:
                    return _Next(f"choice:{got[0]}", target)
                last = "nomatch"
            elif text:
                self._event("input", {"speech": text})
                norm = normalise_text(text)
                for kw, target in cm.keywords:
                    if kw and kw in norm:
                        self._event("match", {"keyword": kw})
                        return _Next(f"keyword:{kw}", target)
                last = "nomatch"
            else:
                last = "noinput"
            counts[last] += 1
            self._event(last, {"count": counts[last]})
        return self._exhausted(node, last)

    async def _collect(self, name: str, node: CollectNode) -> _Next:
        counts = {"noinput": 0, "nomatch": 0}
        last = "noinput"
        for attempt in range(node.retries + 1):
            prompts = list(node.prompt)
            if attempt:
                h = self._handler(node.noinput if last == "noinput" else node.nomatch, counts[last])
                if h is not None:
                    prompts.insert(0, h.prompt)
            got, _ = await self._ask(prompts, node.timeout, node.max_digits, "", False)
            if got:
                value = digit_rules.check(node.validate_, got)
                self._event("input", {"var": node.var, "valid": value is not None, "length": len(got)})
                if value is not None:
                    self.vars[node.var] = value
                    return _Next("next", node.next)  # type: ignore[arg-type]
                last = "nomatch"
            else:
                last = "noinput"
            counts[last] += 1
            self._event(last, {"count": counts[last]})
        return self._exhausted(node, last)

    async def _record(self, name: str, node: RecordSpeechNode) -> _Next:
        for pid in node.prompt:
            await self._stream(pid)
        path = f"{self.e.config.recordings_dir.rstrip('/')}/{self.call_id}-{name}-{self.seq + 1}"
        cmd = (f"RECORD FILE {agi_quote(path)} wav {agi_quote('#', always=True)} {int(node.max_duration * 1000)} 0"
               f"{' BEEP' if node.beep else ''} s={max(1, int(node.silence))}")
        r = await self._cmd(cmd)
        seconds = (r.endpos or 0) / SAMPLE_RATE
        hung_up = r.result == "-1"
        said = seconds >= self.e.config.min_recording
        if said or hung_up:
            self.vars[node.var] = path + ".wav"
            self.recordings.append(path + ".wav")
        self._event("recorded", {"file": path + ".wav", "seconds": round(seconds, 1), "end": r.data or ""})
        if hung_up:
            raise AgiHangup(f"{self.agi.channel}: hang-up while recording", r)
        if not said and "noinput" in node.on:
            return _Next("noinput", node.on["noinput"])
        return _Next("next", node.next)  # type: ignore[arg-type]

    async def _condition(self, name: str, node: ConditionNode) -> _Next:
        for i, b in enumerate(node.branches):
            if await self._test(b.when):
                return _Next(f"branch:{i}", b.next)
        return _Next("else", node.else_)

    async def _test(self, p: Any) -> bool:
        if isinstance(p, BusinessHours):
            return self.bundle.catalog.calendar.is_open(p.business_hours, self.e.clock.now())
        if isinstance(p, DnisTest):
            return self.dnis in p.dnis or (self.hotline is not None and self.hotline in p.dnis)
        if isinstance(p, VarTest):
            s = p.var
            v = self.vars.get(s.name)
            if s.op == "set":
                return v is not None and v != ""
            if s.op == "unset":
                return v is None or v == ""
            if s.op == "eq":
                return v == s.value or (v is not None and str(v) == str(s.value))
            if s.op == "ne":
                return not (v == s.value or (v is not None and str(v) == str(s.value)))
            if s.op == "in":
                return v in (s.value or []) or str(v) in [str(x) for x in (s.value or [])]
            try:
                a, b = float(v), float(s.value)
            except (TypeError, ValueError):
                return False
            return a > b if s.op == "gt" else a < b
        if isinstance(p, RepeatCaller):
            if not self.caller:
                return False
            n = await self.e.history.recent_calls(self.caller, p.repeat_caller.within, self.e.clock.now())
            return n >= p.repeat_caller.min_calls
        if isinstance(p, AllOf):
            for q in p.all:
                if not await self._test(q):
                    return False
            return True
        if isinstance(p, AnyOf):
            for q in p.any:
                if await self._test(q):
                    return True
            return False
        if isinstance(p, NotOf):
            return not await self._test(p.not_)
        raise TypeError(f"unknown condition {type(p).__name__}")

    async def _set(self, name: str, node: SetNode) -> _Next:
        self.vars.update(node.vars)
        self._event("set", dict(node.vars))
        return _Next("next", node.next)  # type: ignore[arg-type]

    def _context_vars(self) -> dict[str, str]:
        v = self.vars
        summary = "; ".join(f"{k}={v[k]}" for k in ("hotline", "department", "request_type", "lane") if k in v)
        return {
            "HOTLINE_CALL": self.call_id,
            "HOTLINE_DNIS": self.dnis,
            "HOTLINE_IVR_PATH": ">".join(p.split(".", 1)[1] if p.startswith(self.flow.name + ".") else p
                                         for p in self.path)[-400:],
            "HOTLINE_SUMMARY": summary[:200],
        }

    async def _hold_slice(self, hold: str | None, escape: str = "") -> str | None:
        if hold:
            return await self._stream(hold, escape)
        r = await self._cmd(f"WAIT FOR DIGIT {self.e.config.hold_wait_ms}")
        v = r.value
        if v is not None and v < 0:
            raise AgiHangup(f"{self.agi.channel}: hang-up while waiting", r)
        d = chr(v) if v else None
        return d if d and d in escape else None

    async def _after_agi_left(self, fut: "asyncio.Future[Any]") -> Any:
        """The caller left AGI during a wait: give the router/CTI a moment to say why."""
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.e.config.hangup_grace)
        except TimeoutError:
            return None

    async def _queue(self, name: str, node: QueueNode) -> _Next | None:
        clock = self.e.clock
        if node.survey:
            await self._set_var("HOTLINE_AFTER", "survey")
        for k, val in self._context_vars().items():
            await self._set_var(k, val)
        offer = node.callback_offer
        req = QueueRequest(self.call_info(), node.skill, node.priority, node.max_wait, offer is not None)
        handle: QueueHandle = await self.e.queue.enqueue(req)
        self._event("enqueue", {"skill": node.skill, "priority": node.priority})
        fut = handle.outcome
        start = clock.monotonic()
        # the first announcement at once, each other one after its own interval
        due = [start if i == 0 else start + a.every for i, a in enumerate(node.announcements)]
        offered = False
        greeted = not node.announcements  # the router's call-back signal counts after the first announcement
        try:
            while not fut.done():
                now = clock.monotonic()
                waited = now - start
                if node.max_wait is not None and waited >= node.max_wait:
                    await handle.cancel("max_wait")
                    self._event("queue_outcome", {"outcome": "overflow", "reason": "max_wait"})
                    return _Next("overflow", node.on["overflow"])
                why = None if offer is None or offered else self._offer_due(handle, offer.after, waited, greeted)
                if why is not None:
                    offered = True
                    got = await self._get_data(offer.prompt, 5.0, 1)  # type: ignore[union-attr]
                    self._event("callback_offer", {"digits": got, "reason": why})
                    if got == offer.key:
                        await handle.accept_callback(self._callback_number(None))
                    continue
                i = next((j for j, t in enumerate(due) if t <= now), None)
                if i is not None:
                    a = node.announcements[i]
                    due[i] = now + a.every
                    greeted = True
                    d = await self._stream(a.prompt, offer.key if offered and offer else "")
                    if a.say_wait:
                        est = handle.estimated_wait()
                        if est is not None:
                            self._event("estimated_wait", {"seconds": round(est)})
                            await self._cmd(f"SAY NUMBER {max(1, round(est / 60))} \"\"")
                else:
                    d = await self._hold_slice(node.hold_music, offer.key if offered and offer else "")
                if d and offer is not None and offered and d == offer.key:
                    await handle.accept_callback(self._callback_number(None))
        except AgiHangup:
            res = await self._after_agi_left(fut)
            if isinstance(res, QueueOutcome) and res.kind is QueueOutcomeKind.CONNECTED:
                return self._queue_done(node, res)
            if not fut.done():
                await handle.cancel("caller hung up")
            raise
        return self._queue_done(node, fut.result())

    def _offer_due(self, handle: QueueHandle, after: float, waited: float, greeted: bool) -> str | None:
        """Why a call-back is to be offered now, or None.

        The router's handle may say whether the caller's expected wait is above the queue's
        call-back threshold (``offer_callback()``); the flow's own ``after`` time offers it anyway.
        """
        ask = getattr(handle, "offer_callback", None)
        if greeted and callable(ask):
            try:
                if ask():
                    return "expected_wait"
            except Exception:
                log.warning("call %s: the queue could not say whether to offer a call-back", self.call_id,
                            exc_info=True)
        return "waited" if waited >= after else None

    def _queue_done(self, node: QueueNode, res: QueueOutcome) -> _Next | None:
        self._event("queue_outcome", {"outcome": res.kind.value, "agent": res.agent, "reason": res.reason})
        if res.kind is QueueOutcomeKind.CONNECTED:
            self.vars["agent"] = res.agent
            raise _Done("connected")
        if res.kind is QueueOutcomeKind.CALLBACK:
            if res.callback_id:
                self.vars["callback_id"] = res.callback_id
            self.outcome = "callback"
            return _Next("callback", node.on["callback"])
        if res.kind is QueueOutcomeKind.HANGUP:
            raise AgiHangup("caller hung up in queue")
        return _Next("overflow", node.on["overflow"])

    def _callback_number(self, var: str | None) -> str:
        if var and self.vars.get(var):
            return str(self.vars[var])
        return self.caller

    async def _do_transfer(self, req: TransferRequest, hold: str | None) -> TransferOutcome:
        """Run the transfer; for attended ones the caller hears hold music meanwhile."""
        task = asyncio.ensure_future(self.e.actions.transfer(req))
        try:
            await asyncio.sleep(0)  # let the transfer start before the first hold slice
            if req.mode == "attended":
                while not task.done():
                    await self._hold_slice(hold)
            return await task
        except AgiHangup:
            res = await self._after_agi_left(task)
            if res is TransferOutcome.ANSWERED:
                return res
            raise
        finally:
            if not task.done():
                task.cancel()

    async def _transfer(self, name: str, node: TransferNode) -> _Next:
        kind, value = node.target.kind_value()
        if kind == "extension":
            context, dest = "hotline-agent", value
        elif kind == "hotline":
            h = self.bundle.catalog.hotlines.by_number[value]
            context, dest = "hotline-outbound", h.transfer_number or h.number
        else:
            context, dest = "hotline-outbound", value
        if node.prompt:
            await self._stream(node.prompt)
        variables = self._context_vars() if node.with_context else {"HOTLINE_CALL": self.call_id}
        for k, val in variables.items():
            await self._set_var(k, val)
        req = TransferRequest(self.call_info(), kind, dest, context, node.mode, node.timeout, variables)  # type: ignore[arg-type]
        self._event("transfer", {"kind": kind, "to": dest, "mode": node.mode})
        outcome = await self._do_transfer(req, node.hold_music)
        self._event("transfer_outcome", {"outcome": outcome.value})
        if outcome is TransferOutcome.ANSWERED:
            raise _Done("transferred")
        if outcome is TransferOutcome.CALLER_HANGUP:
            raise AgiHangup("caller hung up during transfer")
        ev = outcome.value if outcome.value in node.on else "failure"
        return _Next(ev, node.on[ev])

    async def _emergency(self, name: str, node: EmergencyNode) -> _Next | None:
        self.vars["emergency"] = node.service
        await self._stream(node.prompt)
        req = TransferRequest(self.call_info(), "emergency", node.service, "hotline-outbound", "blind", 30.0,
                              {"HOTLINE_CALL": self.call_id})
        self._event("transfer", {"kind": "emergency", "to": node.service, "mode": "blind"})
        outcome = await self._do_transfer(req, None)
        self._event("transfer_outcome", {"outcome": outcome.value})
        if outcome is TransferOutcome.ANSWERED:
            raise _Done("emergency")
        if outcome is TransferOutcome.CALLER_HANGUP:
            raise AgiHangup("caller hung up during emergency transfer")
        if "failure" in node.on:
            return _Next("failure", node.on["failure"])
        if node.fallback_prompt:
            await self._stream(node.fallback_prompt)
        self.outcome = "emergency_failed"
        await self._cmd("HANGUP")
        raise _Done("emergency_failed")

    async def _survey(self, name: str, node: SurveyNode) -> _Next:
        counts = {"noinput": 0, "nomatch": 0}
        last = "noinput"
        for attempt in range(node.retries + 1):
            prompts = [node.prompt]
            if attempt:
                h = self._handler(node.noinput if last == "noinput" else node.nomatch, counts[last])
                if h is not None:
                    prompts.insert(0, h.prompt)
            got, _ = await self._ask(prompts, node.timeout, 1, "12345", False)
            if got and got in "12345":
                self.survey_score = int(got)
                self.vars["survey_score"] = self.survey_score
                self._event("survey", {"score": self.survey_score})
                if node.thanks:
                    await self._stream(node.thanks)
                return _Next("next", node.next)  # type: ignore[arg-type]
            last = "nomatch" if got else "noinput"
            counts[last] += 1
            self._event(last, {"count": counts[last]})
        self._event("survey", {"score": None})
        return _Next("next", node.next)  # type: ignore[arg-type]

    async def _callback(self, name: str, node: CallbackRequestNode) -> _Next:
        number = self._callback_number(node.number_var)
        try:
            cid = await self.e.queue.request_callback(self.call_info(), node.skill, number,
                                                      str(self.vars.get("request_type", "")))
        except Exception as exc:
            self._event("callback_failed", {"error": type(exc).__name__})
            if "failure" in node.on:
                return _Next("failure", node.on["failure"])
            raise
        self.vars["callback_id"] = cid
        self.outcome = "callback"
        self._event("callback", {"id": cid, "skill": node.skill})
        if node.prompt:
            await self._stream(node.prompt)
        return _Next("next", node.next)  # type: ignore[arg-type]

    async def _hangup(self, name: str, node: HangupNode) -> None:
        if node.prompt:
            await self._stream(node.prompt)
        self._event("hangup", {"by": "ivr"})
        await self._cmd("HANGUP")
        return None

    async def _goto(self, name: str, node: GotoNode) -> _Jump:
        return _Jump(node.flow, node.node)


def parse_at(text: str, tz: str = "Asia/Shanghai") -> dt.datetime:
    """``2026-11-21 20:00`` in the centre's time zone -> aware datetime."""
    from zoneinfo import ZoneInfo

    d = dt.datetime.fromisoformat(text)
    return d if d.tzinfo else d.replace(tzinfo=ZoneInfo(tz))
