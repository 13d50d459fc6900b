"""Validation of digits a caller keyed in (collect nodes).

Mobile numbers (11 digits, 1[3-9]...), landlines with area code (0 + 2-3
digit area code + 7-8 digit number), 18-digit resident ID numbers with the
GB 11643 checksum (on a phone keypad ``*`` stands for the final ``X``),
numeric ranges and lengths.
"""

from __future__ import annotations

import datetime as dt
import re

from ivr.schema import IdCardRule, LengthRule, PhoneRule, RangeRule

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# 2-digit area codes (010, 02x) have 8-digit local numbers, 3-digit ones 7 or 8
_LANDLINE = re.compile(r"^0(?:(?:10|2\d)[2-9]\d{7}|[3-9]\d{2}[2-9]\d{6,7})$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def is_mobile(d: str) -> bool:
    return bool(_MOBILE.match(d))


def is_landline(d: str) -> bool:
    return bool(_LANDLINE.match(d)) and 10 <= len(d) <= 12


def id_check_char(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def normalise_id(d: str) -> str:
    """Keypad entry to ID text: a final ``*`` means ``X``."""
    return d[:-1] + "X" if d.endswith("*") else d.upper()


def is_id_card(d: str) -> bool:
    d = normalise_id(d)
    if len(d) != 18 or not d[:17].isdigit() or d[0] == "0":
        return False
    try:
        born = dt.date(int(d[6:10]), int(d[10:12]), int(d[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    return id_check_char(d[:17]) == d[17]


def check(rule: PhoneRule | IdCardRule | RangeRule | LengthRule, digits: str) -> str | None:
    """The value to store if ``digits`` satisfy ``rule``, else None."""
    if isinstance(rule, PhoneRule):
        ok = {"mobile": is_mobile, "landline": is_landline}.get(rule.kind)
        if ok is not None:
            return digits if ok(digits) else None
        return digits if (is_mobile(digits) or is_landline(digits)) else None
    if isinstance(rule, IdCardRule):
        return normalise_id(digits) if is_id_card(digits) else None
    if isinstance(rule, RangeRule):
        if not digits.isdigit():
            return None
        return digits if rule.min <= int(digits) <= rule.max else None
    if isinstance(rule, LengthRule):
        return digits if digits.isdigit() and rule.min <= len(digits) <= rule.max else None
    return None
