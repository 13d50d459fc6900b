import json

from typer.testing import CliRunner

from router.cli import app


def test_erlang_command_text():
    r = CliRunner().invoke(app, ["erlang", "--calls", "360", "--interval", "30m", "--aht", "240", "--target", "15", "--agents", "55"])
    assert r.exit_code == 0, r.output
    assert "agents needed:" in r.output
    assert "P(wait) 0.2387" in r.output and "ASA 8.18s" in r.output and "SL 84.59%" in r.output


def test_erlang_command_json_erlang_a():
    r = CliRunner().invoke(app, ["erlang", "--calls", "360", "--interval", "30m", "--aht", "4m", "--target", "15s",
                                 "--patience", "3m", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["model"] == "A" and doc["agents_needed"] <= doc["agents_needed_erlang_c"]
    assert doc["at_needed"]["service_level"] >= 0.8


def test_erlang_command_rejects_bad_duration():
    r = CliRunner().invoke(app, ["erlang", "--calls", "360", "--aht", "soon"])
    assert r.exit_code != 0
