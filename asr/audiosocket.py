"""AudioSocket framing (Asterisk's AudioSocket() application and channel driver).

A frame is 1 byte type, 2 bytes big-endian payload length, then the payload:
``0x00`` hang-up (no payload), ``0x01`` the 16-byte binary UUID (first frame),
``0x03`` one ASCII DTMF digit, ``0x10`` audio (320-byte slin16 little-endian
8 kHz = 20 ms from ``AudioSocket()``), ``0xff`` error (1 byte code).
Facts from ../shared/asterisk/audiosocket: audio flows every 20 ms even when
silent; the caller hanging up gives EOF with no 0x00; a server 0x00 ends the
session and Asterisk closes TCP without replying.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF

SLIN_FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit mono
_HDR = struct.Struct(">BH")
MAX_PAYLOAD = 0xFFFF


@dataclass(frozen=True, slots=True)
class Frame:
    kind: int
    payload: bytes = b""

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)

    @property
    def digit(self) -> str:
        return self.payload.decode("ascii")


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("AudioSocket payload longer than 65535 bytes")
    return _HDR.pack(kind, len(payload)) + payload


def uuid_frame(u: uuid.UUID | str) -> bytes:
    uid = u if isinstance(u, uuid.UUID) else uuid.UUID(str(u))
    return encode_frame(KIND_UUID, uid.bytes)


def audio_frame(pcm: bytes) -> bytes:
    return encode_frame(KIND_AUDIO, pcm)


def dtmf_frame(digit: str) -> bytes:
    return encode_frame(KIND_DTMF, digit.encode("ascii")[:1])


def hangup_frame() -> bytes:
    return encode_frame(KIND_HANGUP)


@dataclass
class FrameDecoder:
    """Incremental decoder: feed TCP reads, get whole frames out."""

    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf.extend(data)
        out: list[Frame] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        while n - pos >= 3:
            kind, length = _HDR.unpack_from(buf, pos)
            if n - pos - 3 < length:
                break
            out.append(Frame(kind, bytes(buf[pos + 3 : pos + 3 + length])))
            pos += 3 + length
        if pos:
            del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


def decode_all(data: bytes) -> list[Frame]:
    return FrameDecoder().feed(data)
