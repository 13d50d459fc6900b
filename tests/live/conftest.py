"""Opt-in live suite: the conformance scenarios against a real Asterisk.

Runs only when ``HOTLINE_LIVE_AMI=host:port`` names the AMI of an Asterisk 22
loaded with deploy/asterisk/*.conf plus tests/live/asterisk/ (see its README).
Credentials: ``HOTLINE_LIVE_AMI_USER`` / ``HOTLINE_LIVE_AMI_SECRET`` (default: the
``hotline`` user of deploy/asterisk/manager.conf with docker-compose's default
secret). Otherwise every test here is skipped with the reason.

Each scenario also runs against the simulator; the event differences are
collected and written to ``HOTLINE_LIVE_REPORT`` (a JSON file) when set, and
summarised at the end of the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from .harness import Rig, live_address, live_settings, open_rig, open_sim_rig

SKIP_REASON = "set HOTLINE_LIVE_AMI=host:port to run the live Asterisk suite"
HERE = Path(__file__).resolve().parent

_DIFFS: dict[str, Any] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    live = live_address()
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        item.add_marker(pytest.mark.live)
        if not live:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _DIFFS:
        return
    out = os.environ.get("HOTLINE_LIVE_REPORT")
    if out:
        Path(out).write_text(json.dumps(_DIFFS, indent=2, ensure_ascii=False, sort_keys=True))
    tr = terminalreporter
    tr.section("live: Asterisk vs pbxsim event differences")
    for scenario, d in sorted(_DIFFS.items()):
        tr.write_line(f"{scenario}:")
        for k in ("only_asterisk", "only_pbxsim"):
            if d.get(k):
                tr.write_line(f"  {k}: {', '.join(d[k])}")
        for name, h in sorted(d.get("headers", {}).items()):
            tr.write_line(f"  {name}: asterisk+{h['only_asterisk']} pbxsim+{h['only_pbxsim']}")
        for r in d.get("relied", []):
            tr.write_line(f"  RELIED {r}")
        for note in d.get("notes", []):
            tr.write_line(f"  note: {note}")
    if out:
        tr.write_line(f"(full diff written to {out})")


@pytest.fixture
def record_diff():
    """``record_diff(name, diff)``: keep a scenario's structured diff for the summary/report."""

    def rec(name: str, diff: dict[str, Any]) -> dict[str, Any]:
        _DIFFS[name] = diff
        return diff

    return rec


@pytest.fixture
async def asterisk() -> AsyncIterator[Rig]:
    rig = await open_rig("asterisk", live_settings())
    try:
        await rig.hangup_all()
        yield rig
    finally:
        await rig.hangup_all()
        await rig.close()


@pytest.fixture
async def pbxsim(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = await open_sim_rig(tmp_path, live_settings())
    try:
        yield rig
    finally:
        await rig.hangup_all()
        await rig.close()
