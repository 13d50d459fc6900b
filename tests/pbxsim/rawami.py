"""A minimal raw asyncio AMI client for the simulator tests (built on cti/ami/protocol.py)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Callable

from cti.ami.protocol import Framer, Message, encode_action, encode_headers


@dataclass
class RawAmi:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    framer: Framer = field(default_factory=Framer)
    messages: list[Message] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    eof: bool = False
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _task: asyncio.Task | None = None
    handlers: list[Callable[[Message], None]] = field(default_factory=list)

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> "RawAmi":
        r, w = await asyncio.open_connection(host, port)
        c = cls(r, w)
        c._task = asyncio.create_task(c._read())
        return c

    async def _read(self) -> None:
        while True:
            data = await self.reader.read(65536)
            if not data:
                self.eof = True
                async with self._cond:
                    self._cond.notify_all()
                return
            self.raw.extend(data)
            msgs = self.framer.feed(data)
            for m in msgs:
                for h in self.handlers:
                    h(m)
            self.messages.extend(msgs)
            async with self._cond:
                self._cond.notify_all()

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, action: str, headers=(), action_id: str | None = "auto") -> str | None:
        aid = f"t-{next(self._ids)}" if action_id == "auto" else action_id
        self.writer.write(encode_action(action, headers, aid))
        return aid

    async def wait_for(self, pred: Callable[[Message], bool], timeout: float = 10.0, start: int = 0) -> Message:
        async def _w() -> Message:
            async with self._cond:
                while True:
                    for m in self.messages[start:]:
                        if pred(m):
                            return m
                    if self.eof:
                        raise EOFError("connection closed")
                    await self._cond.wait()
        return await asyncio.wait_for(_w(), timeout)

    async def response(self, aid: str | None, timeout: float = 10.0) -> Message:
        return await self.wait_for(lambda m: m.kind == "Response" and m.get("ActionID") == aid, timeout)

    async def action(self, action: str, headers=(), timeout: float = 10.0) -> Message:
        aid = self.send(action, headers)
        return await self.response(aid, timeout)

    async def event(self, name: str, timeout: float = 10.0, **match: str) -> Message:
        def pred(m: Message) -> bool:
            return m.kind == "Event" and m.name == name and all(m.get(k) == v for k, v in match.items())
        return await self.wait_for(pred, timeout)

    async def list_action(self, action: str, headers=(), complete: str | None = None,
                          timeout: float = 10.0) -> tuple[Message, list[Message], Message]:
        aid = self.send(action, headers)
        resp = await self.response(aid, timeout)
        done = await self.wait_for(lambda m: m.kind == "Event" and m.get("ActionID") == aid
                                   and m.get("EventList") == "Complete", timeout)
        items = [m for m in self.messages if m.kind == "Event" and m.get("ActionID") == aid and m is not done]
        return resp, items, done

    async def login(self, user: str = "ivr", secret: str = "ivrsecret", **extra: str) -> Message:
        h = {"Username": user, "Secret": secret}
        h.update(extra)
        return await self.action("Login", h)

    def events(self, name: str | None = None, **match: str) -> list[Message]:
        return [m for m in self.messages if m.kind == "Event" and (name is None or m.name == name)
                and all(m.get(k) == v for k, v in match.items())]

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def decode_agi(result: str) -> str:
    from urllib.parse import unquote
    return unquote(result).rstrip("\n")


__all__ = ["RawAmi", "decode_agi", "encode_headers"]
