"""Digit validation, the holiday calendar and business hours (fixed clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from ivr.digits import check, id_check_char, is_id_card, is_landline, is_mobile
from ivr.schema import IdCardRule, LengthRule, PhoneRule, RangeRule
from ivr.validate import Catalog
from tests.ivr.conftest import SHANGHAI


@pytest.mark.parametrize("number,ok", [
    ("13800138000", True), ("19912345678", True), ("12345678901", False), ("1380013800", False),
    ("138001380000", False), ("2380013800a", False),
])
def test_mobile(number: str, ok: bool) -> None:
    assert is_mobile(number) is ok


@pytest.mark.parametrize("number,ok", [
    ("01088886666", True), ("02088886666", True), ("075588886666", True), ("05718888666", True),
    ("0108888666", False), ("12345", False), ("00188886666", False), ("02008886666", False),
])
def test_landline(number: str, ok: bool) -> None:
    assert is_landline(number) is ok


def test_id_card_checksum() -> None:
    assert id_check_char("11010519491231002") == "X"
    assert is_id_card("11010519491231002X")
    assert is_id_card("11010519491231002*")  # keypad * for X
    assert not is_id_card("110105194912310021")  # wrong check digit
    assert not is_id_card("11010519491331002X")  # month 13
    assert not is_id_card("01010519491231002X")  # region cannot start with 0
    assert not is_id_card("1101051949123100")  # too short
    # every check digit is computed, not looked up: build valid numbers and flip one digit
    base = "44030419900307"
    for seq in ("001", "372", "995"):
        body = base + seq
        good = body + id_check_char(body)
        assert is_id_card(good.replace("X", "*"))
        bad = body[:-1] + str((int(body[-1]) + 1) % 10)
        assert not is_id_card(bad + id_check_char(body))


def test_check_rules() -> None:
    assert check(PhoneRule(kind="phone"), "02088886666") == "02088886666"
    assert check(PhoneRule(kind="mobile"), "02088886666") is None
    assert check(PhoneRule(kind="landline"), "13800138000") is None
    assert check(IdCardRule(kind="id_card"), "11010519491231002*") == "11010519491231002X"
    assert check(RangeRule(kind="range", min=1, max=12), "12") == "12"
    assert check(RangeRule(kind="range", min=1, max=12), "13") is None
    assert check(LengthRule(kind="length", min=4, max=6), "123") is None
    assert check(LengthRule(kind="length", min=4, max=6), "1234") == "1234"


def at(y: int, m: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=SHANGHAI)


def test_calendar_2026(catalog: Catalog) -> None:
    cal = catalog.calendar
    assert not cal.is_working_day(dt.date(2026, 2, 17))  # 春节
    assert cal.is_working_day(dt.date(2026, 2, 14))  # Saturday, make-up working day
    assert cal.is_working_day(dt.date(2026, 2, 28))
    assert not cal.is_working_day(dt.date(2026, 10, 7))
    assert cal.is_working_day(dt.date(2026, 9, 20))  # Sunday, make-up
    assert not cal.is_working_day(dt.date(2026, 11, 21))  # ordinary Saturday
    assert cal.is_working_day(dt.date(2026, 11, 23))
    assert not cal.is_working_day(dt.date(2027, 2, 8))  # statutory 春节 2027


def test_business_hours(office_catalog: Catalog) -> None:
    # a centre whose intake seats keep office hours
    cal = office_catalog.calendar
    assert cal.is_open("agents", at(2026, 11, 23, 8, 0))
    assert not cal.is_open("agents", at(2026, 11, 23, 7, 59))
    assert cal.is_open("agents", at(2026, 11, 23, 19, 59))
    assert not cal.is_open("agents", at(2026, 11, 23, 20, 0))
    assert cal.is_open("agents", at(2026, 11, 21, 16, 59))  # rest day hours 09-17
    assert not cal.is_open("agents", at(2026, 11, 21, 20, 0))
    assert not cal.is_open("enterprise", at(2026, 11, 21, 10, 0))  # closed on rest days
    assert cal.is_open("enterprise", at(2026, 10, 10, 10, 0))  # make-up working day
    # the clock may be in UTC: 02:00 UTC is 10:00 in Shanghai
    assert cal.is_open("agents", dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc))
    assert not cal.is_open("agents", dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.timezone.utc))  # 21:00
    with pytest.raises(ValueError):
        cal.is_open("agents", dt.datetime(2026, 11, 23, 10, 0))


def test_shipped_hours_intake_around_the_clock_enterprise_desk_office_hours(catalog: Catalog) -> None:
    cal = catalog.calendar
    for when in (at(2026, 11, 23, 0, 0), at(2026, 11, 23, 23, 59), at(2026, 11, 21, 20, 0), at(2026, 11, 22, 3, 0),
                 at(2026, 2, 17, 0, 0), at(2026, 10, 1, 23, 59), dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)):
        assert cal.is_open("agents", when), when
    assert cal.is_open("enterprise", at(2026, 11, 23, 8, 30))
    assert not cal.is_open("enterprise", at(2026, 11, 23, 17, 30))
    assert not cal.is_open("enterprise", at(2026, 11, 21, 10, 0))
    assert not cal.is_open("enterprise", at(2026, 10, 2, 10, 0))  # 国庆节


@pytest.mark.parametrize("spans,open_at,closed_at", [
    (["00:00-24:00"], [(0, 0), (12, 0), (23, 59)], []),
    (["20:00-24:00"], [(20, 0), (23, 59)], [(0, 0), (19, 59)]),
    (["00:00-08:00", "18:00-24:00"], [(0, 0), (7, 59), (18, 0), (23, 59)], [(8, 0), (17, 59)]),
])
def test_opening_hours_may_end_at_midnight(spans: list[str], open_at: list[tuple[int, int]],
                                           closed_at: list[tuple[int, int]]) -> None:
    from ivr.calendar import Calendar, HolidaysFile

    cal = Calendar.from_model(HolidaysFile(schedules={"s": {"workday": spans, "restday": spans}}))
    for h, mi in open_at:
        assert cal.is_open("s", at(2026, 11, 21, h, mi)) and cal.is_open("s", at(2026, 11, 23, h, mi))
    for h, mi in closed_at:
        assert not cal.is_open("s", at(2026, 11, 23, h, mi))


@pytest.mark.parametrize("span", ["00:00-24:30", "24:00-24:00", "00:00-25:00", "08:00-08:00", "8:00-17:00",
                                  "24:00-08:00", "12:00-11:59"])
def test_bad_opening_hours_are_refused(span: str) -> None:
    from pydantic import ValidationError

    from ivr.calendar import HolidaysFile

    with pytest.raises(ValidationError):
        HolidaysFile(schedules={"s": {"workday": [span]}})
