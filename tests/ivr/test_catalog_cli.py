"""Catalogue files (prompts, hotlines, holidays) and the ``flow`` command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivr.cli import app
from ivr.validate import validate_paths
from tests.ivr.conftest import FLOWS, office_hours

runner = CliRunner()


@pytest.fixture
def flows_copy(tmp_path: Path) -> Path:
    d = tmp_path / "flows"
    d.mkdir()
    for p in FLOWS.glob("*.yaml"):
        shutil.copy(p, d / p.name)
    (d / "prompts").symlink_to(FLOWS / "prompts")
    return d


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def errors(flows_dir: Path) -> list[str]:
    return [str(e).removeprefix(str(flows_dir) + "/") for e in validate_paths([], flows_dir)]


def test_default_flows_and_catalogues_are_valid() -> None:
    assert validate_paths([], FLOWS) == []


def test_every_prompt_has_a_small_8khz_mono_wav() -> None:
    import wave

    for p in (FLOWS / "prompts").glob("*.wav"):
        with wave.open(str(p)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2), p
            assert 0.3 < w.getnframes() / 8000 < 25, p


def test_missing_audio_file_is_an_error_at_its_line(flows_copy: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(FLOWS / "prompts", prompts)
    (prompts / "goodbye.wav").unlink()
    errs = [str(e).removeprefix(str(flows_copy) + "/") for e in validate_paths([], flows_copy, prompts)]
    assert errs == [f"prompts.yaml:43:37: prompt 'goodbye': audio file 'goodbye.wav' is missing in {prompts}"]


def test_hotline_registry_errors(flows_copy: Path) -> None:
    h = flows_copy / "hotlines.yaml"
    edit(h, '    transfer_number: "12348"\n', "")
    edit(h, "node: entry_12319", "node: entry_12320")
    edit(h, "skill: market_regulation", "skill: market")
    edit(h, "reentry:\n  survey: survey", "reentry:\n  survey: surveys")
    edit(h, '  - number: "12315"', '  - number: "12333"')
    assert errors(flows_copy) == [
        "hotlines.yaml:14:11: hotline 12319: flow 'main' has no node 'entry_12320'",
        "hotlines.yaml:24:5: hotline 12348 (call_transfer) needs 'transfer_number'",
        "hotlines.yaml:31:13: hotline 12333 is listed twice (first at line 16)",
        "hotlines.yaml:37:12: hotline 12333: unknown skill 'market'",
        "hotlines.yaml:41:11: re-entry 'survey': unknown flow 'surveys'",
    ]


def test_holiday_that_is_also_a_working_day(flows_copy: Path) -> None:
    edit(flows_copy / "holidays.yaml", "  2026-01-04: 元旦调休上班", "  2026-01-03: 元旦调休上班")
    assert errors(flows_copy) == ["holidays.yaml:59:3: 2026-01-03 is both a holiday and a make-up working day"]


def test_bad_opening_hours(flows_copy: Path) -> None:
    edit(flows_copy / "holidays.yaml", '["08:30-17:30"]', '["17:30-08:30"]')
    edit(flows_copy / "holidays.yaml", 'restday: ["00:00-24:00"]', 'restday: ["00:00-24:30"]')
    assert errors(flows_copy) == [
        "holidays.yaml:72:14: schedules.agents.restday: opening hours must look like 08:30-17:30"
        " (00:00-24:00 for all day), got '00:00-24:30'",
        "holidays.yaml:75:14: schedules.enterprise.workday: opening hours '17:30-08:30' end before they start",
    ]


def test_office_hours_are_valid(flows_copy: Path) -> None:
    h = flows_copy / "holidays.yaml"
    h.write_text(office_hours(h.read_text(encoding="utf-8")), encoding="utf-8")
    assert errors(flows_copy) == []


def test_cli_validate_lists_every_error_and_exits_1() -> None:
    broken = Path(__file__).parent / "broken"
    files = [str(broken / "b09_unknown_target.yaml"), str(broken / "b14_duplicate_dtmf.yaml")]
    r = runner.invoke(app, ["validate", *files, "--flows-dir", str(FLOWS)])
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        f"{files[0]}:7:11: node 'a': unknown target 'main_menu'",
        f"{files[1]}:10:15: node 'a': duplicate DTMF key '1' (first used at line 8)",
    ]


def test_cli_validate_ok() -> None:
    r = runner.invoke(app, ["validate", "--flows-dir", str(FLOWS)])
    assert r.exit_code == 0
    assert r.stdout.strip() == "ok"


def test_cli_simulate_prints_the_path(flows_copy: Path) -> None:
    # a centre whose intake seats keep office hours: Saturday 20:00 is after hours
    h = flows_copy / "holidays.yaml"
    h.write_text(office_hours(h.read_text(encoding="utf-8")), encoding="utf-8")
    r = runner.invoke(app, ["simulate", "--dnis", "12345", "--keys", "1,2", "--say", "我要投诉",
                            "--at", "2026-11-21 20:00", "--flows-dir", str(flows_copy)])
    assert r.exit_code == 0, r.stdout
    lines = r.stdout.splitlines()
    assert "path: main.welcome > main.hours_check > main.to_after_hours > after_hours.notice > after_hours.menu" \
           " > after_hours.message > after_hours.mark_message > after_hours.thanks" in lines
    assert lines[-3].startswith("outcome: completed  flow: after_hours")


def test_cli_simulate_speech_and_merged_hotline() -> None:
    r = runner.invoke(app, ["simulate", "--dnis", "12333", "--transfer", "busy", "--at", "2026-11-23 10:00",
                            "--flows-dir", str(FLOWS)])
    assert "path: main.entry_12333 > main.xfer_12333 > main.xfer_failed_12333 > main.q_social" in r.stdout
    r = runner.invoke(app, ["simulate", "--say", "有人晕倒了，快叫救护车", "--at", "2026-11-23 10:00",
                            "--flows-dir", str(FLOWS)])
    assert "outcome: emergency" in r.stdout and "main.em_120" in r.stdout


def test_cli_simulate_bad_time() -> None:
    r = runner.invoke(app, ["simulate", "--at", "tomorrow", "--flows-dir", str(FLOWS)])
    assert r.exit_code == 2


def test_cli_simulate_with_the_shipped_hours_answers_on_saturday_evening() -> None:
    r = runner.invoke(app, ["simulate", "--keys", "1", "--at", "2026-11-21 20:00", "--flows-dir", str(FLOWS)])
    assert r.exit_code == 0, r.stdout
    assert "path: main.welcome > main.hours_check > main.main_menu > main.set_consult > main.q_policy" in r.stdout
