"""8 kHz 16-bit mono audio helpers: prompt durations, speech sources, WAV writing."""

from __future__ import annotations

import array
import math
import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2


def read_wav_pcm(path: Path) -> bytes:
    """Read a WAV as 8 kHz mono s16le (down-mixes and resamples naively if needed)."""
    with wave.open(str(path), "rb") as w:
        ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    if width != 2:
        raise ValueError(f"{path}: only 16-bit WAV is supported")
    samples = array.array("h")
    samples.frombytes(raw)
    if ch > 1:
        samples = array.array("h", (int(sum(samples[i : i + ch]) / ch) for i in range(0, len(samples), ch)))
    if rate != RATE:
        step = rate / RATE
        out = array.array("h", (samples[int(i * step)] for i in range(int(len(samples) / step))))
        samples = out
    return samples.tobytes()


def wav_seconds(path: str) -> float | None:
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (OSError, wave.Error, EOFError):
        return None


@dataclass
class AudioCache:
    """Per-simulator cache of prompt lengths and speech files (read once, shared by every call)."""

    sounds_dir: Path | None = None
    default_seconds: float = 2.0
    _lengths: dict[str, float | None] = field(default_factory=dict)
    _pcm: dict[tuple[str, int, int], bytes] = field(default_factory=dict)

    def prompt_seconds(self, name: str) -> float:
        """Length of a prompt ``name`` (``hello-world``, ``zh/welcome``) from ``<sounds_dir>/<name>.wav``."""
        if self.sounds_dir is None or not name:
            return self.default_seconds
        if name not in self._lengths:
            cand = name if name.endswith(".wav") else name + ".wav"
            self._lengths[name] = wav_seconds(str(Path(self.sounds_dir) / cand))
        s = self._lengths[name]
        return self.default_seconds if s is None else s

    def pcm(self, path: Path) -> bytes:
        st = Path(path).stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        data = self._pcm.get(key)
        if data is None:
            data = read_wav_pcm(Path(path))
            if len(self._pcm) > 256:
                self._pcm.clear()
            self._pcm[key] = data
        return data

    def source(self, path: Path | None) -> "AudioSource":
        return AudioSource(self.pcm(path)) if path is not None else AudioSource()


def tone(seconds: float, freq: float = 440.0, amplitude: int = 6000) -> bytes:
    n = int(seconds * RATE)
    a = array.array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n)))
    return a.tobytes()


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * RATE)


def wav_bytes(pcm: bytes, rate: int = RATE) -> bytes:
    """A complete RIFF/WAVE (PCM, mono, 16-bit) file image, like MixMonitor's .wav."""
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    data = b"data" + struct.pack("<I", len(pcm)) + pcm
    return header + fmt + data


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> None:
    """Write atomically: readers never see a half-written recording."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(wav_bytes(pcm, rate))
    tmp.replace(path)


def mix(a: bytes, b: bytes) -> bytes:
    """Sum two s16le streams (clipped), the shorter padded with silence."""
    x = array.array("h")
    x.frombytes(a)
    y = array.array("h")
    y.frombytes(b)
    if len(x) < len(y):
        x, y = y, x
    out = array.array("h", x)
    for i in range(len(y)):
        v = out[i] + y[i]
        out[i] = 32767 if v > 32767 else (-32768 if v < -32768 else v)
    return out.tobytes()


@dataclass
class AudioSource:
    """What one party says: a PCM buffer read in 20 ms frames from a start time, then silence."""

    pcm: bytes = b""
    loop: bool = False
    _pos: int = 0
    started: bool = field(default=False)

    @classmethod
    def from_wav(cls, path: Path | None, loop: bool = False) -> "AudioSource":
        if path is None:
            return cls(b"", loop)
        return cls(read_wav_pcm(Path(path)), loop)

    def read(self, nbytes: int) -> bytes:
        if not self.pcm:
            return b"\x00" * nbytes
        out = bytearray()
        while len(out) < nbytes:
            if self._pos >= len(self.pcm):
                if not self.loop:
                    out.extend(b"\x00" * (nbytes - len(out)))
                    break
                self._pos = 0
            take = min(nbytes - len(out), len(self.pcm) - self._pos)
            out.extend(self.pcm[self._pos : self._pos + take])
            self._pos += take
        return bytes(out)

    def speech_seconds(self) -> float:
        return len(self.pcm) / (2 * RATE)

    def rewind(self) -> None:
        self._pos = 0
