"""Resync after every (re)connect: CoreShowChannels, QueueStatus, ConfBridge rooms -> reconcile.

While the AMI link was down the model saw nothing: calls may have ended (their
channels are gone: the model hangs them up with cause "lost while disconnected",
so each closes and yields its one CDR), calls may have started (channels the
model does not know: adopted), and after an Asterisk restart every channel and
every dynamic queue member is gone (channel names restart at -00000000; the
model keys by Uniqueid, which stays unique).

Ordering: the model's stream position is marked *before* ``CoreShowChannels`` is
sent and the client's event queue is drained before reconciling, so a channel
created after the snapshot was taken (absent from it but alive) is never hung up,
and one that hung up after it is never re-added.

The composition root wires it: ``Resync(client, model, bus).attach()``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Callable

from cti.ami.errors import AmiActionError, AmiError
from cti.events import AmiLinkDown, AmiLinkUp, ModelResynced, QueueMemberState, QueueSnapshot
from cti.model import CallModel, Publisher, NullPublisher, utcnow

log = logging.getLogger("cti.resync")


def _int(v: str | None) -> int:
    try:
        return int(v) if v else 0
    except ValueError:
        return 0


class Resync:
    def __init__(
        self,
        client: Any,
        model: CallModel,
        bus: Publisher | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        timeout: float | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.bus = bus or NullPublisher()
        self._clock = clock
        self.timeout = timeout
        self.runs = 0
        self.restarts = 0
        self.last: ModelResynced | None = None
        self._startup: tuple[str, str] | None = None
        self._lock = asyncio.Lock()  # a reconnect during a resync queues the next one
        self._removers: list[Callable[[], Any]] = []

    def attach(self) -> None:
        """Run :meth:`run` after every login and publish link up/down."""
        self._removers.append(self.client.on_connect(self.run))
        on_disconnect = getattr(self.client, "on_disconnect", None)
        if on_disconnect is not None:
            self._removers.append(on_disconnect(self._down))

    def detach(self) -> None:
        for r in self._removers:
            r()
        self._removers.clear()

    def _down(self, exc: BaseException | None = None) -> None:
        self.bus.publish(AmiLinkDown(self._clock(), str(exc) if exc else "closed"))

    async def run(self) -> ModelResynced:
        async with self._lock:
            return await self._run()

    async def _run(self) -> ModelResynced:
        self.bus.publish(AmiLinkUp(self._clock()))
        errors: list[str] = []
        mark = self.model.mark()
        try:
            items = await self.client.list_action("CoreShowChannels", {}, timeout=self.timeout)
        except AmiError as e:
            # Without a snapshot nothing can be reconciled safely; the next login retries.
            log.error("resync: CoreShowChannels failed: %s", e)
            res = ModelResynced(self._clock(), 0, 0, 0, self.model.live_calls, errors=(f"CoreShowChannels: {e}",))
            self.bus.publish(res)
            self.last = res
            return res
        drain = getattr(self.client, "drain", None)
        if drain is not None:
            await drain()
        rec = self.model.reconcile(items, since=mark)
        announced = self.model.restart_pending  # a Shutdown event came before the link dropped
        if await self._restarted(errors) or announced:
            # Every channel of the old process is gone and its ids may come back.
            self.restarts += 1
            self.model.forget_ended()
        if rec.added:
            # Adopted channels: their VarSet events were missed. HOTLINE_CALL ties an originated
            # leg (agent, transfer recipient, conference guest) to its call.
            try:
                status = await self.client.list_action(
                    "Status", {"Variables": "HOTLINE_CALL,HOTLINE_DNIS,HOTLINE_ROLE"}, timeout=self.timeout
                )
                self.model.apply_variables(status)
            except AmiError as e:
                errors.append(f"Status: {e}")

        queues = 0
        try:
            q_items = await self.client.list_action("QueueStatus", {}, timeout=self.timeout)
            snap = self._queue_snapshot(q_items)
            queues = len(snap.queues)
            self.bus.publish(snap)
        except AmiError as e:
            errors.append(f"QueueStatus: {e}")

        rooms: dict[str, list[Any]] = {}
        conf_ok = True
        try:
            room_items = await self.client.list_action("ConfbridgeListRooms", {}, timeout=self.timeout)
            for item in room_items:
                name = item.fields.get("Conference")
                if not name:
                    continue
                try:
                    rooms[name] = await self.client.list_action(
                        "ConfbridgeList", {"Conference": name}, timeout=self.timeout
                    )
                except AmiActionError:
                    pass  # the room ended meanwhile
        except AmiActionError:
            rooms = {}  # "No active conferences."
        except AmiError as e:
            conf_ok = False
            errors.append(f"ConfbridgeListRooms: {e}")
        if conf_ok:
            self.model.reconcile_conferences(rooms)

        self.runs += 1
        res = ModelResynced(
            at=self._clock(),
            closed=rec.closed,
            added=rec.added,
            updated=rec.updated,
            live_calls=self.model.live_calls,
            queues=queues,
            conferences=len(rooms),
            errors=tuple(errors),
        )
        log.info(
            "resync #%d: %d calls closed (lost while disconnected), %d channels added, %d updated, %d live calls",
            self.runs,
            res.closed,
            res.added,
            res.updated,
            res.live_calls,
        )
        self.last = res
        self.bus.publish(res)
        return res

    async def _restarted(self, errors: list[str]) -> bool:
        """True when Asterisk's start time differs from the one seen at the previous resync."""
        try:
            st = await self.client.action("CoreStatus", {}, timeout=self.timeout)
        except AmiError as e:
            errors.append(f"CoreStatus: {e}")
            return False
        startup = (st.fields.get("CoreStartupDate") or "", st.fields.get("CoreStartupTime") or "")
        previous, self._startup = self._startup, startup
        if previous is not None and previous != startup:
            log.warning("Asterisk restarted (started %s %s); forgetting ended call ids", *startup)
            return True
        return False

    def _queue_snapshot(self, items: list[Any]) -> QueueSnapshot:
        queues: list[str] = []
        members: list[QueueMemberState] = []
        waiting = 0
        for item in items:
            f = item.fields
            if item.name == "QueueParams":
                queues.append(f.get("Queue") or "")
            elif item.name == "QueueMember":
                members.append(
                    QueueMemberState(
                        queue=f.get("Queue") or "",
                        interface=f.get("Location") or f.get("Interface") or "",
                        name=f.get("Name") or f.get("MemberName") or "",
                        paused=f.get("Paused") == "1",
                        paused_reason=f.get("PausedReason") or "",
                        penalty=_int(f.get("Penalty")),
                        status=_int(f.get("Status")),
                        in_call=f.get("InCall") == "1",
                        membership=f.get("Membership") or "",
                    )
                )
            elif item.name == "QueueEntry":
                waiting += 1
        return QueueSnapshot(self._clock(), tuple(queues), tuple(members), waiting)
