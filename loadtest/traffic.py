"""Simulated citizens: who calls, when, what they press and how long they wait.

A :class:`TrafficProfile` turns a day's volume into Poisson arrivals with the
hotline's shape (a peak hour carries 10-12 % of the day), and each arrival
into a :class:`pbxsim.callers.CallerScript`: the dialled number (12345 or a
merged legacy line), the menu keys a citizen with that request would press,
patience while waiting, talk time with the agent. Everything is drawn from
one seeded ``random.Random`` so a run can be repeated exactly.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from pbxsim.callers import CallerScript

# Share of the day's calls in each hour (Asia/Shanghai), 0..23; a 12345 centre's
# day: quiet night, a morning peak around 10:00 (about 11 %), a second one after lunch.
HOURLY_SHARE = (
    0.006, 0.004, 0.003, 0.003, 0.004, 0.008, 0.018, 0.040, 0.078, 0.105, 0.112, 0.092,
    0.060, 0.070, 0.085, 0.080, 0.068, 0.052, 0.036, 0.026, 0.020, 0.016, 0.012, 0.008,
)

# What callers want, as (weight, dnis, keys at each digit-accepting prompt).
# Keys follow flows/main.yaml: 1 policy, 2 complaints (then 1/2/3), 3 enterprise lane,
# 4 department lines (then 1..4), 0 an agent; merged numbers enter their own branch.
INTENTS: tuple[tuple[float, str, tuple[str, ...], str], ...] = (
    (0.30, "12345", ("1",), "policy"),
    (0.22, "12345", ("2", "1"), "complaint"),
    (0.05, "12345", ("2", "2"), "report"),
    (0.03, "12345", ("2", "3"), "suggestion"),
    (0.06, "12345", ("3",), "enterprise"),
    (0.10, "12345", ("0",), "agent"),
    (0.04, "12345", ("4", "1"), "dept-12319"),
    (0.06, "12319", (), "merged-12319"),
    (0.05, "12333", (), "transfer-12333"),
    (0.03, "12348", (), "transfer-12348"),
    (0.04, "12315", (), "interconnect-12315"),
    (0.02, "12345", ("",), "silent"),
)


@dataclass
class TrafficProfile:
    calls_per_day: int = 48_000
    mean_patience: float = 120.0  # seconds a caller waits for an agent before hanging up
    mean_talk: float = 180.0  # seconds with the agent
    speech_dir: Path | None = None  # WAVs a caller speaks when asked to describe the problem
    survey_key_weights: tuple[float, ...] = (0.01, 0.01, 0.03, 0.15, 0.80)  # scores 1..5
    seed: int = 12345
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._speech = sorted(self.speech_dir.glob("*.wav")) if self.speech_dir and self.speech_dir.is_dir() else []

    def rate_per_second(self, hour: int) -> float:
        return self.calls_per_day * HOURLY_SHARE[hour % 24] / sum(HOURLY_SHARE) / 3600.0

    def caller_number(self) -> str:
        prefix = self.rng.choice(("138", "139", "150", "151", "186", "187", "135", "177", "199"))
        return prefix + f"{self.rng.randrange(10**8):08d}"

    def script(self) -> tuple[CallerScript, str]:
        """One caller and the intent behind the keys (for reports)."""
        r = self.rng.random() * sum(w for w, *_ in INTENTS)
        for weight, dnis, keys, intent in INTENTS:
            r -= weight
            if r <= 0:
                break
        survey = str(self.rng.choices(range(1, 6), self.survey_key_weights)[0])
        return (
            CallerScript(
                dnis=dnis,
                caller_num=self.caller_number(),
                keys=[*keys, survey],
                think_time=self.rng.uniform(0.8, 3.0),
                speech_wav=self.rng.choice(self._speech) if self._speech else None,
                patience=self.rng.expovariate(1.0 / self.mean_patience),
                talk_time=max(20.0, self.rng.lognormvariate(math.log(self.mean_talk), 0.5)),
            ),
            intent,
        )

    def gaps(self, rate_per_second: float):
        """Poisson inter-arrival times at a fixed rate."""
        while True:
            yield self.rng.expovariate(rate_per_second) if rate_per_second > 0 else math.inf


async def generate(
    profile: TrafficProfile,
    place: Callable[[CallerScript, str], Awaitable[None]],
    *,
    rate_per_second: float,
    duration: float | None = None,
    max_calls: int | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Place calls at Poisson arrivals until ``duration`` seconds or ``max_calls``; returns calls placed."""
    placed = 0
    elapsed = 0.0
    for gap in profile.gaps(rate_per_second):
        if max_calls is not None and placed >= max_calls:
            break
        if duration is not None and elapsed + gap > duration:
            break
        await sleep(gap)
        elapsed += gap
        script, intent = profile.script()
        await place(script, intent)
        placed += 1
    return placed
