"""Structured logging with personal data masked.

Caller numbers and ID-card numbers are personal data (PIPL): every log record
passes through :class:`MaskingFilter`, which masks mainland mobile numbers,
landlines, 18-digit resident ID numbers and any value logged under a
caller-number key, wherever they appear in the message or its arguments.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

# 18-digit resident ID (last char may be X), 15-digit legacy ID.
_ID_RE = re.compile(
    r"(?<![0-9])(?:[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]|[1-9]\d{14})(?![0-9A-Za-z])"
)
# Mobile numbers (optionally +86/0086), landlines with area code, and any other run of 7+ digits.
_PHONE_RE = re.compile(r"(?<![0-9A-Za-z])(\+?86|0086)?[- ]?(1[3-9]\d)(\d{4})(\d{4})(?![0-9])")
_LANDLINE_RE = re.compile(r"(?<![0-9A-Za-z])(0\d{2,3})[- ]?(\d{3,4})(\d{4})(?![0-9])")
_LONG_DIGITS_RE = re.compile(r"(?<![0-9A-Za-z/._-])(\d{2})(\d{3,})(\d{2})(?![0-9]|\.\d)")

SENSITIVE_KEYS = {"callerid", "calleridnum", "caller", "caller_number", "connectedlinenum", "id_number", "phone"}


def mask_text(text: str) -> str:
    """Mask ID numbers, mobile numbers, landlines and long digit runs in free text."""
    if not any(c.isdigit() for c in text):
        return text
    text = _ID_RE.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 7) + m.group(0)[-4:], text)
    text = _PHONE_RE.sub(lambda m: (m.group(1) or "") + m.group(2) + "****" + m.group(4), text)
    text = _LANDLINE_RE.sub(lambda m: m.group(1) + "-" + "*" * len(m.group(2)) + m.group(3), text)
    text = _LONG_DIGITS_RE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
    return text


def mask_number(number: str | None) -> str:
    """Mask a caller number for display in logs: keep a short prefix and the last 4 digits."""
    if not number:
        return ""
    if len(number) <= 4:
        return "*" * len(number)
    keep = 3 if len(number) >= 11 else 0
    return number[:keep] + "*" * (len(number) - keep - 4) + number[-4:]


class MaskingFilter(logging.Filter):
    """Rewrites each record's message with personal data masked (args merged first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            msg = f"{record.msg!r} {record.args!r}"
        record.msg = mask_text(msg)
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                k: (mask_number(str(v)) if k.lower() in SENSITIVE_KEYS else mask_text(str(v)) if isinstance(v, str) else v)
                for k, v in fields.items()
            }
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        s = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            s += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            s = mask_text(s)
        return s


def setup_logging(level: str = "INFO", json_lines: bool = False, stream: Any = None) -> logging.Handler:
    """Install one handler on the root logger with masking; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_hotline", False):
            root.removeHandler(h)
    handler._hotline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return handler
