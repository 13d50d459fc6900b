"""Every broken flow in tests/ivr/broken/ fails validation with exactly the
errors its ``# expect: line:col: message`` lines state, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.validate import validate_paths
from tests.ivr.conftest import FLOWS

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expected(path: Path) -> list[str]:
    return [f"{path}:{line.removeprefix('# expect: ').rstrip()}"
            for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# expect: ")]


def test_there_are_at_least_forty_broken_flows() -> None:
    assert len(BROKEN) >= 40
    assert all(expected(p) for p in BROKEN)


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_flow_reports_exact_errors(path: Path) -> None:
    errors = validate_paths([path], FLOWS)
    assert [str(e) for e in errors] == expected(path)
