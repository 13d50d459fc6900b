"""The shipped Asterisk configuration, checked against what the server needs."""

from __future__ import annotations

import re
from pathlib import Path

from cti.ami.protocol import Framer

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT.parent / "shared" / "asterisk" / "ami"


def _filters(user: str) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    section, inc, exc = None, [], []
    for line in (ROOT / "deploy" / "asterisk" / "manager.conf").read_text(encoding="utf-8").splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == user and line.startswith("eventfilter"):
            pattern = line.split("=", 1)[1].strip()
            (exc if pattern.startswith("!") else inc).append(re.compile(pattern.lstrip("!")))
    return inc, exc


def _passes(text: str, inc: list[re.Pattern[str]], exc: list[re.Pattern[str]]) -> bool:
    """Asterisk 22 (manager.c, match_filter): with include filters, an event must match one; then no exclude."""
    if inc and not any(p.search(text) for p in inc):
        return False
    return not any(p.search(text) for p in exc)


def test_shipped_event_filters_keep_what_the_server_reads():
    inc, exc = _filters("hotline")
    assert inc, "the hotline user has event filters"
    seen: dict[str, int] = {}
    for f in sorted(TRACES.glob("*/received.ami")):
        for m in Framer().feed(f.read_bytes()):
            if not m.is_event:
                continue
            text = "".join(f"{k}: {v}\r\n" for k, v in m.headers)
            ok = _passes(text, inc, exc)
            if m.name.startswith("RTCP"):
                assert not ok, "RTCP statistics are dropped"
            elif m.name == "VarSet":
                var = (m.get("Variable") or "").lstrip("_")
                wanted = var.startswith(("HOTLINE_", "MIXMONITOR_", "BRIDGEPEER", "DIALSTATUS", "AGISTATUS"))
                assert ok == wanted, var
            else:
                assert ok, f"{m.name} must reach the server"
            seen[m.name] = seen.get(m.name, 0) + ok
    for name in ("Newchannel", "Hangup", "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd", "BridgeEnter", "OriginateResponse", "DialEnd"):
        assert seen.get(name), f"no {name} passed the filters"


def test_every_context_the_server_uses_is_in_the_dialplan():
    text = (ROOT / "deploy" / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    contexts = set(re.findall(r"^\[([\w-]+)\]", text, re.M))
    assert {"hotline-inbound", "hotline-ivr", "hotline-agent", "hotline-hold", "hotline-outbound",
            "hotline-conference", "hotline-asr"} <= contexts
    assert re.search(r"^\[hotline-ivr\]\nexten => survey,1", text, re.M)
    assert "exten => transfer-failed,1" in text
