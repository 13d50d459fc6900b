"""Business hours with the mainland holiday calendar (flows/holidays.yaml).

A day is a rest day when it is a public holiday (or a day moved next to one),
a working day when it is a make-up working day (调休上班) even on a weekend,
otherwise Monday-Friday work and Saturday/Sunday rest. Each named schedule
gives opening intervals for working days and for rest days, in the centre's
time zone (Asia/Shanghai); ``00:00-24:00`` is open around the clock. The
clock is always passed in.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from ivr.loader import FlowError, load_model
from ivr.schema import _Model

#: HH:MM-HH:MM; the end may be 24:00 (the end of the day): "00:00-24:00" is open all day
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")


class Schedule(_Model):
    workday: list[str] = []
    restday: list[str] = []

    @field_validator("workday", "restday")
    @classmethod
    def _spans(cls, v: list[str]) -> list[str]:
        for s in v:
            m = _SPAN.match(s)
            if not m:
                raise ValueError(f"opening hours must look like 08:30-17:30 (00:00-24:00 for all day), got {s!r}")
            end = (int(m.group(3) or m.group(5)), int(m.group(4) or m.group(6)))
            if (int(m.group(1)), int(m.group(2))) >= end:
                raise ValueError(f"opening hours {s!r} end before they start")
        return v


class HolidaysFile(_Model):
    timezone: str = "Asia/Shanghai"
    holidays: dict[dt.date, str] = {}
    workdays: dict[dt.date, str] = {}
    schedules: dict[str, Schedule] = Field(default_factory=dict)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    holidays: Mapping[dt.date, str]
    workdays: Mapping[dt.date, str]
    schedules: Mapping[str, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]]

    @classmethod
    def from_model(cls, m: HolidaysFile, tz: str | None = None) -> "Calendar":
        def spans(v: list[str]) -> tuple[tuple[int, int], ...]:
            return tuple((_minutes(s[:5]), _minutes(s[6:])) for s in v)

        return cls(
            tz=ZoneInfo(tz or m.timezone),
            holidays=MappingProxyType(dict(m.holidays)),
            workdays=MappingProxyType(dict(m.workdays)),
            schedules=MappingProxyType({k: (spans(s.workday), spans(s.restday)) for k, s in m.schedules.items()}),
        )

    @classmethod
    def empty(cls, tz: str = "Asia/Shanghai") -> "Calendar":
        return cls(ZoneInfo(tz), MappingProxyType({}), MappingProxyType({}), MappingProxyType({}))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        return day.weekday() < 5

    def is_open(self, schedule: str, when: dt.datetime) -> bool:
        """Whether ``schedule`` is open at the aware datetime ``when``."""
        if when.tzinfo is None:
            raise ValueError("is_open needs an aware datetime")
        local = when.astimezone(self.tz)
        work, rest = self.schedules[schedule]
        spans = work if self.is_working_day(local.date()) else rest
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in spans)


def load_calendar(path: Path, tz: str | None = None) -> tuple[Calendar, list[FlowError]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return Calendar.empty(tz or "Asia/Shanghai"), [FlowError(file, 1, 1, f"cannot read: {exc.strerror}")]
    model, located, errors = load_model(HolidaysFile, text, file)
    if model is None:
        return Calendar.empty(tz or "Asia/Shanghai"), errors
    assert located is not None
    for day in model.holidays:
        if day in model.workdays:
            errors.append(located.error(("workdays", day), f"{day} is both a holiday and a make-up working day",
                                        key=True))
    return Calendar.from_model(model, tz), errors
