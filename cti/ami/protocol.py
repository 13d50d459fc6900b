"""AMI wire protocol: framing, parsing and encoding, with no I/O.

Facts from the Asterisk 22 captures (../shared/asterisk/INDEX.md) this module
relies on:

* the banner ``Asterisk Call Manager/x.y.z`` is one CRLF-ended line with no
  empty line after it;
* every message is ``Key: Value`` lines ended by CRLF and closed by an empty
  line; a value may be empty (``Output: ``) even as the last header, may keep
  trailing spaces and may contain ``": "``: each line is split at its first
  ``": "`` (a line with a colon but no ``": "`` at its first colon);
* headers repeat (``Output:``, ``Variable:``), so the order and repeats are kept;
* text is UTF-8 and is decoded per complete message; a message that is not
  valid UTF-8 is still delivered, with the bad bytes escaped (never dropped)
  and ``decode_error`` set so the caller can count and log it.

The framer never raises on garbage: malformed blocks and oversized frames are
counted and reported through :class:`FramingStats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Callable, Iterable, Iterator, Mapping, Sequence

TERMINATOR = b"\r\n\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"
DEFAULT_MAX_MESSAGE = 1 << 20  # 1 MiB: far above any real message (Command output included)


class Message:
    """One AMI message (an event or a response) with its headers in order.

    ``fields`` maps each header name to its first value, for O(1) lookups on the
    hot path; ``headers`` (built lazily) keeps every header in wire order,
    repeats included.
    """

    __slots__ = ("kind", "name", "fields", "_extra", "_order", "decode_error")

    def __init__(
        self,
        kind: str,
        name: str,
        fields: dict[str, str],
        extra: list[tuple[str, str]] | None = None,
        order: list[tuple[str, str]] | None = None,
        decode_error: bool = False,
    ) -> None:
        self.kind = kind  # "Event" or "Response" (or "" for a block with neither)
        self.name = name  # event name, or the response status (Success/Error/Goodbye/Follows)
        self.fields = fields
        self._extra = extra  # repeated headers beyond the first occurrence
        self._order = order  # full wire order when repeats exist
        self.decode_error = decode_error

    # -- lookups -------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        v = self.fields.get(key)
        if v is not None:
            return v
        lk = key.lower()
        for k, val in self.fields.items():
            if k.lower() == lk:
                return val
        return default

    def __getitem__(self, key: str) -> str:
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return v

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated header, in wire order."""
        lk = key.lower()
        return [v for k, v in self.headers if k.lower() == lk]

    @property
    def headers(self) -> list[tuple[str, str]]:
        if self._order is not None:
            return self._order
        return list(self.fields.items())

    @property
    def action_id(self) -> str | None:
        return self.fields.get("ActionID")

    @property
    def is_event(self) -> bool:
        return self.kind == "Event"

    @property
    def is_response(self) -> bool:
        return self.kind == "Response"

    @property
    def success(self) -> bool:
        return self.kind == "Response" and self.name in ("Success", "Goodbye", "Follows")

    def to_dict(self) -> dict[str, str | list[str]]:
        out: dict[str, str | list[str]] = {}
        for k, v in self.headers:
            if k in out:
                prev = out[k]
                if isinstance(prev, list):
                    prev.append(v)
                else:
                    out[k] = [prev, v]
            else:
                out[k] = v
        return out

    def encode(self) -> bytes:
        """Serialise back to wire bytes (what Asterisk would send)."""
        return encode_headers(self.headers)

    def __repr__(self) -> str:
        return f"<Message {self.kind}:{self.name} {dict(self.fields)!r}>"


# Endless iterators of one immutable value (no observable state), for the map() below.
_SEP = repeat(": ")
_ONCE = repeat(1)
_split = str.split


def parse_block(block: bytes) -> Message:
    """Parse one message (without its CRLFCRLF terminator)."""
    # Fast path, taken by every message Asterisk sends: valid UTF-8, CRLF line
    # ends only, every line holding ": ", no repeated header. Anything else
    # takes the slower path, which gives the same result where both apply.
    try:
        text = block.decode("utf-8")
        lines = text.split("\r\n")
        fields = dict(map(_split, lines, _SEP, _ONCE))
    except UnicodeDecodeError:
        return _parse_slow(block.decode("utf-8", "backslashreplace"), True)
    except ValueError:  # a line without ": " (or an empty line)
        return _parse_slow(text, False)
    if len(fields) != len(lines) or text.count("\n") >= len(lines):  # a repeated header, a bare LF
        return _parse_slow(text, False)
    ev = fields.get("Event")
    if ev is not None:
        return Message("Event", ev, fields)
    resp = fields.get("Response")
    if resp is not None:
        return Message("Response", resp, fields)
    return Message("", "", fields)


def _parse_slow(text: str, decode_error: bool) -> Message:
    if "\n" in text.replace("\r\n", ""):
        # Bare LF line ends from a lenient peer: normalise; Asterisk itself never sends them.
        lines = text.replace("\r\n", "\n").split("\n")
    else:
        lines = text.split("\r\n")
    fields: dict[str, str] = {}
    extra: list[tuple[str, str]] | None = None
    order: list[tuple[str, str]] = []
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")  # lenient peer: no space after the colon
            if not sep:
                if line:
                    # A line with no colon: keep it under an empty key rather than lose it.
                    key, value = "", line
                else:
                    continue
        order.append((key, value))
        if key in fields:
            if extra is None:
                extra = []
            extra.append((key, value))
        else:
            fields[key] = value
    keep_order = order if extra is not None else None
    ev = fields.get("Event")
    if ev is not None:
        return Message("Event", ev, fields, extra, keep_order, decode_error)
    resp = fields.get("Response")
    if resp is not None:
        return Message("Response", resp, fields, extra, keep_order, decode_error)
    return Message("", "", fields, extra, keep_order, decode_error)


@dataclass
class FramingStats:
    messages: int = 0
    malformed: int = 0  # blocks with neither Event nor Response
    decode_errors: int = 0  # messages that were not valid UTF-8
    oversized: int = 0  # frames discarded for exceeding max_message
    bytes_in: int = 0
    discarded_bytes: int = 0


@dataclass
class Framer:
    """Incremental framer: feed it socket reads, get complete messages out.

    Reads may split a message anywhere (even inside the CRLFCRLF terminator or a
    UTF-8 sequence); the framer buffers until the terminator.
    """

    max_message: int = DEFAULT_MAX_MESSAGE
    expect_banner: bool = True
    banner: str | None = None
    stats: FramingStats = field(default_factory=FramingStats)
    _buf: bytes = b""
    _skipping: bool = False

    def feed(self, data: bytes) -> list[Message]:
        """Feed one socket read; return the complete messages it finished, in order."""
        out: list[Message] = []
        self._feed(data, out, out)
        return out

    def feed_split(self, data: bytes) -> tuple[list[Message], list[Message]]:
        """Like :meth:`feed`, but return ``(events, others)``: the order within each list is kept."""
        events: list[Message] = []
        others: list[Message] = []
        self._feed(data, events, others)
        return events, others

    def feed_raw(self, data: bytes) -> list[bytes]:
        """Feed one socket read; return the complete messages as raw blocks (no terminator).

        Oversized frames and stray empty lines are dropped (and counted); parse
        each block with :func:`parse_block`. Lets a reader hand bytes to another
        task and parse there, right before use.
        """
        st = self.stats
        st.bytes_in += len(data)
        buf = self._buf + data if self._buf else data
        pos = 0
        if self.expect_banner and self.banner is None:
            nl = buf.find(b"\r\n")
            if nl < 0:
                if len(buf) > 256:  # no banner at all: treat the stream as messages
                    self.banner = ""
                else:
                    self._buf = buf
                    return []
            else:
                first = buf[:nl].decode("utf-8", "replace")
                if first.startswith(BANNER_PREFIX):
                    self.banner = first
                    pos = nl + 2
                else:
                    self.banner = ""
        if self._skipping:
            end = buf.find(TERMINATOR, pos)
            if end < 0:
                st.discarded_bytes += len(buf) - pos
                self._buf = buf[-3:]
                return []
            st.discarded_bytes += end + 4 - pos
            pos = end + 4
            self._skipping = False
        blocks = (buf[pos:] if pos else buf).split(TERMINATOR)
        rest = blocks.pop()
        if len(rest) > self.max_message:
            # Oversized frame with no end in sight: drop it and resynchronise on the next terminator.
            st.oversized += 1
            st.discarded_bytes += len(rest)
            self._skipping = True
            rest = rest[-3:]
        self._buf = rest
        if blocks and len(buf) - pos - len(rest) > self.max_message or b"" in blocks:
            blocks = self._filter(blocks)
        st.messages += len(blocks)
        return blocks

    def _filter(self, blocks: list[bytes]) -> list[bytes]:
        st = self.stats
        keep = []
        for block in blocks:
            if len(block) > self.max_message:
                st.oversized += 1
                st.discarded_bytes += len(block) + 4
            elif block.strip(b"\r\n"):  # else: stray empty line(s) between messages
                keep.append(block)
        return keep

    def _feed(self, data: bytes, events: list[Message], others: list[Message]) -> None:
        blocks = self.feed_raw(data)
        if blocks:
            self._parse_complete(blocks, events, others)

    def _parse_complete(self, blocks: list[bytes], events: list[Message], others: list[Message]) -> None:
        st = self.stats
        add_event = events.append
        add_other = others.append
        for block in blocks:
            msg = parse_block(block)
            if msg.kind == "Event":
                add_event(msg)
                continue
            if msg.decode_error:
                st.decode_errors += 1
            if not msg.kind:
                st.malformed += 1
            add_other(msg)
        for m in events:
            if m.decode_error:
                st.decode_errors += 1

    @property
    def pending(self) -> int:
        return len(self._buf)


class ProtocolError(ValueError):
    """An action could not be encoded (e.g. a value carrying CR or LF)."""


def _check(key: str, value: str) -> None:
    if "\r" in key or "\n" in key or ":" in key or not key:
        raise ProtocolError(f"invalid AMI header name {key!r}")
    if "\r" in value or "\n" in value:
        raise ProtocolError(f"AMI header {key} carries a line break; refused to prevent header injection")


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    parts = []
    for k, v in headers:
        parts.append(f"{k}: {v}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


HeaderInput = Mapping[str, "str | int | float | bool | Sequence[str] | None"] | Sequence[tuple[str, str]]


def iter_headers(headers: HeaderInput) -> Iterator[tuple[str, str]]:
    """Normalise a mapping or a list of pairs; list values become repeated headers; None is skipped."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    for k, v in items:
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            for item in v:
                yield k, str(item)
        elif isinstance(v, bool):
            yield k, "true" if v else "false"
        else:
            yield k, str(v)


def encode_action(action: str, headers: HeaderInput = (), action_id: str | None = None) -> bytes:
    """Encode an action; ``Action`` first, then ``ActionID``, then the rest in order."""
    out: list[tuple[str, str]] = [("Action", action)]
    if action_id is not None:
        out.append(("ActionID", action_id))
    for k, v in iter_headers(headers):
        if k.lower() in ("action", "actionid"):
            continue
        out.append((k, v))
    for k, v in out:
        _check(k, v)
    return encode_headers(out)
